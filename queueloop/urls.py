from django.contrib import admin
from django.urls import include, path

from publishing import views as publishing_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("queueloop.api_urls")),
    path("connect/x/", include("accounts.x_urls")),
    path("sandbox/<int:account_id>/", publishing_views.sandbox_timeline, name="sandbox_timeline"),
]

from django.contrib import admin
from django.urls import path

from publishing import views as publishing_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("sandbox/<int:account_id>/", publishing_views.sandbox_timeline, name="sandbox_timeline"),
]

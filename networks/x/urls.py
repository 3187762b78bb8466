"""URLs of the X connect flow (OAuth 2.0 PKCE and pasted OAuth 1.0a keys), under /connect/x/."""

from django.urls import path

from networks.x import views as x_views

urlpatterns = [
    path("start/", x_views.connect_start, name="x_connect_start"),
    path("callback/", x_views.connect_callback, name="x_connect_callback"),
    path("keys/", x_views.connect_keys, name="x_connect_keys"),
]

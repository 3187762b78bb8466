"""URLs of the Instagram connect flow, under /connect/instagram/."""

from django.urls import path

from networks.meta import views

urlpatterns = [
    path("", views.meta_connect, {"network": "instagram"}, name="instagram_connect"),
    path(
        "callback/",
        views.meta_connect_callback,
        {"network": "instagram"},
        name="instagram_connect_callback",
    ),
    path("pick/", views.meta_connect_pick, {"network": "instagram"}, name="instagram_connect_pick"),
]

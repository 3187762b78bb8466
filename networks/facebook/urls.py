"""URLs of the Facebook connect flow, under /connect/facebook/."""

from django.urls import path

from networks.meta import views

urlpatterns = [
    path("", views.meta_connect, {"network": "facebook"}, name="facebook_connect"),
    path(
        "callback/",
        views.meta_connect_callback,
        {"network": "facebook"},
        name="facebook_connect_callback",
    ),
    path("pick/", views.meta_connect_pick, {"network": "facebook"}, name="facebook_connect_pick"),
]

"""URLs of the Bluesky connect flow, under /connect/bluesky/."""

from django.urls import path

from networks.bluesky import views

urlpatterns = [
    path("", views.bluesky_connect, name="bluesky_connect"),
]

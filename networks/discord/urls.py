"""URLs of the Discord connect flow, under /connect/discord/."""

from django.urls import path

from networks.discord import views

urlpatterns = [
    path("", views.discord_connect, name="discord_connect"),
]

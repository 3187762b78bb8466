"""URLs of the Mastodon connect flow, under /connect/mastodon/."""

from django.urls import path

from networks.mastodon import views

urlpatterns = [
    path("", views.mastodon_connect, name="mastodon_connect"),
    path("callback/", views.mastodon_connect_callback, name="mastodon_connect_callback"),
]

"""A channel's pages and its queue. Included by queueloop/urls.py without a namespace."""

from django.urls import path

from channels import views

urlpatterns = [
    path("channels/", views.channel_list, name="channel_list"),
    path("channels/new/", views.channel_create, name="channel_create"),
    path("channels/<int:channel_id>/", views.channel_detail, name="channel_detail"),
    path("channels/<int:channel_id>/settings/", views.channel_settings, name="channel_settings"),
    path("channels/<int:channel_id>/pause/", views.channel_pause, name="channel_pause"),
    path(
        "channels/<int:channel_id>/queue/<int:entry_id>/move/",
        views.queue_move,
        name="queue_move",
    ),
    path(
        "channels/<int:channel_id>/queue/<int:entry_id>/remove/",
        views.queue_remove,
        name="queue_remove",
    ),
    path(
        "channels/<int:channel_id>/queue/<int:entry_id>/stop/",
        views.queue_stop,
        name="queue_stop",
    ),
    path(
        "channels/<int:channel_id>/queue/<int:entry_id>/requeue/",
        views.queue_requeue,
        name="queue_requeue",
    ),
    path(
        "channels/<int:channel_id>/queue/<int:entry_id>/max/",
        views.queue_max,
        name="queue_max",
    ),
]

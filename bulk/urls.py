"""Import, export and feed pages, included from queueloop/urls.py."""

from django.urls import path

from bulk import views

urlpatterns = [
    path("posts/import/", views.import_upload, name="import_upload"),
    path("posts/import/<int:job_id>/", views.import_detail, name="import_detail"),
    path("posts/import/<int:job_id>/progress/", views.import_progress, name="import_progress"),
    path("posts/import/<int:job_id>/status.json", views.import_status, name="import_status"),
    path("posts/import/<int:job_id>/start/", views.import_start, name="import_start"),
    path("posts/import/<int:job_id>/cancel/", views.import_cancel, name="import_cancel"),
    path("posts/import/<int:job_id>/resume/", views.import_resume, name="import_resume"),
    path(
        "channels/<int:channel_id>/export/queue.csv",
        views.channel_export,
        {"kind": "queue"},
        name="channel_export_queue",
    ),
    path(
        "channels/<int:channel_id>/export/history.csv",
        views.channel_export,
        {"kind": "history"},
        name="channel_export_history",
    ),
    path("channels/<int:channel_id>/feeds/", views.channel_feeds, name="channel_feeds"),
    path(
        "channels/<int:channel_id>/feeds/<int:feed_id>/remove/",
        views.feed_remove,
        name="feed_remove",
    ),
    path(
        "channels/<int:channel_id>/feeds/<int:feed_id>/poll/",
        views.feed_poll_now,
        name="feed_poll_now",
    ),
]

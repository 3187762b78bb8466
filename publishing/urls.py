"""The sandbox's timeline, a delivery's problem actions and deleting a channel or a post.
Included by queueloop/urls.py without a namespace."""

from django.urls import path

from publishing import problem_views, removal_views, views
from publishing.stopping import views as stop_views

urlpatterns = [
    path("publishing/", stop_views.publishing_controls, name="publishing_controls"),
    path("publishing/stop/", stop_views.publishing_stop, name="publishing_stop"),
    path("publishing/resume/", stop_views.publishing_resume, name="publishing_resume"),
    path("publishing/blackouts/", stop_views.blackout_add, name="blackout_add"),
    path(
        "publishing/blackouts/<int:blackout_id>/delete/",
        stop_views.blackout_delete,
        name="blackout_delete",
    ),
    path("sandbox/<int:account_id>/", views.sandbox_timeline, name="sandbox_timeline"),
    path("channels/<int:channel_id>/delete/", removal_views.channel_delete, name="channel_delete"),
    path("posts/<int:post_id>/delete/", removal_views.post_delete, name="post_delete"),
    path(
        "deliveries/<int:delivery_id>/retry-now/",
        problem_views.delivery_retry_now,
        name="delivery_retry_now",
    ),
    path(
        "deliveries/<int:delivery_id>/give-up/",
        problem_views.delivery_give_up,
        name="delivery_give_up",
    ),
    path(
        "deliveries/<int:delivery_id>/mark-sent/",
        problem_views.delivery_mark_sent,
        name="delivery_mark_sent",
    ),
    path(
        "deliveries/<int:delivery_id>/mark-failed/",
        problem_views.delivery_mark_failed,
        name="delivery_mark_failed",
    ),
    path(
        "deliveries/<int:delivery_id>/retry/", problem_views.delivery_retry, name="delivery_retry"
    ),
]

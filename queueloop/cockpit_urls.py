"""The cockpit's pages (issues 13 and 14): problems, profile, API tokens, deleting.
Included from queueloop/urls.py with one line."""

from django.urls import path

from accounts import profile_views, token_views
from publishing import problem_views, removal_views

urlpatterns = [
    path("profile/", profile_views.profile, name="profile"),
    path("settings/tokens/", token_views.api_tokens, name="api_tokens"),
    path("settings/tokens/new/", token_views.api_token_create, name="api_token_create"),
    path("settings/tokens/revoke/", token_views.api_token_revoke, name="api_token_revoke"),
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

"""The activity pages (accounts.activity_views); included by queueloop/urls.py."""

from django.urls import path

from accounts import activity_views as views

urlpatterns = [
    path("activity/", views.activity_list, name="activity_list"),
    path("activity/export.csv", views.activity_export, name="activity_export"),
    path("posts/<int:post_id>/activity/", views.post_activity, name="post_activity"),
    path("channels/<int:channel_id>/activity/", views.channel_activity, name="channel_activity"),
]

from django.urls import path

from results import audience_views, report_views, views

urlpatterns = [
    path("posts/<int:post_id>/results/", views.post_results, name="post_results"),
    path("results/", report_views.workspace_results, name="workspace_results"),
    path(
        "channels/<int:channel_id>/results/", report_views.channel_results, name="channel_results"
    ),
]
urlpatterns += [
    path(
        "channels/<int:channel_id>/audience/",
        audience_views.channel_audience,
        name="channel_audience",
    ),
    path(
        "channels/<int:channel_id>/audience/suggest/",
        audience_views.channel_audience_suggest,
        name="channel_audience_suggest",
    ),
]

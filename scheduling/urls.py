"""The dashboard, a channel's schedules, moving and canceling slots, and the calendar.
Included by queueloop/urls.py without a namespace."""

from django.urls import include, path

from scheduling import feed_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("calendar/feeds/", feed_views.calendar_feeds, name="calendar_feeds"),
    path("calendar/feeds/new/", feed_views.calendar_feed_create, name="calendar_feed_create"),
    path(
        "calendar/feeds/<int:feed_id>/revoke/",
        feed_views.calendar_feed_revoke,
        name="calendar_feed_revoke",
    ),
    # The feed itself: its token is the only credential (scheduling/feeds.py).
    path("feeds/<str:token>.ics", feed_views.calendar_feed, name="calendar_feed"),
    path("calendar/", include("scheduling.calendar_urls")),
    path(
        "channels/<int:channel_id>/schedules/new/",
        views.schedule_create,
        name="schedule_create",
    ),
    path(
        "channels/<int:channel_id>/schedules/preview/",
        views.schedule_preview,
        name="schedule_preview",
    ),
    path(
        "channels/<int:channel_id>/schedules/changes/",
        views.schedule_changes_new,
        name="schedule_changes_new",
    ),
    path("schedules/<int:schedule_id>/", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:schedule_id>/changes/", views.schedule_changes, name="schedule_changes"),
    path("schedules/<int:schedule_id>/toggle/", views.schedule_toggle, name="schedule_toggle"),
    path("slots/<int:timeslot_id>/move/", views.timeslot_move, name="timeslot_move"),
    path("slots/<int:timeslot_id>/cancel/", views.timeslot_cancel, name="timeslot_cancel"),
]

"""The calendar's routes, included once from queueloop/urls.py under calendar/."""

from django.urls import path, re_path

from scheduling import calendar_views

# A slot key: "t<timeslot id>" or "p<schedule id>-<unix seconds>" (scheduling/calendar_grid.py).
KEY = r"(?P<key>t\d{1,18}|p\d{1,18}-\d{1,12})"

urlpatterns = [
    path("", calendar_views.calendar, name="calendar"),
    re_path(rf"^slots/{KEY}/$", calendar_views.calendar_slot, name="calendar_slot"),
    re_path(rf"^slots/{KEY}/move/$", calendar_views.calendar_slot_move, name="calendar_slot_move"),
    re_path(
        rf"^slots/{KEY}/cancel/$", calendar_views.calendar_slot_cancel, name="calendar_slot_cancel"
    ),
    re_path(rf"^slots/{KEY}/post/$", calendar_views.calendar_slot_post, name="calendar_slot_post"),
]

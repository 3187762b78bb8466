"""The calendar's routes, included once from scheduling/urls.py under calendar/."""

from django.urls import path, register_converter

from scheduling import calendar_views


class SlotKeyConverter:
    """A slot key: "t<timeslot id>" or "p<schedule id>-<unix seconds>"
    (scheduling/calendar_grid.py)."""

    regex = r"t\d{1,18}|p\d{1,18}-\d{1,12}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SlotKeyConverter, "slotkey")

urlpatterns = [
    path("", calendar_views.calendar, name="calendar"),
    path("slots/<slotkey:key>/", calendar_views.calendar_slot, name="calendar_slot"),
    path("slots/<slotkey:key>/move/", calendar_views.calendar_slot_move, name="calendar_slot_move"),
    path(
        "slots/<slotkey:key>/cancel/",
        calendar_views.calendar_slot_cancel,
        name="calendar_slot_cancel",
    ),
    path("slots/<slotkey:key>/post/", calendar_views.calendar_slot_post, name="calendar_slot_post"),
]

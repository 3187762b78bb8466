"""The schedule editor (a simple rule builder plus raw RFC 5545 text) and slot moves.

The simple editor builds RRULE text; the advanced one takes it as typed. Both end in
scheduling.rules.parse, so whatever is saved is exactly what the planner will expand.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import recurrence
from django import forms
from django.core.exceptions import ValidationError

from ground import timebounds
from posts.models import Post
from scheduling import rules, spacing
from scheduling.models import Schedule
from scheduling.rules import localize

DAYS = [
    ("MO", "Mon"),
    ("TU", "Tue"),
    ("WE", "Wed"),
    ("TH", "Thu"),
    ("FR", "Fri"),
    ("SA", "Sat"),
    ("SU", "Sun"),
]
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR"]
_DAY_CODES = [code for code, _ in DAYS]
_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?$")

FREQUENCIES = [
    ("daily", "Every day"),
    ("weekdays", "Weekdays (Mon-Fri)"),
    ("weekly", "On chosen days"),
    ("minutes", "Every N minutes"),
    ("hours", "Every N hours"),
    ("advanced", "Advanced (RFC 5545 text)"),
]


def parse_times(text: str) -> list[tuple[int, int]]:
    """ "09:00, 14:30" → [(9, 0), (14, 30)], sorted, without repeats."""
    times = set()
    for part in re.split(r"[,\s;]+", text.strip()):
        if not part:
            continue
        match = _TIME.match(part)
        hour, minute = (int(match.group(1)), int(match.group(2) or 0)) if match else (99, 99)
        if hour > 23 or minute > 59:
            raise ValidationError(f"“{part}” is not a time: use 24-hour HH:MM, e.g. 09:00, 14:30.")
        times.add((hour, minute))
    if not times:
        raise ValidationError("Enter at least one time, e.g. 09:00, 14:30.")
    return sorted(times)


def build_rule_text(
    *, frequency: str, times: str = "", days: list[str] | None = None, interval: int | None = None
) -> str:
    """The RRULE lines for the simple editor's choices (one line per distinct minute).

    BYHOUR x BYMINUTE is a cross product, so "09:00, 14:30" needs two rules:
    BYHOUR=9;BYMINUTE=0 and BYHOUR=14;BYMINUTE=30.
    """
    if frequency in ("minutes", "hours"):
        if not interval or interval < 1:
            raise ValidationError("Enter how many minutes or hours apart, e.g. 30.")
        if frequency == "minutes":
            return f"RRULE:FREQ=MINUTELY;INTERVAL={interval}"
        minute = parse_times(times)[0][1] if times.strip() else 0
        return f"RRULE:FREQ=HOURLY;INTERVAL={interval};BYMINUTE={minute}"
    if frequency == "daily":
        head = "RRULE:FREQ=DAILY"
    elif frequency == "weekdays":
        head = "RRULE:FREQ=WEEKLY;BYDAY=" + ",".join(WEEKDAYS)
    elif frequency == "weekly":
        chosen = [d for d in _DAY_CODES if d in (days or [])]
        if not chosen:
            raise ValidationError("Tick at least one day.")
        head = "RRULE:FREQ=WEEKLY;BYDAY=" + ",".join(chosen)
    else:
        raise ValidationError("Choose how often.")
    by_minute: dict[int, list[int]] = {}
    for hour, minute in parse_times(times):
        by_minute.setdefault(minute, []).append(hour)
    return "\n".join(
        f"{head};BYHOUR={','.join(str(h) for h in hours)};BYMINUTE={minute}"
        for minute, hours in sorted(by_minute.items(), key=lambda kv: (kv[1][0], kv[0]))
    )


def simple_from_recurrence(value: recurrence.Recurrence) -> dict | None:
    """The simple editor's fields for a rule it could have built, else None (advanced)."""
    if value.exrules or value.rdates or value.exdates or not value.rrules:
        return None
    heads, times = set(), []
    for rule in value.rrules:
        if rule.count or rule.until or rule.bysetpos or rule.bymonth or rule.bymonthday:
            return None
        if rule.byyearday or rule.byweekno or rule.bysecond or rule.wkst is not None:
            return None
        days = tuple(_DAY_CODES[d.weekday] for d in rule.byday if d.n is None)
        if len(days) != len(rule.byday):
            return None
        if rule.freq in (recurrence.MINUTELY, recurrence.HOURLY):
            if len(value.rrules) != 1 or days or rule.byhour:
                return None
            if rule.freq == recurrence.MINUTELY and not rule.byminute:
                return {"frequency": "minutes", "interval": rule.interval or 1}
            if rule.freq == recurrence.HOURLY and len(rule.byminute) <= 1:
                minute = rule.byminute[0] if rule.byminute else 0
                return {
                    "frequency": "hours",
                    "interval": rule.interval or 1,
                    "times": f"00:{minute:02d}",
                }
            return None
        if (rule.interval or 1) != 1 or not rule.byhour or len(rule.byminute) > 1:
            return None
        if rule.freq == recurrence.DAILY and not days:
            head = ("daily", ())
        elif rule.freq == recurrence.WEEKLY and days:
            head = ("weekdays", ()) if list(days) == WEEKDAYS else ("weekly", days)
        else:
            return None
        heads.add(head)
        minute = rule.byminute[0] if rule.byminute else 0
        times += [(h, minute) for h in rule.byhour]
    if len(heads) != 1:
        return None
    frequency, days = heads.pop()
    return {
        "frequency": frequency,
        "days": list(days),
        "times": ", ".join(f"{h:02d}:{m:02d}" for h, m in sorted(set(times))),
    }


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=100, initial="Main schedule")
    frequency = forms.ChoiceField(choices=FREQUENCIES, initial="weekdays", widget=forms.RadioSelect)
    times = forms.CharField(
        required=False,
        initial="09:00",
        help_text="24-hour times, comma-separated: 09:00, 14:30",
        widget=forms.TextInput(attrs={"placeholder": "09:00, 14:30"}),
    )
    days = forms.MultipleChoiceField(
        choices=DAYS, required=False, widget=forms.CheckboxSelectMultiple
    )
    interval = forms.IntegerField(min_value=1, max_value=10_000, required=False, label="Every")
    advanced = forms.CharField(
        required=False,
        label="Rules (RFC 5545)",
        # No max_length here: rules.parse is the one home of the text's limit (and says it
        # as the API does); maxlength only spares a browser user the round trip.
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0",
                "maxlength": rules.MAX_TEXT_LENGTH,
            }
        ),
        help_text="One RRULE, EXRULE, RDATE or EXDATE per line, in the channel's time zone.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    @classmethod
    def for_schedule(cls, schedule: Schedule) -> ScheduleForm:
        text = recurrence.serialize(schedule.recurrence)
        initial = {"name": schedule.name, "is_active": schedule.is_active, "advanced": text}
        initial.update(simple_from_recurrence(schedule.recurrence) or {"frequency": "advanced"})
        return cls(initial=initial)

    def clean(self) -> dict:
        data = super().clean()
        frequency = data.get("frequency")
        if frequency is None:
            return data
        try:
            if frequency == "advanced":
                text = data.get("advanced", "")
            else:
                text = build_rule_text(
                    frequency=frequency,
                    times=data.get("times", ""),
                    days=data.get("days"),
                    interval=data.get("interval"),
                )
            data["recurrence"] = rules.parse(text)
            data["rule_text"] = text.strip()
        except ValidationError as exc:
            field = "advanced" if frequency == "advanced" else None
            if frequency in ("minutes", "hours") and not data.get("interval"):
                field = "interval"
            self.add_error(field, exc)
        return data

    @property
    def channel_limits(self) -> str:
        return spacing.describe_limits()

    def describe(self) -> str:
        value = self.cleaned_data.get("recurrence") if hasattr(self, "cleaned_data") else None
        return rules.describe(value) if value else ""

    def apply(self, schedule: Schedule) -> Schedule:
        schedule.name = self.cleaned_data["name"]
        schedule.is_active = self.cleaned_data["is_active"]
        schedule.recurrence = self.cleaned_data["recurrence"]
        return schedule


class TimeslotMoveForm(forms.Form):
    publish_at = forms.DateTimeField(
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="New time",
        validators=[timebounds.validate_wall_time],
    )

    def __init__(self, *args, tz: zoneinfo.ZoneInfo, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = tz

    def clean_publish_at(self) -> dt.datetime:
        value = self.cleaned_data["publish_at"]
        # USE_TZ makes the field attach the current zone (UTC): read it back as wall time.
        return localize(value.replace(tzinfo=None), self.tz)


class SlotPostForm(forms.Form):
    """The post a calendar slot publishes: a pinned post, or (empty) the queue's next one."""

    post = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="The queue's next post",
        label="Post",
    )

    # The list is a select, so it shows the newest posts only; older ones are pinned from
    # their own page.
    CHOICES = 200

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        newest = (
            Post.objects.filter(workspace=workspace)
            .exclude(status=Post.Status.ARCHIVED)
            .order_by("-created_at", "-id")
            .values_list("id", flat=True)[: self.CHOICES]
        )
        self.fields["post"].queryset = Post.objects.filter(id__in=list(newest)).order_by(
            "-created_at", "-id"
        )
        self.fields["post"].label_from_instance = lambda p: p.text[:80]

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.admin_mixins import (
    ScopedRelatedFilter,
    SuperuserOnlyAdmin,
    WorkspaceScopedAdmin,
    admin_link,
    changelist_link,
    count_subquery,
    truncate,
)
from ground import timebounds
from scheduling import rules, services, spacing
from scheduling.models import PlannerState, Schedule, Timeslot

MAX_LISTED = 20


def _listed(items: list[str]) -> str:
    more = len(items) - MAX_LISTED
    return ", ".join(items[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


# --- Schedules ---------------------------------------------------------------------------


class ScheduleAdminForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ("channel", "name", "recurrence", "starts_on", "is_active")

    def clean_recurrence(self):
        value = self.cleaned_data["recurrence"]
        rules.validate(value)  # the same rules as the app: ValidationError shows on the field
        return value

    def clean(self):
        data = super().clean()
        if self.errors or not data.get("channel"):
            return data
        # The channel's bound, as schedule_save checks it: shown on the form, never a 500.
        schedule = Schedule(
            pk=self.instance.pk,
            channel=data["channel"],
            name=data.get("name", ""),
            recurrence=data["recurrence"],
            starts_on=data.get("starts_on") or rules.DEFAULT_STARTS_ON,
            is_active=data.get("is_active", False),
        )
        now = timezone.now()
        rules.validate(
            schedule.recurrence, starts_on=schedule.starts_on, now=now, tz=schedule.channel.tz
        )
        spacing.schedule_check(schedule=schedule, now=now)
        return data


@admin.register(Schedule)
class ScheduleAdmin(WorkspaceScopedAdmin):
    form = ScheduleAdminForm
    list_display = (
        "name",
        "channel_link",
        "rules_text",
        "starts_on",
        "is_active",
        "upcoming",
        "updated_at",
    )
    list_filter = ("is_active", ("channel", ScopedRelatedFilter))
    search_fields = ("name", "channel__name", "channel__slug")
    list_select_related = ("channel",)
    autocomplete_fields = ("channel",)
    readonly_fields = ("created_at", "updated_at")
    actions = ("activate_selected", "deactivate_selected")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_upcoming=count_subquery(Timeslot, "schedule", status=Timeslot.Status.SCHEDULED)
            )
        )

    def save_model(self, request, obj, form, change):
        # Through the service: saving plans and reconciles the schedule's window at once.
        services.schedule_save(schedule=obj)

    @admin.display(description="channel", ordering="channel__name")
    def channel_link(self, obj):
        return admin_link(obj.channel)

    @admin.display(description="rules")
    def rules_text(self, obj):
        return rules.describe(obj.recurrence) if obj.recurrence else "-"

    @admin.display(description="scheduled slots", ordering="n_upcoming")
    def upcoming(self, obj):
        return changelist_link(
            Timeslot, obj.n_upcoming, schedule__id__exact=obj.pk, status__exact="scheduled"
        )

    def _set_active(self, request, queryset, active: bool) -> None:
        changed = []
        for schedule in self.writable(request, queryset).filter(is_active=not active):
            schedule.is_active = active
            try:
                services.schedule_save(schedule=schedule)
            except ValidationError as exc:
                self.message_user(
                    request, f"{schedule.name}: {' '.join(exc.messages)}", messages.ERROR
                )
                continue
            changed.append(schedule.name)
        verb = "turned on" if active else "turned off"
        if changed:
            self.message_user(request, f"{len(changed)} schedule(s) {verb}: {_listed(changed)}.")
        else:
            self.message_user(request, f"No schedule was {verb}.", messages.WARNING)

    @admin.action(description="Turn on selected schedules (plan their slots now)")
    def activate_selected(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description="Turn off selected schedules (cancel their upcoming slots)")
    def deactivate_selected(self, request, queryset):
        self._set_active(request, queryset, False)


# --- Timeslots ---------------------------------------------------------------------------


class TimeslotAdminForm(forms.ModelForm):
    """Only a scheduled slot's time can change, and only through timeslot_reschedule."""

    class Meta:
        model = Timeslot
        fields = ("publish_at",)

    def clean_publish_at(self):
        value = self.cleaned_data["publish_at"]
        if "publish_at" not in self.changed_data:
            return value
        if value < timezone.now() - dt.timedelta(minutes=1):
            raise ValidationError("That time is in the past: pick a time from now on.")
        timebounds.validate_moment(value)
        slot = self.instance
        if (
            slot.schedule_id
            and Timeslot.objects.filter(schedule_id=slot.schedule_id, publish_at=value)
            .exclude(pk=slot.pk)
            .exclude(status=Timeslot.Status.CANCELED)
            .exists()
        ):
            raise ValidationError("This schedule already has a slot at that time.")
        spacing.timeslot_check(
            channel=slot.channel, publish_at=value, now=timezone.now(), moving=slot
        )
        return value


@admin.register(Timeslot)
class TimeslotAdmin(WorkspaceScopedAdmin):
    form = TimeslotAdminForm
    list_display = (
        "id",
        "publish_at",
        "channel_link",
        "source",
        "status",
        "post_link",
        "deliveries",
        "enqueued_at",
        "detached",
        "reason_short",
    )
    list_display_links = ("id", "publish_at")
    list_filter = ("status", "reason_code", "detached", ("channel", ScopedRelatedFilter))
    search_fields = (
        "channel__name",
        "channel__slug",
        "schedule__name",
        "post__text",
        "published_text",
        "reason",
    )
    list_select_related = ("channel", "schedule", "post", "published_post")
    date_hierarchy = "publish_at"
    ordering = ("-publish_at", "-id")
    actions = ("cancel_selected", "requeue_selected")
    readonly_fields = (
        "channel",
        "schedule",
        "post",
        "planned_for",
        "status",
        "token",
        "published_post",
        "published_text",
        "enqueued_at",
        "published_at",
        "detached",
        "reason_code",
        "reason",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request):
        from publishing.models import Delivery

        return (
            super()
            .get_queryset(request)
            .annotate(n_deliveries=count_subquery(Delivery, "timeslot"))
        )

    def get_fields(self, request, obj=None):
        return ["publish_at", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Timeslot.Status.SCHEDULED:
            return ("publish_at", *self.readonly_fields)
        return self.readonly_fields

    def has_add_permission(self, request):
        # Slots come from schedules (the planner) or from pinning a post in the app.
        return False

    def save_model(self, request, obj, form, change):
        # Never obj.save(): moving a slot must rotate its token and enqueue a new message.
        if "publish_at" not in form.changed_data:
            return
        try:
            services.timeslot_reschedule(timeslot=obj, publish_at=obj.publish_at)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)

    @admin.display(description="channel", ordering="channel__name")
    def channel_link(self, obj):
        return admin_link(obj.channel)

    @admin.display(description="from")
    def source(self, obj):
        if obj.schedule_id is None:
            return "pinned post"
        return admin_link(obj.schedule, obj.schedule.name)

    @admin.display(description="post")
    def post_link(self, obj):
        post = obj.published_post or obj.post
        if post is None:
            return "next in queue" if obj.status == Timeslot.Status.SCHEDULED else "-"
        return admin_link(post, truncate(post.text, 50))

    @admin.display(description="deliveries", ordering="n_deliveries")
    def deliveries(self, obj):
        from publishing.models import Delivery

        if not obj.n_deliveries:
            return 0
        return changelist_link(Delivery, obj.n_deliveries, timeslot__id__exact=obj.pk)

    @admin.display(description="reason")
    def reason_short(self, obj):
        return truncate(obj.reason, 60) or "-"

    def _report(self, request, verb: str, done: list[Timeslot], others: list[Timeslot]) -> None:
        if done:
            self.message_user(request, f"{verb} {len(done)} timeslot(s).", messages.SUCCESS)
        if others:
            described = [f"#{t.pk} ({t.get_status_display().lower()})" for t in others]
            self.message_user(
                request,
                f"{len(others)} timeslot(s) could not be {verb.lower()}: only scheduled slots "
                f"can be. {_listed(described)}.",
                messages.WARNING,
            )

    @admin.action(description="Cancel selected timeslots")
    def cancel_selected(self, request, queryset):
        selected = list(queryset.select_related(None).order_by("id"))
        writable = set(self.writable(request, queryset).values_list("pk", flat=True))
        done, others = [], []
        for slot in selected:
            if slot.pk not in writable or slot.status != Timeslot.Status.SCHEDULED:
                others.append(slot)
                continue
            try:
                services.timeslot_cancel(timeslot=slot)
            except ValidationError:
                # It started publishing (or finished) between the list and the click.
                slot.refresh_from_db(fields=["status"])
                others.append(slot)
            else:
                done.append(slot)
        self._report(request, "Canceled", done, others)

    @admin.action(description="Requeue selected timeslots (new token, fresh message)")
    def requeue_selected(self, request, queryset):
        selected = list(queryset.select_related(None).order_by("id"))
        done = services.timeslots_requeue(timeslots=self.writable(request, queryset))
        done_ids = {t.pk for t in done}
        others = [t for t in selected if t.pk not in done_ids]
        self._report(request, "Requeued", done, others)


# --- Planner state -----------------------------------------------------------------------


@admin.register(PlannerState)
class PlannerStateAdmin(SuperuserOnlyAdmin):
    """The planner's watermark. Moving `planned_until` back makes the next run re-plan."""

    list_display = ("key", "planned_until", "last_run_at", "last_run_created")
    readonly_fields = ("key", "last_run_at", "last_run_created")

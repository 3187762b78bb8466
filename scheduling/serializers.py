"""API representations of schedules (rules as RFC 5545 text) and timeslots."""

from __future__ import annotations

import recurrence
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_scoping import roles_for
from channels.models import Channel
from channels.serializers import ChannelSummarySerializer
from ground.rest import AwareDateTimeField, FormBooleanField
from scheduling import rules
from scheduling.models import Schedule, Timeslot
from scheduling.reasons import Reason

RULE_HELP = (
    "RFC 5545 rule lines (RRULE/EXRULE/RDATE/EXDATE), one per line, in the channel's wall-clock "
    "time, e.g. RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=14;BYMINUTE=0"
)


@extend_schema_field(OpenApiTypes.STR)
class RuleField(serializers.Field):
    """A recurrence as RFC 5545 text, validated with scheduling.rules.parse."""

    def to_representation(self, value) -> str:
        return recurrence.serialize(value) if value else ""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Enter the rules as text.")
        try:
            # The text's limits (length, lines) live in rules.parse, as for the web form.
            return rules.parse(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


@extend_schema_field(OpenApiTypes.INT)
class MemberChannelField(serializers.PrimaryKeyRelatedField):
    """A channel id, only among the channels of the user's workspaces."""

    default_error_messages = {"does_not_exist": "Unknown channel: {pk_value}."}

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Channel.objects.none()
        return Channel.objects.filter(workspace_id__in=list(roles_for(request)))


class ScheduleSerializer(serializers.ModelSerializer):
    channel = MemberChannelField(help_text="Channel id (cannot change after creation).")
    rule = RuleField(source="recurrence", help_text=RULE_HELP)
    description = serializers.SerializerMethodField(help_text="The rules in words.")
    is_active = FormBooleanField(default=True)

    class Meta:
        model = Schedule
        fields = [
            "id",
            "channel",
            "name",
            "rule",
            "description",
            "starts_on",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            # A schedule stays on its channel; make a new one elsewhere instead.
            self.fields["channel"].read_only = True

    def validate(self, attrs):
        attrs = super().validate(attrs)
        # The rule once more with the schedule's own start and zone (COUNT counts from
        # starts_on), so a rule that has ended is reported on `rule`, like its other faults.
        value = attrs.get("recurrence", getattr(self.instance, "recurrence", None))
        channel = attrs.get("channel") or getattr(self.instance, "channel", None)
        starts_on = attrs.get("starts_on") or getattr(self.instance, "starts_on", None)
        if value and channel is not None:
            try:
                rules.validate(value, starts_on=starts_on or rules.DEFAULT_STARTS_ON, tz=channel.tz)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"rule": exc.messages}) from None
        return attrs

    def get_description(self, obj: Schedule) -> str:
        return rules.describe(obj.recurrence)


def reason_code_field() -> serializers.ChoiceField:
    """A slot's reason code, empty when it has none (the text is `reason`)."""
    return serializers.ChoiceField(
        choices=Reason.choices,
        allow_blank=True,
        read_only=True,
        help_text="Why it was skipped, failed, missed or canceled, as a stable code; "
        "empty when it has no reason. `reason` says it in words.",
    )


class TimeslotSerializer(serializers.ModelSerializer):
    channel = ChannelSummarySerializer(read_only=True)
    publish_at_local = serializers.SerializerMethodField(
        help_text="publish_at in the channel's time zone."
    )
    is_pinned = serializers.BooleanField(read_only=True)
    reason_code = reason_code_field()

    class Meta:
        model = Timeslot
        fields = [
            "id",
            "channel",
            "schedule",
            "post",
            "is_pinned",
            "publish_at",
            "publish_at_local",
            "status",
            "reason_code",
            "reason",
            "detached",
            "published_post",
            "published_text",
            "published_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_publish_at_local(self, obj: Timeslot) -> str:
        return timezone.localtime(obj.publish_at, obj.channel.tz).isoformat()


class TimeslotRescheduleSerializer(serializers.Serializer):
    publish_at = AwareDateTimeField(help_text="The new time, ISO 8601 with offset.")


# --- Rule preview, a slot's post, the calendar (scheduling.api) ---------------------------


class RulePreviewSerializer(serializers.Serializer):
    channel = MemberChannelField(help_text="Channel id: the rule runs in its time zone.")
    rule = RuleField(help_text=RULE_HELP)
    count = serializers.IntegerField(
        min_value=1,
        max_value=rules.PREVIEW_MAX,
        default=6,
        help_text=f"How many coming times (1 to {rules.PREVIEW_MAX}, within 60 days).",
    )


class OccurrenceSerializer(serializers.Serializer):
    publish_at = serializers.DateTimeField()
    publish_at_local = serializers.CharField(help_text="In the channel's time zone.")


class RulePreviewResultSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="The rule as stored (RFC 5545 lines).")
    description = serializers.CharField(help_text="The rule in words.")
    timezone = serializers.CharField()
    occurrences = OccurrenceSerializer(many=True)


class TimeslotPostSerializer(serializers.Serializer):
    post = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        allow_null=True,
        help_text="Pin this post (id) to the slot; null gives a schedule's slot back to the "
        "queue's next post.",
    )


class CalendarSlotSerializer(serializers.Serializer):
    """A slot of the calendar: a planned timeslot, or a rule occurrence not planned yet."""

    key = serializers.CharField(
        help_text="t<timeslot id>, or p<schedule id>-<unix seconds> for a projected one."
    )
    status = serializers.CharField(help_text="A timeslot status, or `projected`.")
    projected = serializers.BooleanField()
    timeslot = serializers.IntegerField(allow_null=True)
    schedule = serializers.IntegerField(allow_null=True)
    channel = ChannelSummarySerializer()
    publish_at = serializers.DateTimeField()
    publish_at_local = serializers.CharField(help_text="In the channel's time zone.")
    post = serializers.IntegerField(
        allow_null=True, help_text="The post it published or (predicted) will take."
    )
    text = serializers.CharField(allow_blank=True)
    pinned = serializers.BooleanField()
    problem_code = serializers.CharField(allow_blank=True)
    problem = serializers.CharField(allow_blank=True)


class CalendarPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CalendarSlotSerializer(many=True)


class PreviewSlotSerializer(serializers.Serializer):
    """One slot of a schedule-edit preview: a row's id (null for one that would be
    created), its time and, for a skipped one, why."""

    id = serializers.IntegerField(allow_null=True)
    publish_at = serializers.DateTimeField()
    planned_for = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()


class SchedulePreviewSerializer(serializers.Serializer):
    """What saving the posted schedule would do: computed by the save's own reconciliation
    (scheduling/preview.py), nothing saved."""

    planned_until = serializers.DateTimeField(help_text="End of the planned window compared.")
    canceled = PreviewSlotSerializer(many=True)
    created = PreviewSlotSerializer(many=True)
    skipped = PreviewSlotSerializer(many=True, help_text="Would be created skipped (bound).")
    revived = PreviewSlotSerializer(many=True)
    moved = PreviewSlotSerializer(many=True, help_text="Moved by a user: left alone.")
    pinned = PreviewSlotSerializer(many=True, help_text="The channel's pins: left alone.")
    later_added = serializers.ListField(child=serializers.DateTimeField())
    later_removed = serializers.ListField(child=serializers.DateTimeField())
    later_added_count = serializers.IntegerField()
    later_removed_count = serializers.IntegerField()


class SlotWarningSerializer(serializers.Serializer):
    """A problem ahead (scheduling/lint.py): the exact slot it is about and what fixes it."""

    check = serializers.CharField(help_text="too_long, queue_dry, over_cap, duplicate, "
                                  "reconnect or awaits_approval.")  # fmt: skip
    channel = serializers.IntegerField(source="channel.id")
    channel_name = serializers.CharField(source="channel.name")
    publish_at = serializers.DateTimeField()
    timeslot = serializers.IntegerField(
        source="timeslot_id",
        allow_null=True,
        help_text="Null: projected from a rule, not planned yet.",
    )
    post = serializers.IntegerField(source="post.id", allow_null=True, default=None)
    problem = serializers.CharField()
    fix = serializers.CharField()

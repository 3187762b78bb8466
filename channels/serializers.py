"""API representation of channels; only name, time zone and pause are editable here."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.serializers import SocialAccountSummarySerializer
from channels.models import NAME_TAKEN, Channel, QueueEntry, channel_name_taken, validate_timezone
from ground.rest import FormBooleanField, StringListField

MAX_ACCOUNTS = 100
MAX_QUEUE_ORDER = 10_000


class ChannelSummarySerializer(serializers.ModelSerializer):
    """A channel as other resources show it."""

    class Meta:
        model = Channel
        fields = ["id", "slug", "name", "timezone"]
        read_only_fields = fields


# A channel's UTM templates for its short links ({network}, {channel}, {post}; links/).
UTM_FIELDS = ["utm_source", "utm_medium", "utm_campaign", "utm_content"]


class ChannelSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    accounts = SocialAccountSummarySerializer(many=True, read_only=True)
    is_paused = FormBooleanField(required=False)
    queue_size = serializers.IntegerField(
        read_only=True, help_text="Active entries in the channel's queue."
    )

    class Meta:
        model = Channel
        fields = [
            "id",
            "workspace",
            "name",
            "slug",
            "timezone",
            "is_paused",
            "mode",
            "accounts",
            "queue_size",
            "count_clicks",
            *UTM_FIELDS,
            "created_at",
        ]
        read_only_fields = ["id", "workspace", "slug", "mode", "created_at"]

    def validate_name(self, value: str) -> str:
        # The constraint on Lower(name) would refuse it too, but as a message on no field.
        name = value.strip()
        if not name:
            raise serializers.ValidationError("A channel needs a name.")
        channel = self.instance
        if channel is not None and channel_name_taken(
            workspace_id=channel.workspace_id, name=name, exclude_id=channel.pk
        ):
            raise serializers.ValidationError(NAME_TAKEN)
        return name


class ChannelWriteSerializer(serializers.Serializer):
    """Create (name and time zone needed) or edit a channel, as the web UI's channel form
    does: the same checks, saved by the same service (scheduling.services.channel_save)."""

    workspace = serializers.SlugField(
        required=False,
        max_length=100,
        help_text="Workspace slug (create only); needed when you belong to several.",
    )
    name = serializers.CharField(
        max_length=100, error_messages={"blank": "A channel needs a name."}
    )
    timezone = serializers.CharField(
        max_length=64, help_text="IANA zone name (Europe/Paris): schedules run in it."
    )
    mode = serializers.ChoiceField(choices=Channel.Mode.choices, required=False)
    is_paused = FormBooleanField(required=False)
    accounts = StringListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=MAX_ACCOUNTS,
        help_text="Ids of the workspace's social accounts to publish to (replaces the list).",
    )
    count_clicks = FormBooleanField(
        required=False, help_text="Links become short links on this site that count clicks."
    )
    utm_source = serializers.CharField(max_length=100, allow_blank=True, required=False)
    utm_medium = serializers.CharField(max_length=100, allow_blank=True, required=False)
    utm_campaign = serializers.CharField(max_length=100, allow_blank=True, required=False)
    utm_content = serializers.CharField(max_length=100, allow_blank=True, required=False)

    def validate_name(self, value: str) -> str:
        name = value.strip()
        if not name:
            raise serializers.ValidationError("A channel needs a name.")
        return name

    def validate_timezone(self, value: str) -> str:
        try:
            validate_timezone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class QueueEntrySerializer(serializers.ModelSerializer):
    post_text = serializers.CharField(source="post.text", read_only=True)
    post_status = serializers.CharField(source="post.status", read_only=True)

    class Meta:
        model = QueueEntry
        fields = [
            "id",
            "post",
            "post_text",
            "post_status",
            "position",
            "is_active",
            "times_published",
            "last_published_at",
            "max_publications",
        ]
        read_only_fields = fields


class QueueOrderSerializer(serializers.Serializer):
    posts = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=MAX_QUEUE_ORDER,
        help_text="Post ids to put first in the active queue, in this order; the others keep "
        "their order after them. The answer is the whole active queue's order.",
    )


class QueueEntryUpdateSerializer(serializers.Serializer):
    max_publications = serializers.IntegerField(
        min_value=1,
        max_value=10_000,
        required=False,
        allow_null=True,
        help_text="Publish the post at most this often in this channel (null: forever).",
    )
    is_active = serializers.BooleanField(
        required=False, help_text="true puts a spent entry back in rotation (its place kept)."
    )

    def validate_is_active(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError(
                "To take a post out of the queue, DELETE its entry; to stop it for a while, "
                "archive the post."
            )
        return value


class QueuePageSerializer(serializers.Serializer):
    """One page of a queue (the API's page-number pages, as every other list)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = QueueEntrySerializer(many=True)

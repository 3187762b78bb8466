"""API representation of channels; only name, time zone and pause are editable here."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import SocialAccountSummarySerializer
from channels.models import NAME_TAKEN, Channel, channel_name_taken
from ground.rest import FormBooleanField


class ChannelSummarySerializer(serializers.ModelSerializer):
    """A channel as other resources show it."""

    class Meta:
        model = Channel
        fields = ["id", "slug", "name", "timezone"]
        read_only_fields = fields


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

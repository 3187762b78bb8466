"""API representation of channels; only name, time zone and pause are editable here."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import SocialAccountSummarySerializer
from channels.models import Channel
from queueloop.api_common import FormBooleanField


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

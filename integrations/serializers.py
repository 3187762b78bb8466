"""The API's shapes for endpoints and their attempts (integrations.api)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import EventType
from integrations.models import Attempt, Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugField(
        help_text="The workspace's slug (you must be one of its owners). Set on create only."
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        help_text="The event types to send; empty: every type.",
    )
    secret = serializers.CharField(
        read_only=True,
        help_text="The Standard Webhooks signing secret (whsec_ + base64): verify each "
        "request's webhook-signature with it.",
    )

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "workspace",
            "url",
            "description",
            "event_types",
            "is_active",
            "secret",
            "created_at",
        ]
        read_only_fields = ["id", "secret", "created_at"]
        extra_kwargs = {"url": {"help_text": "Where events are POSTed (a public address)."}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["workspace"] = instance.workspace.slug
        return data


class AttemptSerializer(serializers.ModelSerializer):
    delivery = serializers.IntegerField(source="delivery_id", read_only=True)
    event_id = serializers.CharField(source="delivery.event.event_id", read_only=True)
    event_type = serializers.CharField(source="delivery.event.type", read_only=True)
    delivery_status = serializers.CharField(source="delivery.status", read_only=True)

    class Meta:
        model = Attempt
        fields = [
            "id",
            "delivery",
            "event_id",
            "event_type",
            "delivery_status",
            "at",
            "status_code",
            "excerpt",
            "duration_ms",
        ]
        read_only_fields = fields


class ResendSerializer(serializers.Serializer):
    delivery = serializers.IntegerField(
        min_value=1, help_text="The delivery's id (an attempt's `delivery`)."
    )

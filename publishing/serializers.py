"""API representation of deliveries (one timeslot's publication to one account)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import SocialAccountSummarySerializer
from publishing.models import Delivery


class ThreadPartSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True, help_text="The part's id on the network.")
    url = serializers.CharField(read_only=True, allow_blank=True)


class DeliverySerializer(serializers.ModelSerializer):
    url = serializers.URLField(read_only=True, allow_null=True)
    thread_sent = ThreadPartSerializer(
        many=True,
        read_only=True,
        help_text="A thread's parts already posted, in order (empty for a single post).",
    )
    account = SocialAccountSummarySerializer(read_only=True)
    channel = serializers.IntegerField(
        source="timeslot.channel_id", read_only=True, help_text="Channel id."
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "timeslot",
            "channel",
            "account",
            "post",
            "text",
            "thread_parts",
            "thread_sent",
            "status",
            "external_id",
            "url",
            "attempts",
            "last_error",
            "sent_at",
            "created_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # No URL yet (or a network that gives none) is null, not "": the schema says uri.
        data["url"] = data.get("url") or None
        return data

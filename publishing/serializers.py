"""API representation of deliveries (one timeslot's publication to one account)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from django.conf import settings
from rest_framework import serializers

from accounts.serializers import SocialAccountSummarySerializer
from publishing.models import Delivery


def absolute_url(url: str, request) -> str:
    """A post's URL as a client can open it: the sandbox network stores a path on this
    site, made absolute with PUBLIC_BASE_URL (the address users know), else with the
    request's host (checked against ALLOWED_HOSTS); a network's own URL is kept."""
    if not url or urlsplit(url).scheme:
        return url
    if settings.PUBLIC_BASE_URL:
        return urljoin(settings.PUBLIC_BASE_URL + "/", url.lstrip("/"))
    return request.build_absolute_uri(url) if request is not None else url


class ThreadPartSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True, help_text="The part's id on the network.")
    url = serializers.CharField(read_only=True, allow_blank=True)

    def get_comment_url(self, obj: Delivery) -> str | None:
        ref = (obj.network_state or {}).get("comment") or {}
        return absolute_url(ref.get("url") or "", self.context.get("request")) or None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["url"] = absolute_url(data.get("url") or "", self.context.get("request"))
        return data


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

    comment_url = serializers.SerializerMethodField(
        help_text="The first comment's address on the network, once posted."
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
            "comment",
            "comment_status",
            "comment_url",
            "comment_error",
        ]
        read_only_fields = fields

    def get_comment_url(self, obj: Delivery) -> str | None:
        ref = (obj.network_state or {}).get("comment") or {}
        return absolute_url(ref.get("url") or "", self.context.get("request")) or None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # No URL yet (or a network that gives none) is null, not "": the schema says uri.
        data["url"] = absolute_url(data.get("url") or "", self.context.get("request")) or None
        return data

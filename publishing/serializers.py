"""API representation of deliveries (one timeslot's publication to one account)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from django.conf import settings
from rest_framework import serializers

from accounts.models import Notice
from accounts.serializers import SocialAccountSummarySerializer
from links.services import clicks_by_delivery
from publishing.models import Delivery
from publishing.problems import ProblemKind


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
    clicks = serializers.SerializerMethodField(
        help_text="Clicks on the delivery's short links (channels that count clicks; bots "
        "are not counted)."
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
            "clicks",
        ]
        read_only_fields = fields

    def get_clicks(self, obj: Delivery) -> int:
        clicks = getattr(obj, "clicks", None)  # annotated by the deliveries' list
        if clicks is None:
            clicks = clicks_by_delivery([obj.id]).get(obj.id, 0)
        return clicks

    def get_comment_url(self, obj: Delivery) -> str | None:
        ref = (obj.network_state or {}).get("comment") or {}
        return absolute_url(ref.get("url") or "", self.context.get("request")) or None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # No URL yet (or a network that gives none) is null, not "": the schema says uri.
        data["url"] = absolute_url(data.get("url") or "", self.context.get("request")) or None
        return data


# --- Notices and problems (publishing.api) ---------------------------------------------------


class NoticeSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Notice
        fields = [
            "id",
            "workspace",
            "kind",
            "message",
            "subject",
            "occurrences",
            "created_at",
            "last_seen_at",
            "dismissed_at",
        ]
        read_only_fields = fields


class DismissedCountSerializer(serializers.Serializer):
    dismissed = serializers.IntegerField(help_text="How many notices were dismissed.")


class WorkspaceRefSerializer(serializers.Serializer):
    workspace = serializers.SlugField(
        required=False, max_length=100, help_text="Workspace slug; needed if you have several."
    )


class ProblemSerializer(DeliverySerializer):
    """A delivery that needs a person: retrying, unconfirmed, or failed/partial lately."""

    kind = serializers.ChoiceField(
        choices=[(k.value, k.value) for k in ProblemKind],
        read_only=True,
        help_text="retrying (another attempt is coming), unconfirmed (may have gone out: "
        "check the network, then mark it sent or failed), failed or partial.",
    )
    gives_up_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Retrying: when the retries stop."
    )

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "kind", "gives_up_at"]
        read_only_fields = fields

    def to_representation(self, instance):
        if not hasattr(instance, "gives_up_at"):
            instance.gives_up_at = None
        return super().to_representation(instance)

"""API representation of results: a delivery's snapshots and latest counts, a post's totals."""

from __future__ import annotations

from rest_framework import serializers

from publishing.serializers import absolute_url
from results.models import Snapshot
from results.selectors import latest

COUNTS = ("likes", "reposts", "replies", "quotes", "impressions")


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = Snapshot
        fields = ["taken_at", "age", "deleted", *COUNTS]
        read_only_fields = fields


class DeliveryResultsSerializer(serializers.Serializer):
    """A sent delivery: where it went and what it earned, snapshot by snapshot."""

    id = serializers.IntegerField(read_only=True)
    post = serializers.IntegerField(source="post_id", read_only=True, allow_null=True)
    account = serializers.IntegerField(source="account_id", read_only=True)
    provider = serializers.CharField(source="account.provider", read_only=True)
    status = serializers.CharField(read_only=True)
    sent_at = serializers.DateTimeField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()
    latest = serializers.SerializerMethodField()
    snapshots = SnapshotSerializer(many=True, read_only=True)

    def get_url(self, delivery) -> str:
        return absolute_url(delivery.url, self.context.get("request"))

    def get_latest(self, delivery) -> dict | None:
        """The newest snapshot's counts (null before the first, at about +1 h)."""
        snapshot = latest(delivery)
        return SnapshotSerializer(snapshot).data if snapshot else None


class PostResultsSerializer(serializers.Serializer):
    """A post's results: each delivery's, and the sum of their latest counts."""

    id = serializers.IntegerField(read_only=True)
    totals = serializers.SerializerMethodField()
    deliveries = serializers.SerializerMethodField()

    def _deliveries(self, post) -> list:
        return self.context["deliveries"]

    def get_totals(self, post) -> dict:
        totals = dict.fromkeys(COUNTS, 0)
        for delivery in self._deliveries(post):
            snapshot = latest(delivery)
            if snapshot is None or snapshot.deleted:
                continue
            for name in COUNTS:
                totals[name] += getattr(snapshot, name) or 0
        return totals

    def get_deliveries(self, post) -> list:
        return DeliveryResultsSerializer(
            self._deliveries(post), many=True, context=self.context
        ).data

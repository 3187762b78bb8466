"""REST API: channels (list, retrieve; PATCH name, time zone, pause)."""

from __future__ import annotations

from django.db.models import Count, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins

from accounts.api_scoping import WorkspaceScopedViewSet
from channels.models import Channel
from channels.serializers import ChannelSerializer
from scheduling.services import channel_save


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter("slug", OpenApiTypes.STR, description="Channel slug."),
            OpenApiParameter("is_paused", OpenApiTypes.BOOL),
        ]
    ),
    partial_update=extend_schema(
        description="Rename, change the time zone or pause/resume. A time-zone change or a "
        "resume re-plans the channel's schedules at once."
    ),
)
class ChannelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    WorkspaceScopedViewSet,
):
    serializer_class = ChannelSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def base_queryset(self):
        return (
            Channel.objects.select_related("workspace")
            .prefetch_related("accounts")
            .annotate(queue_size=Count("entries", filter=Q(entries__is_active=True)))
            .order_by("name", "id")
        )

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        if slug := params.get("slug"):
            qs = qs.filter(slug=slug)
        paused = params.get("is_paused", "").lower()
        if paused in {"true", "1"}:
            qs = qs.filter(is_paused=True)
        elif paused in {"false", "0"}:
            qs = qs.filter(is_paused=False)
        return qs

    def perform_update(self, serializer):
        channel = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(channel, name, value)
        channel_save(channel=channel)

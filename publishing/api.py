"""REST API: deliveries (read-only)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins

from accounts.api_scoping import WorkspaceScopedViewSet
from ground.pagination import DeliveryPagination
from ground.rest import filter_channel, query_choices, query_datetime, query_int
from publishing.models import Delivery
from publishing.serializers import DeliverySerializer


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter("channel", OpenApiTypes.STR, description="Channel id or slug."),
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                description="pending, sending, sent, failed, unconfirmed (comma-separated).",
            ),
            OpenApiParameter("timeslot", OpenApiTypes.INT, description="Timeslot id."),
            OpenApiParameter("account", OpenApiTypes.INT, description="Social account id."),
            OpenApiParameter("post", OpenApiTypes.INT, description="Post id."),
            OpenApiParameter(
                "from", OpenApiTypes.DATETIME, description="Created at or after (with offset)."
            ),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Created before."),
        ]
    )
)
class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    serializer_class = DeliverySerializer
    pagination_class = DeliveryPagination  # keyset on (created_at, id), newest first
    workspace_field = "timeslot__channel__workspace"

    def base_queryset(self):
        return Delivery.objects.select_related("timeslot", "account").order_by("-created_at", "-id")

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        qs = filter_channel(qs, params, field="timeslot__channel")
        if statuses := query_choices(params, "status", Delivery.Status.choices):
            qs = qs.filter(status__in=statuses)
        for name in ("timeslot", "account", "post"):
            if (value := query_int(params, name)) is not None:
                qs = qs.filter(**{f"{name}_id": value})
        if (start := query_datetime(params, "from")) is not None:
            qs = qs.filter(created_at__gte=start)
        if (end := query_datetime(params, "to")) is not None:
            qs = qs.filter(created_at__lt=end)
        return qs

"""REST API: the activity log, read-only (`/api/v1/activity/`), with the pages' filters.

Keyset pages on (at, id), newest first (ground.pagination): any page costs the queries of
the first. Another workspace's entries are not in the queryset (404 / never listed).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from accounts import activity_reads as reads
from accounts.api_scoping import WorkspaceScopedViewSet
from accounts.models import ActivityAction, ActivityEntry, ActivitySource
from ground.pagination import KeysetPagination
from ground.rest import django_error_to_drf, query_int


class ActivityPagination(KeysetPagination):
    key = "at"
    descending = True


class ActivityEntrySerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    actor = serializers.IntegerField(source="actor_id", read_only=True, allow_null=True)
    post = serializers.IntegerField(source="post_id", read_only=True, allow_null=True)
    channel = serializers.IntegerField(source="channel_id", read_only=True, allow_null=True)

    class Meta:
        model = ActivityEntry
        fields = (
            "id",
            "workspace",
            "at",
            "actor",
            "actor_name",
            "source",
            "action",
            "post",
            "channel",
            "target",
            "details",
        )
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter("actor", OpenApiTypes.INT, description="User id of who did it."),
            OpenApiParameter("action", OpenApiTypes.STR, enum=ActivityAction.values),
            OpenApiParameter("source", OpenApiTypes.STR, enum=ActivitySource.values),
            OpenApiParameter("post", OpenApiTypes.INT, description="Post id."),
            OpenApiParameter("channel", OpenApiTypes.INT, description="Channel id."),
            OpenApiParameter("from", OpenApiTypes.DATE, description="From this day (UTC)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="To this day (UTC)."),
        ]
    )
)
class ActivityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """Who did what, when and from where (web, api, admin, command, engine). Read-only."""

    serializer_class = ActivityEntrySerializer
    pagination_class = ActivityPagination

    def base_queryset(self):
        return ActivityEntry.objects.select_related("workspace").order_by("-at", "-id")

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        try:
            filters = reads.parse_filters({k: params.get(k, "") for k in reads.FILTER_NAMES})
        except DjangoValidationError as exc:
            raise django_error_to_drf(exc) from None
        qs = reads.apply_filters(qs, filters)
        for name in ("post", "channel"):
            if (value := query_int(params, name)) is not None:
                qs = qs.filter(**{f"{name}_id": value})
        return qs

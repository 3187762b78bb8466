"""REST API: the user's workspaces and their social accounts (read-only)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins

from accounts.api_scoping import WorkspaceScopedViewSet
from accounts.models import SocialAccount, Workspace
from accounts.serializers import SocialAccountSerializer, WorkspaceSerializer
from ground.rest import query_choices


class WorkspaceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """The workspaces you are a member of, with your role in each."""

    serializer_class = WorkspaceSerializer
    workspace_field = "id"
    lookup_field = "slug"

    def base_queryset(self):
        return Workspace.objects.all()

    def filter_list(self, qs, params):
        return qs

    def workspace_id_of(self, obj) -> int:
        return obj.id


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter(
                "provider",
                OpenApiTypes.STR,
                description="One or more of "
                + ", ".join(SocialAccount.Provider.values)
                + " (comma-separated).",
            ),
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                description="active, needs_reconnect or disabled (comma-separated).",
            ),
        ]
    )
)
class SocialAccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet
):
    """Connected social accounts (connect and reconnect them in the web UI)."""

    serializer_class = SocialAccountSerializer

    def base_queryset(self):
        return SocialAccount.objects.select_related("workspace")

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        if providers := query_choices(params, "provider", SocialAccount.Provider.choices):
            qs = qs.filter(provider__in=providers)
        if statuses := query_choices(params, "status", SocialAccount.Status.choices):
            qs = qs.filter(status__in=statuses)
        return qs

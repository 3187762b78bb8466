"""REST API for webhook endpoints: the same rules as the pages. Only the owners of a
workspace see and manage its endpoints: another workspace's endpoint, or one of a
workspace where you are not an owner, is a 404; creating one there is a 403."""

from __future__ import annotations

from pathlib import Path

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.api_scoping import WorkspaceScopedViewSet, roles_for
from accounts.models import Membership, Workspace
from integrations import sending, services
from integrations.models import Attempt, Endpoint, EventDelivery
from integrations.serializers import AttemptSerializer, EndpointSerializer, ResendSerializer

RECENT_ATTEMPTS = 50
OWNERS_ONLY = "Only the workspace's owners manage its webhook endpoints."
# The event types, the payload and the verification algorithm, shown in the API docs (the
# tests run its Python snippet against real requests).
EVENTS_DOC = (Path(__file__).resolve().parent.parent / "docs" / "events.md").read_text()


@extend_schema_view(list=extend_schema(description=EVENTS_DOC))
class EndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    """Webhook endpoints that receive the workspace's events (owners only)."""

    serializer_class = EndpointSerializer
    permission_classes = [IsAuthenticated]

    def base_queryset(self):
        return Endpoint.objects.select_related("workspace")

    def get_queryset(self):
        qs = super().get_queryset()
        owned = [w for w, role in roles_for(self.request).items() if role == Membership.Role.OWNER]
        return qs.filter(workspace_id__in=owned)

    def perform_create(self, serializer):
        slug = serializer.validated_data.pop("workspace")
        roles = roles_for(self.request)
        workspace = Workspace.objects.filter(slug=slug, id__in=list(roles)).first()
        if workspace is None:
            raise ValidationError({"workspace": "You are not a member of a workspace so named."})
        if roles[workspace.id] != Membership.Role.OWNER:
            raise PermissionDenied(OWNERS_ONLY)
        data = serializer.validated_data
        serializer.instance = services.endpoint_create(
            workspace=workspace,
            url=data["url"],
            event_types=data.get("event_types", []),
            description=data.get("description", ""),
        )
        if data.get("is_active") is False:
            services.endpoint_update(endpoint=serializer.instance, is_active=False)

    def perform_update(self, serializer):
        data = serializer.validated_data
        endpoint = serializer.instance
        if "workspace" in data and data["workspace"] != endpoint.workspace.slug:
            raise ValidationError({"workspace": "An endpoint cannot move to another workspace."})
        serializer.instance = services.endpoint_update(
            endpoint=endpoint,
            url=data.get("url"),
            event_types=data.get("event_types"),
            description=data.get("description"),
            is_active=data.get("is_active"),
        )

    def perform_destroy(self, instance):
        services.endpoint_delete(endpoint=instance)

    @extend_schema(responses=AttemptSerializer(many=True))
    @action(detail=True, methods=["get"])
    def attempts(self, request, pk=None):
        """The endpoint's latest attempts (at most 50), newest first, with their answers."""
        endpoint = self.get_object()
        rows = (
            Attempt.objects.filter(delivery__endpoint=endpoint)
            .select_related("delivery__event")
            .order_by("-at", "-id")[:RECENT_ATTEMPTS]
        )
        return Response(AttemptSerializer(rows, many=True).data)

    @extend_schema(request=ResendSerializer, responses={202: AttemptSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        """Send one delivery of this endpoint again (same event id), now."""
        endpoint = self.get_object()
        body = ResendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        delivery = get_object_or_404(
            EventDelivery, id=body.validated_data["delivery"], endpoint=endpoint
        )
        sending.delivery_resend(delivery=delivery)
        return Response(
            {"delivery": delivery.id, "status": delivery.status}, status=status.HTTP_202_ACCEPTED
        )

"""REST API: the emergency stop and blackout dates of a workspace (owners only).

`POST /api/v1/stops/` `{"workspace": slug}` stops all publishing of the workspace and answers
with the cutoff instant and the deliveries claimed before it (publishing/stop_answer.py);
`POST /api/v1/stops/resume/` resumes; `GET /api/v1/stops/` lists the stops of your
workspaces. Both writes take an Idempotency-Key like every write (a repeat with the same key
returns the stored answer); a second stop under another key is answered 409 with the stop
in force. Under a key, the stop commits with the key's record, so its cutoff is read at its
last statement rather than after its commit (scheduling/stops.py says why both hold).

`/api/v1/blackouts/`: list, create (`workspace`, `name`, `starts_on`, `ends_on`, optional
`timezone`; the workspace's channels' usual zone by default) and delete blackout dates.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.api_idempotency import IdempotentViewMixin
from accounts.api_scoping import WorkspaceScopedViewSet, roles_for
from accounts.models import Workspace
from ground.rest import API_PARSERS, django_error_to_drf
from publishing.stop_answer import as_dict
from publishing.stopping import services as stop_services
from scheduling import blackouts, stops
from scheduling.models import Blackout, Stop

_WORKSPACE = inline_serializer("StopRequest", {"workspace": serializers.SlugField()})


def _workspace(request) -> Workspace:
    """The member's workspace named by `workspace` (a foreign or unknown slug: 404)."""
    slug = request.data.get("workspace") if hasattr(request.data, "get") else None
    if not isinstance(slug, str) or not slug:
        raise serializers.ValidationError({"workspace": "Name the workspace (its slug)."})
    return get_object_or_404(Workspace, slug=slug, id__in=list(roles_for(request)))


class _InFlightSerializer(serializers.Serializer):
    delivery_id = serializers.IntegerField()
    timeslot_id = serializers.IntegerField()
    account = serializers.CharField()
    status = serializers.CharField()


class StopSerializer(serializers.Serializer):
    """The stop's answer (publishing/stop_answer.py)."""

    id = serializers.IntegerField()
    workspace = serializers.CharField(allow_null=True)
    by = serializers.CharField()
    created_at = serializers.DateTimeField()
    cutoff_at = serializers.DateTimeField(allow_null=True)
    rotated_slots = serializers.IntegerField()
    channels_already_paused = serializers.ListField(child=serializers.IntegerField())
    claimed_before_the_stop = serializers.ListField(child=serializers.IntegerField())
    deliveries_in_flight = _InFlightSerializer(many=True)
    resumed_at = serializers.DateTimeField(allow_null=True)
    resumed_by = serializers.CharField(allow_blank=True)
    guarantee = serializers.CharField()


class ResumedSerializer(StopSerializer):
    revived_slots = serializers.IntegerField()


class StopViewSet(IdempotentViewMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated]
    parser_classes = API_PARSERS
    serializer_class = StopSerializer
    pagination_class = None  # at most the 100 latest stops

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Stop.objects.none()
        return Stop.objects.filter(workspace_id__in=list(roles_for(self.request)))

    @extend_schema(responses=StopSerializer(many=True))
    def list(self, request):
        stops_ = self.get_queryset().select_related("workspace")[:100]
        return Response([as_dict(s) for s in stops_])

    @extend_schema(
        request=_WORKSPACE,
        responses={201: StopSerializer, 409: StopSerializer},
        description="Stop all publishing of the workspace (owners). The answer's `cutoff_at` "
        "is the instant after which nothing of the workspace can be claimed; "
        "`deliveries_in_flight` are what was claimed before it and may still go out.",
    )
    def create(self, request):
        workspace = _workspace(request)
        try:
            stop = stop_services.publishing_stop(workspace=workspace, user=request.user)
        except DjangoValidationError as exc:
            active = stops.active_stop(workspace=workspace)
            if active is not None:
                return Response(as_dict(active), status=status.HTTP_409_CONFLICT)
            raise django_error_to_drf(exc) from None
        return Response(as_dict(stop), status=status.HTTP_201_CREATED)

    @extend_schema(request=_WORKSPACE, responses={200: ResumedSerializer})
    @action(detail=False, methods=["post"])
    def resume(self, request):
        workspace = _workspace(request)
        try:
            done = stops.publishing_resume(workspace=workspace, user=request.user)
        except DjangoValidationError as exc:
            raise django_error_to_drf(exc) from None
        return Response(
            {**as_dict(done.stop), "revived_slots": done.revived},
            status=status.HTTP_200_OK,
        )


class BlackoutSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", queryset=Workspace.objects.none())
    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)

    class Meta:
        model = Blackout
        fields = ["id", "workspace", "name", "starts_on", "ends_on", "timezone"]
        read_only_fields = ["id"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["workspace"].queryset = Workspace.objects.filter(
                id__in=list(roles_for(request))
            )


class BlackoutViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    """Blackout dates: no channel of the workspace publishes on them (owners add and
    delete; planned slots inside end skipped, pinned slots are skipped at their time)."""

    serializer_class = BlackoutSerializer

    def base_queryset(self):
        return Blackout.objects.select_related("workspace")

    def filter_list(self, qs, params):
        if slug := params.get("workspace"):
            qs = qs.filter(workspace__slug=slug)
        return qs

    def workspace_id_of(self, obj) -> int:
        return obj.workspace_id

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            blackout, _ = blackouts.blackout_add(
                workspace=data["workspace"],
                user=self.request.user,
                name=data["name"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                zone=data.get("timezone", ""),
            )
        except DjangoValidationError as exc:
            raise django_error_to_drf(exc) from None
        serializer.instance = blackout

    def perform_destroy(self, instance):
        blackouts.blackout_delete(blackout=instance, user=self.request.user)

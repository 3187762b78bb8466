"""REST API: schedules (CRUD, planned at once on save) and timeslots (list, move, cancel)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from accounts.api_scoping import VIEWER_MESSAGE, WorkspaceScopedViewSet, can_write, roles_for
from accounts.models import Workspace
from channels.models import Channel
from ground.pagination import TimeslotPagination
from ground.rest import filter_channel, query_choices, query_datetime, query_int
from scheduling import lint, preview, services
from scheduling.models import Schedule, Timeslot
from scheduling.serializers import (
    SchedulePreviewSerializer,
    ScheduleSerializer,
    SlotWarningSerializer,
    TimeslotRescheduleSerializer,
    TimeslotSerializer,
)

WORKSPACE_PARAM = OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug.")
CHANNEL_PARAM = OpenApiParameter("channel", OpenApiTypes.STR, description="Channel id or slug.")


@extend_schema_view(
    list=extend_schema(
        parameters=[
            WORKSPACE_PARAM,
            CHANNEL_PARAM,
            OpenApiParameter("is_active", OpenApiTypes.BOOL),
        ]
    ),
    create=extend_schema(
        description="Create a schedule; its timeslots for the planning window are created at "
        "once (from now on: no past slots)."
    ),
    update=extend_schema(
        description="Edit a schedule; its future, unmoved slots are reconciled with the rules."
    ),
    destroy=extend_schema(
        description="Delete a schedule and its timeslots. To keep history, set is_active=false."
    ),
)
class ScheduleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    serializer_class = ScheduleSerializer
    workspace_field = "channel__workspace"

    def base_queryset(self):
        return Schedule.objects.select_related("channel").order_by("channel__name", "name", "id")

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        qs = filter_channel(qs, params)
        active = params.get("is_active", "").lower()
        if active in {"true", "1"}:
            qs = qs.filter(is_active=True)
        elif active in {"false", "0"}:
            qs = qs.filter(is_active=False)
        return qs

    def perform_create(self, serializer):
        data = serializer.validated_data
        if not can_write(self.request, data["channel"].workspace_id):
            raise PermissionDenied(VIEWER_MESSAGE)
        serializer.instance = services.schedule_save(schedule=Schedule(**data))

    def perform_update(self, serializer):
        schedule = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(schedule, name, value)
        services.schedule_save(schedule=schedule)

    def _preview(self, schedule: Schedule, serializer) -> Response:
        for name, value in serializer.validated_data.items():
            setattr(schedule, name, value)
        found = preview.schedule_preview_changes(schedule=schedule)
        if found.errors:
            raise ValidationError({"non_field_errors": found.errors})
        return Response(SchedulePreviewSerializer(found).data)

    @extend_schema(
        request=ScheduleSerializer,
        responses=SchedulePreviewSerializer,
        operation_id="schedules_preview_new",
    )
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_new(self, request):
        """What creating this schedule would plan, without saving it (same body as create)."""
        serializer = ScheduleSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        if not can_write(request, serializer.validated_data["channel"].workspace_id):
            raise PermissionDenied(VIEWER_MESSAGE)
        return self._preview(Schedule(), serializer)

    @extend_schema(request=ScheduleSerializer, responses=SchedulePreviewSerializer)
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        """What saving this edit would do (same body as PATCH), without saving it: the slots
        canceled, created, skipped and revived by the save's own reconciliation, the moved
        and pinned slots it leaves alone, and the rule's times added/removed in the 7 days
        after the planned window."""
        schedule = self.get_object()
        serializer = ScheduleSerializer(
            schedule, data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return self._preview(schedule, serializer)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            WORKSPACE_PARAM,
            CHANNEL_PARAM,
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                description="scheduled, publishing, published, partial, failed, skipped, "
                "missed, canceled (comma-separated).",
            ),
            OpenApiParameter(
                "from", OpenApiTypes.DATETIME, description="publish_at at or after (with offset)."
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATETIME, description="publish_at before (with offset)."
            ),
            OpenApiParameter("schedule", OpenApiTypes.INT, description="Schedule id."),
            OpenApiParameter("post", OpenApiTypes.INT, description="Pinned post id."),
        ]
    ),
    partial_update=extend_schema(
        request=TimeslotRescheduleSerializer,
        responses=TimeslotSerializer,
        description="Move a scheduled slot. Messages already queued for it become no-ops; a "
        "moved schedule slot is left alone by later schedule edits.",
    ),
    cancel=extend_schema(request=None, responses=TimeslotSerializer),
)
class TimeslotViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    WorkspaceScopedViewSet,
):
    serializer_class = TimeslotSerializer
    pagination_class = TimeslotPagination  # keyset on (publish_at, id), earliest first
    workspace_field = "channel__workspace"
    http_method_names = ["get", "patch", "post", "head", "options"]

    def base_queryset(self):
        return Timeslot.objects.select_related("channel").order_by("publish_at", "id")

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        qs = filter_channel(qs, params)
        if statuses := query_choices(params, "status", Timeslot.Status.choices):
            qs = qs.filter(status__in=statuses)
        if (start := query_datetime(params, "from")) is not None:
            qs = qs.filter(publish_at__gte=start)
        if (end := query_datetime(params, "to")) is not None:
            qs = qs.filter(publish_at__lt=end)
        if (schedule := query_int(params, "schedule")) is not None:
            qs = qs.filter(schedule_id=schedule)
        if (post := query_int(params, "post")) is not None:
            qs = qs.filter(post_id=post)
        return qs

    def get_serializer_class(self):
        if self.action == "partial_update":
            return TimeslotRescheduleSerializer
        return TimeslotSerializer

    def _output(self, timeslot: Timeslot) -> Response:
        timeslot = self.base_queryset().get(pk=timeslot.pk)
        return Response(TimeslotSerializer(timeslot, context=self.get_serializer_context()).data)

    def partial_update(self, request, *args, **kwargs):
        timeslot = self.get_object()
        serializer = TimeslotRescheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.timeslot_reschedule(
            timeslot=timeslot, publish_at=serializer.validated_data["publish_at"]
        )
        return self._output(timeslot)

    @extend_schema(
        parameters=[WORKSPACE_PARAM, CHANNEL_PARAM],
        responses=SlotWarningSerializer(many=True),
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def warnings(self, request):
        """Problems ahead: the coming slots (next LINT_AHEAD, planned or projected) that
        will fail or be refused, each with its fix (scheduling/lint.py)."""
        ids = list(roles_for(request))
        workspaces = Workspace.objects.filter(id__in=ids).order_by("id")
        if slug := request.query_params.get("workspace"):
            workspaces = workspaces.filter(slug=slug)
        channel_ids: list[int] = []
        if value := request.query_params.get("channel"):
            channels = Channel.objects.filter(workspace__in=workspaces)
            key = {"id": query_int(request.query_params, "channel")} if value.isdigit() else {
                "slug": value
            }  # fmt: skip
            channel_ids = list(channels.filter(**key).values_list("id", flat=True))
            if not channel_ids:
                return Response([])
            workspaces = workspaces.filter(channels__id__in=channel_ids).distinct()
        found = [
            w
            for workspace in workspaces
            for w in lint.warnings_ahead(workspace=workspace, channel_ids=channel_ids)
        ]
        return Response(SlotWarningSerializer(found, many=True).data)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a scheduled slot (it will not publish; the reason says a user canceled it)."""
        timeslot = services.timeslot_cancel(timeslot=self.get_object())
        return self._output(timeslot)

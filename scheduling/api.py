"""REST API: schedules (CRUD, planned at once on save; a rule's preview), timeslots (list,
move, cancel, pin a post) and the calendar's slots for a range (planned and projected)."""

from __future__ import annotations

import datetime as dt

import recurrence
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from accounts.api_scoping import (
    VIEWER_MESSAGE,
    WorkspaceScopedViewSet,
    can_write,
    roles_for,
    workspace_for,
)
from accounts.models import Workspace
from channels.models import Channel
from channels.serializers import ChannelSummarySerializer
from ground.pagination import TimeslotPagination
from ground.rest import filter_channel, query_choices, query_datetime, query_int
from posts.models import Post
from scheduling import calendar_grid as grid
from scheduling import calendar_reads, lint, preview, rules, selectors, services
from scheduling.models import Schedule, Timeslot
from scheduling.serializers import (
    CalendarPageSerializer,
    CalendarSlotSerializer,
    RulePreviewResultSerializer,
    RulePreviewSerializer,
    SchedulePreviewSerializer,
    ScheduleSerializer,
    SlotWarningSerializer,
    TimeslotPostSerializer,
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

    @extend_schema(request=RulePreviewSerializer, responses=RulePreviewResultSerializer)
    @action(detail=False, methods=["post"], url_path="rule-preview")
    def rule_preview(self, request):
        """The rule's next times in the channel's zone, as the schedule editor shows them
        under the rule: nothing is saved. Use it to check a rule before creating it."""
        serializer = RulePreviewSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        channel = data["channel"]
        if not can_write(request, channel.workspace_id):
            raise PermissionDenied(VIEWER_MESSAGE)
        value = data["rule"]
        times = rules.preview(
            value,
            tz=channel.tz,
            now=timezone.now(),
            count=data["count"],
            starts_on=rules.DEFAULT_STARTS_ON,
        )
        return Response(
            {
                "rule": recurrence.serialize(value),
                "description": rules.describe(value),
                "timezone": channel.timezone,
                "occurrences": [
                    {"publish_at": at, "publish_at_local": at.astimezone(channel.tz).isoformat()}
                    for at in times
                ],
            }
        )

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

    @extend_schema(request=TimeslotPostSerializer, responses=TimeslotSerializer)
    @action(detail=True, methods=["post"], url_path="post")
    def set_post(self, request, pk=None):
        """Pin a post to this coming slot, or (post null) give a schedule's slot back to
        the queue's next post. The calendar's "post" choice."""
        timeslot = self.get_object()
        serializer = TimeslotPostSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        post_id = serializer.validated_data["post"]
        post = None
        if post_id is not None:
            post = Post.objects.filter(
                id=post_id, workspace_id=timeslot.channel.workspace_id
            ).first()
            if post is None:
                raise ValidationError({"post": [f"Unknown post: {post_id}."]})
        return self._output(services.timeslot_set_post(timeslot=timeslot, post=post))


CALENDAR_MAX_RANGE = dt.timedelta(days=31)


@extend_schema_view(
    list=extend_schema(
        responses=CalendarPageSerializer,
        parameters=[
            WORKSPACE_PARAM,
            OpenApiParameter(
                "from", OpenApiTypes.DATETIME, required=True, description="Start (with offset)."
            ),
            OpenApiParameter(
                "to",
                OpenApiTypes.DATETIME,
                required=True,
                description="End, excluded (with offset); at most 31 days after `from`.",
            ),
            OpenApiParameter(
                "channel", OpenApiTypes.STR, description="Channel ids (comma-separated)."
            ),
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                description="Timeslot statuses and/or `projected` (comma-separated).",
            ),
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number (from 1)."),
        ],
    ),
)
class CalendarViewSet(WorkspaceScopedViewSet):
    """The calendar's slots for a range: the planned timeslots (finished ones as they
    ended) and the rule occurrences not planned yet (`projected`), each coming one with
    the post it is predicted to take. The same reads as the calendar page
    (scheduling.calendar_reads)."""

    workspace_field = "channel__workspace"
    lookup_value_regex = r"p[0-9]{1,18}-[0-9]{1,12}"
    lookup_url_kwarg = "key"
    serializer_class = CalendarSlotSerializer

    def base_queryset(self):
        return Schedule.objects.select_related("channel")

    def list(self, request):
        params = request.query_params
        workspace = workspace_for(request, params.get("workspace"), write=False)
        start, end = query_datetime(params, "from"), query_datetime(params, "to")
        if start is None or end is None:
            raise ValidationError({"from": ["Give the range: from and to, with offsets."]})
        if not start < end <= start + CALENDAR_MAX_RANGE:
            raise ValidationError(
                {"to": ["`to` must come after `from`, at most 31 days after it."]}
            )
        channel_ids = []
        for part in (params.get("channel") or "").split(","):
            if part.strip():
                if not (part.strip().isascii() and part.strip().isdigit() and len(part) < 19):
                    raise ValidationError({"channel": ["Channel ids, comma-separated."]})
                channel_ids.append(int(part))
        choices = [*Timeslot.Status.choices, (calendar_reads.PROJECTED, "Projected")]
        statuses = query_choices(params, "status", choices)
        slots = calendar_reads.slots_between(
            workspace=workspace,
            start=start,
            end=end,
            now=timezone.now(),
            texts=False,
            channel_ids=channel_ids or (),
            statuses=statuses,
        )
        page = self.paginate_queryset(slots)
        selectors.fill_texts(page)
        return self.get_paginated_response([_calendar_slot(s) for s in page])

    @extend_schema(request=None, responses={201: TimeslotSerializer})
    @action(detail=True, methods=["post"])
    def plan(self, request, key=None):
        """Plan a projected slot now (a rule occurrence beyond the planner's window), to
        move, cancel or pin a post to it with the timeslot calls. Already planned: its
        timeslot as it is."""
        parsed = grid.parse_key(key)
        if parsed is None or parsed.schedule_id is None:
            raise NotFound("No such slot.")
        schedule = self.get_queryset().filter(id=parsed.schedule_id).first()
        if schedule is None:
            raise NotFound("No such slot.")
        self.check_object_permissions(request, schedule)
        slot = services.projected_slot_plan(schedule=schedule, occurrence=parsed.occurrence)
        slot = Timeslot.objects.select_related("channel").get(pk=slot.pk)
        context = self.get_serializer_context()
        return Response(TimeslotSerializer(slot, context=context).data, status=201)


def _calendar_slot(slot) -> dict:
    post = slot.post
    return {
        "key": grid.slot_key(slot),
        "status": calendar_reads.slot_status(slot),
        "projected": slot.is_projected,
        "timeslot": slot.timeslot.id if slot.timeslot is not None else None,
        "schedule": slot.schedule.id if slot.schedule is not None else None,
        "channel": ChannelSummarySerializer(slot.channel).data,
        "publish_at": slot.publish_at,
        "publish_at_local": slot.local_time.isoformat(),
        "post": post.id if post is not None else None,
        "text": slot.text or "",
        "pinned": slot.pinned,
        "problem_code": slot.problem_code or "",
        "problem": slot.problem or "",
    }

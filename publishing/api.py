"""REST API: deliveries (read; a person's actions on one that needs them), the problems
list and the notices (read, dismiss). The same services as the dashboard's buttons
(publishing.problems, accounts.services)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts import services as account_services
from accounts.api_scoping import WorkspaceScopedViewSet, workspace_for
from accounts.models import Notice
from ground.pagination import DeliveryPagination
from ground.rest import Conflict, filter_channel, query_choices, query_datetime, query_int
from links.services import clicks_annotation
from publishing import problems
from publishing.models import Delivery
from publishing.serializers import (
    DeliverySerializer,
    DismissedCountSerializer,
    NoticeSerializer,
    ProblemSerializer,
    WorkspaceRefSerializer,
)

PROBLEM_MAX = 100
CONFLICT = OpenApiResponse(description="The delivery is not in a state this action applies to.")


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
    """Deliveries, newest first. POST .../retry_now/, give_up/, mark_sent/, mark_failed/ or
    retry/ act on one that needs a person (see /problems/), as the dashboard's buttons."""

    serializer_class = DeliverySerializer
    pagination_class = DeliveryPagination  # keyset on (created_at, id), newest first
    workspace_field = "timeslot__channel__workspace"

    def base_queryset(self):
        return (
            Delivery.objects.select_related("timeslot", "account")
            .annotate(clicks=clicks_annotation())
            .order_by("-created_at", "-id")
        )

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

    def _act(self, request, action_name: str) -> Response:
        delivery = self.get_object()
        kwargs = {"workspace": delivery.timeslot.channel.workspace, "delivery_id": delivery.id}
        user = request.user.get_username()
        service = {
            "retry_now": lambda: problems.delivery_retry_now(**kwargs),
            "give_up": lambda: problems.delivery_give_up(**kwargs, user=user),
            "mark_sent": lambda: problems.delivery_mark_sent(**kwargs, user=user),
            "mark_failed": lambda: problems.delivery_mark_failed(**kwargs, user=user),
            "retry": lambda: problems.delivery_retry(**kwargs),
        }[action_name]
        try:
            service()
        except DjangoValidationError as exc:
            raise Conflict(" ".join(exc.messages)) from None
        delivery = self.base_queryset().get(pk=delivery.pk)
        return Response(DeliverySerializer(delivery, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: DeliverySerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def retry_now(self, request, pk=None):
        """A delivery waiting for its next attempt goes now."""
        return self._act(request, "retry_now")

    @extend_schema(request=None, responses={200: DeliverySerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def give_up(self, request, pk=None):
        """A delivery waiting for its next attempt is failed; its slot settles."""
        return self._act(request, "give_up")

    @extend_schema(request=None, responses={200: DeliverySerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def mark_sent(self, request, pk=None):
        """An unconfirmed delivery you found on the network: it was sent."""
        return self._act(request, "mark_sent")

    @extend_schema(request=None, responses={200: DeliverySerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def mark_failed(self, request, pk=None):
        """An unconfirmed delivery that is not on the network: it failed (retry it then)."""
        return self._act(request, "mark_failed")

    @extend_schema(request=None, responses={200: DeliverySerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """A failed delivery is tried again (failed means the network did not take it)."""
        return self._act(request, "retry")


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter(
                "limit", OpenApiTypes.INT, description=f"At most this many (1 to {PROBLEM_MAX})."
            ),
        ],
    )
)
class ProblemViewSet(WorkspaceScopedViewSet):
    """Deliveries that need a person (the dashboard's list): retrying, unconfirmed, and
    failed or partly sent in the last week, newest slot first. Act on one with the
    deliveries' actions (retry_now, give_up, mark_sent, mark_failed, retry)."""

    serializer_class = ProblemSerializer
    pagination_class = None  # bounded by `limit`
    workspace_field = "timeslot__channel__workspace"

    def base_queryset(self):
        return Delivery.objects.all()

    def list(self, request):
        workspace = workspace_for(request, request.query_params.get("workspace"), write=False)
        limit = query_int(request.query_params, "limit")
        limit = 20 if limit is None else limit
        if not 1 <= limit <= PROBLEM_MAX:
            raise ValidationError({"limit": [f"A whole number from 1 to {PROBLEM_MAX}."]})
        rows = problems.problem_deliveries(workspace=workspace, now=timezone.now(), limit=limit)
        context = self.get_serializer_context()
        return Response(ProblemSerializer(rows, many=True, context=context).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter(
                "dismissed", OpenApiTypes.BOOL, description="false: the ones still shown."
            ),
            OpenApiParameter(
                "kind", OpenApiTypes.STR, description="Notice kinds (comma-separated)."
            ),
        ]
    )
)
class NoticeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """What a person must know (a failed slot, an account to reconnect, an empty queue),
    newest first; the dashboard shows the ones not dismissed."""

    serializer_class = NoticeSerializer

    def base_queryset(self):
        return Notice.objects.select_related("workspace").order_by("-created_at", "-id")

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        dismissed = params.get("dismissed", "").lower()
        if dismissed in {"true", "1"}:
            qs = qs.filter(dismissed_at__isnull=False)
        elif dismissed in {"false", "0"}:
            qs = qs.filter(dismissed_at__isnull=True)
        if kinds := query_choices(params, "kind", Notice.Kind.choices):
            qs = qs.filter(kind__in=kinds)
        return qs

    @extend_schema(request=None, responses=NoticeSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        """Hide the notice (again: no change, the first dismissal time stays)."""
        notice = account_services.notice_dismiss(notice=self.get_object())
        return Response(NoticeSerializer(notice).data)

    @extend_schema(request=WorkspaceRefSerializer, responses=DismissedCountSerializer)
    @action(detail=False, methods=["post"])
    def dismiss_all(self, request):
        """Hide every notice of the workspace still shown."""
        serializer = WorkspaceRefSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        workspace = workspace_for(request, serializer.validated_data.get("workspace"), write=True)
        return Response({"dismissed": account_services.notices_dismiss_all(workspace=workspace)})

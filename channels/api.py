"""REST API: channels (create, read, edit, pause/resume, delete one that never published) and
each channel's queue (read its order, set it, cap or requeue an entry, remove one).

The writes are the web UI's: scheduling.services.channel_save (which re-plans on a zone
change or a resume), channels.services for the queue. A channel is named by id here.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from accounts.api_scoping import OWNERS_DELETE, WorkspaceScopedViewSet, is_owner, workspace_for
from accounts.models import SocialAccount
from channels import services as queue
from channels.models import NAME_TAKEN, Channel, QueueEntry, channel_name_taken
from channels.serializers import (
    UTM_FIELDS,
    ChannelSerializer,
    ChannelWriteSerializer,
    QueueEntrySerializer,
    QueueEntryUpdateSerializer,
    QueueOrderSerializer,
    QueuePageSerializer,
)
from ground.rest import Conflict
from publishing import removal
from scheduling.services import channel_save

QUEUE_ENTRY_PATH = r"queue/(?P<entry_id>[0-9]{1,18})"


def _accounts(workspace_id: int, ids: list[int]) -> list[SocialAccount]:
    """The workspace's accounts of these ids; an id of any other is a 400 (not revealed)."""
    found = {a.id: a for a in SocialAccount.objects.filter(workspace_id=workspace_id, id__in=ids)}
    unknown = [str(i) for i in dict.fromkeys(ids) if i not in found]
    if unknown:
        raise ValidationError({"accounts": [f"Unknown account(s): {', '.join(unknown)}."]})
    return [found[i] for i in dict.fromkeys(ids)]


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter("slug", OpenApiTypes.STR, description="Channel slug."),
            OpenApiParameter("is_paused", OpenApiTypes.BOOL),
        ]
    ),
    create=extend_schema(
        request=ChannelWriteSerializer,
        responses={201: ChannelSerializer},
        description="Create a channel (its slug is made from the name). Give `accounts` "
        "(ids) to publish to; add schedules with POST /schedules/.",
    ),
    partial_update=extend_schema(
        request=ChannelWriteSerializer,
        responses=ChannelSerializer,
        description="Rename, change the time zone, mode or accounts, or pause/resume. A "
        "time-zone change or a resume re-plans the channel's schedules at once.",
    ),
    destroy=extend_schema(
        responses={204: None, 409: OpenApiResponse(description="It has published already.")},
        description="Delete a channel that never published, with its schedules, queue and "
        "coming slots (owners only, as in the web UI: editors pause). One that has "
        "published is refused with 409: pause it instead, its history stays.",
    ),
)
class ChannelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    WorkspaceScopedViewSet,
):
    serializer_class = ChannelSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

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

    def get_serializer_class(self):
        if self.action in ("create", "partial_update"):
            return ChannelWriteSerializer
        return ChannelSerializer

    def _output(self, channel: Channel, code: int = status.HTTP_200_OK) -> Response:
        channel = self.base_queryset().get(pk=channel.pk)
        return Response(
            ChannelSerializer(channel, context=self.get_serializer_context()).data, code
        )

    def _save(self, channel: Channel, data: dict) -> Channel:
        if "name" in data and channel_name_taken(
            workspace_id=channel.workspace_id, name=data["name"], exclude_id=channel.pk
        ):
            raise ValidationError({"name": [NAME_TAKEN]})
        for name in ("name", "timezone", "mode", "is_paused", "count_clicks", *UTM_FIELDS):
            if name in data:
                setattr(channel, name, data[name])
        accounts = _accounts(channel.workspace_id, data["accounts"]) if "accounts" in data else None
        return channel_save(channel=channel, accounts=accounts)

    def create(self, request, *args, **kwargs):
        serializer = ChannelWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        workspace = workspace_for(request, data.get("workspace"), write=True)
        channel = Channel(
            workspace=workspace,
            slug=queue.channel_unique_slug(workspace_id=workspace.id, name=data["name"]),
        )
        channel = self._save(channel, {"is_paused": False, **data})
        return self._output(channel, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        channel = self.get_object()
        serializer = ChannelWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("workspace", None)  # a channel stays in its workspace
        return self._output(self._save(channel, data))

    def destroy(self, request, *args, **kwargs):
        channel = self.get_object()
        if not is_owner(request, channel.workspace_id):
            raise PermissionDenied(OWNERS_DELETE)
        try:
            removal.channel_delete(channel=channel)
        except DjangoValidationError as exc:
            raise Conflict(" ".join(exc.messages)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _paused(self, paused: bool) -> Response:
        channel = self.get_object()
        channel.is_paused = paused
        return self._output(channel_save(channel=channel))

    @extend_schema(request=None, responses=ChannelSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Pause the channel: nothing of it is planned or published until it is resumed."""
        return self._paused(True)

    @extend_schema(request=None, responses=ChannelSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume the channel: its schedules are planned again at once."""
        return self._paused(False)

    # --- The queue ----------------------------------------------------------------------

    @extend_schema(
        responses=QueuePageSerializer,
        parameters=[
            OpenApiParameter(
                "is_active",
                OpenApiTypes.BOOL,
                description="true: the rotation (default both, active ones first).",
            ),
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number (from 1)."),
        ],
    )
    @action(detail=True, methods=["get"], url_path="queue")
    def queue(self, request, pk=None):
        """The channel's queue in its order: the active entries (the rotation), then the
        spent ones (used up, or published once in `once` mode)."""
        channel = self.get_object()
        entries = (
            QueueEntry.objects.filter(channel=channel)
            .select_related("post")
            .order_by("-is_active", "position", "id")
        )
        active = request.query_params.get("is_active", "").lower()
        if active in {"true", "1"}:
            entries = entries.filter(is_active=True)
        elif active in {"false", "0"}:
            entries = entries.filter(is_active=False)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(QueueEntrySerializer(page, many=True).data)

    @extend_schema(request=QueueOrderSerializer, responses=QueueOrderSerializer)
    @action(detail=True, methods=["post"], url_path="queue/order")
    def queue_order(self, request, pk=None):
        """Reorder the queue: the posts given go first, in that order."""
        channel = self.get_object()
        serializer = QueueOrderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ordered = queue.queue_order_set(
            channel=channel, post_ids=serializer.validated_data["posts"]
        )
        return Response({"posts": [e.post_id for e in ordered if e.is_active]})

    def _entry(self, entry_id: str) -> QueueEntry:
        channel = self.get_object()
        entry = (
            QueueEntry.objects.select_related("channel", "post")
            .filter(channel=channel, id=int(entry_id))
            .first()
        )
        if entry is None:
            raise NotFound("No such entry in this channel's queue.")
        return entry

    @extend_schema(
        methods=["PATCH"], request=QueueEntryUpdateSerializer, responses=QueueEntrySerializer
    )
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["patch", "delete"], url_path=QUEUE_ENTRY_PATH)
    def queue_entry(self, request, pk=None, entry_id=None):
        """PATCH: cap an entry's publications or put a spent one back in rotation. DELETE:
        take the post out of this queue (its count here goes with it)."""
        entry = self._entry(entry_id)
        if request.method == "DELETE":
            queue.queue_entry_remove(entry=entry)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = QueueEntryUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "max_publications" in data:
            entry = queue.queue_entry_set_max(
                entry=entry, max_publications=data["max_publications"]
            )
        if data.get("is_active"):
            entry = queue.queue_entry_reactivate(entry=entry)
        return Response(QueueEntrySerializer(entry).data)

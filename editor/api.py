"""REST API: posts (list, retrieve, create = queue or pin, update, delete = archive)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.api_scoping import VIEWER_MESSAGE, WorkspaceScopedViewSet, can_write
from channels.models import QueueEntry
from editor import services
from editor.serializers import PostCreateSerializer, PostSerializer, PostUpdateSerializer
from ground.rest import filter_channel, query_choices, query_int
from posts.labels import labels_resolve
from posts.models import Post
from scheduling.models import Timeslot


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter(
                "channel", OpenApiTypes.STR, description="Queued in this channel (id or slug)."
            ),
            OpenApiParameter(
                "status", OpenApiTypes.STR, description="draft, ready, archived (comma-separated)."
            ),
            OpenApiParameter("label", OpenApiTypes.INT, description="Carries this label (id)."),
        ]
    ),
    create=extend_schema(
        request=PostCreateSerializer,
        responses={201: PostSerializer},
        description="Create a post and queue it at the end of each channel's queue, or pin it "
        "to `publish_at` on each channel. Accepts JSON or form data "
        "(`curl --data text=hi --data channels=tech`). A `publish_at` without an offset is "
        "the wall-clock time of each channel's own zone; the answer shows every pinned "
        "slot's UTC instant, its zone and its local time.",
    ),
    update=extend_schema(request=PostUpdateSerializer, responses=PostSerializer),
    partial_update=extend_schema(request=PostUpdateSerializer, responses=PostSerializer),
    destroy=extend_schema(
        description="Archive the post: it leaves every queue and its pinned slots are "
        "canceled. Its history is kept."
    ),
)
class PostViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    serializer_class = PostSerializer

    def base_queryset(self):
        return Post.objects.select_related("workspace", "author").prefetch_related(
            "variations",
            "labels",
            Prefetch("entries", queryset=QueueEntry.objects.select_related("channel")),
            Prefetch(
                "pinned_timeslots",
                queryset=Timeslot.objects.select_related("channel").order_by("publish_at", "id"),
            ),
        )

    def get_serializer_class(self):
        if self.action == "create":
            return PostCreateSerializer
        if self.action in ("update", "partial_update"):
            return PostUpdateSerializer
        return PostSerializer

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        if params.get("channel"):
            qs = filter_channel(qs, params, field="entries__channel").distinct()
        if statuses := query_choices(params, "status", Post.Status.choices):
            qs = qs.filter(status__in=statuses)
        if (label := query_int(params, "label")) is not None:
            qs = qs.filter(labels__id=label)
        return qs

    def _output(self, post: Post, *, code: int = status.HTTP_200_OK) -> Response:
        post = self.base_queryset().get(pk=post.pk)
        return Response(PostSerializer(post, context=self.get_serializer_context()).data, code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not can_write(request, data["workspace"].id):
            raise PermissionDenied(VIEWER_MESSAGE)
        post = services.post_create(
            workspace=data["workspace"],
            text=data["text"],
            channels=data["channels"],
            author=request.user,
            variations=data.get("variations") or (),
            thread_parts=data.get("thread_parts") or (),
            status=data["status"],
            expires_at=data.get("expires_at"),
            publish_at=data.get("publish_at"),
            publish_at_by_channel=data.get("publish_at_by_channel"),
            labels=labels_resolve(workspace_id=data["workspace"].id, ids=data.get("labels") or []),
        )
        return self._output(post, code=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        post = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        archive = data.get("status") == Post.Status.ARCHIVED
        if archive:
            del data["status"]
        with transaction.atomic():
            if data or not archive:
                post = services.post_update(
                    post=post,
                    text=data.get("text", post.text),
                    variations=data.get("variations"),
                    thread_parts=data.get("thread_parts"),
                    expires_at=data.get("expires_at", post.expires_at),
                    status=data.get("status"),
                    labels=labels_resolve(workspace_id=post.workspace_id, ids=data["labels"])
                    if "labels" in data
                    else None,
                )
            if archive:
                post = services.post_archive(post=post)
        return self._output(post)

    def perform_destroy(self, instance):
        services.post_archive(post=instance)

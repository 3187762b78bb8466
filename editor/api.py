"""REST API: posts (list, retrieve, create = queue or pin, update, delete = archive), their
images (upload or by URL, alt text, remove), share now and pin. The writes are the web UI's
services (editor.services, posts.images)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch
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
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.api_scoping import (
    OWNERS_DELETE,
    VIEWER_MESSAGE,
    WorkspaceScopedViewSet,
    can_write,
    is_owner,
)
from channels.models import Channel, QueueEntry
from editor import services
from editor.serializers import (
    PostCommentSerializer,
    PostCreateSerializer,
    PostImageAddSerializer,
    PostImageAltSerializer,
    PostImageSerializer,
    PostPinSerializer,
    PostSerializer,
    PostShareSerializer,
    PostUpdateSerializer,
    ReviewChangesSerializer,
)
from ground.rest import Conflict, filter_channel, query_choices, query_int
from posts import comments, images, media, review
from posts.labels import labels_resolve
from posts.models import Post, PostImage
from publishing import removal
from scheduling.models import Timeslot
from scheduling.serializers import TimeslotSerializer


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
            OpenApiParameter(
                "review_state",
                OpenApiTypes.STR,
                description="draft, in_review, approved, changes_requested (comma-separated).",
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
        # Ties broken by id: a bulk import makes many posts in one instant, and a page
        # boundary among them must not show one twice or skip one.
        qs = Post.objects.order_by("-created_at", "-id")
        return qs.select_related("workspace", "author").prefetch_related(
            "variations",
            "images",
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
        if states := query_choices(params, "review_state", Post.ReviewState.choices):
            qs = qs.filter(review_state__in=states)
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
            acting_user=request.user,
            variations=data.get("variations") or (),
            thread_parts=data.get("thread_parts") or (),
            first_comment=data.get("first_comment") or "",
            first_comment_delay=data.get("first_comment_delay") or 0,
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
                    first_comment=data.get("first_comment"),
                    first_comment_delay=data.get("first_comment_delay"),
                    expires_at=data.get("expires_at", post.expires_at),
                    status=data.get("status"),
                    labels=labels_resolve(workspace_id=post.workspace_id, ids=data["labels"])
                    if "labels" in data
                    else None,
                    acting_user=request.user,
                )
            if archive:
                post = services.post_archive(post=post)
        return self._output(post)

    def perform_destroy(self, instance):
        services.post_archive(post=instance)

    @extend_schema(
        request=None,
        responses={204: None, 409: OpenApiResponse(description="It has been published.")},
    )
    @action(detail=True, methods=["post"], url_path="delete")
    def delete_unpublished(self, request, pk=None):
        """Delete the post for good (owners only, as in the web UI): its queue entries,
        pinned slots, variations and images go too. Refused with 409 once it has been
        published: archive it instead (DELETE /posts/{id}/), its history stays."""
        post = self.get_object()
        if not is_owner(request, post.workspace_id):
            raise PermissionDenied(OWNERS_DELETE)
        try:
            removal.post_delete(post=post)
        except DjangoValidationError as exc:
            raise Conflict(" ".join(exc.messages)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- Images ---------------------------------------------------------------------------

    @extend_schema(methods=["GET"], responses=PostImageSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request={
            "multipart/form-data": PostImageAddSerializer,
            "application/json": PostImageAddSerializer,
            "application/x-www-form-urlencoded": PostImageAddSerializer,
        },
        responses={201: PostImageSerializer},
        description="Add an image: upload it as `image` (multipart/form-data), or give `url` "
        "and the server downloads it (public addresses only, at most 15 MB, no redirect "
        "followed). Checked from its header at once (a refused image is a 400 saying why); "
        "then `processing` until a worker has re-encoded it (metadata removed), then "
        "`ready` or `failed`. A post with an image that is not ready cannot be queued, "
        "pinned or shared yet.",
    )
    @action(detail=True, methods=["get", "post"])
    def images(self, request, pk=None):
        post = self.get_object()
        if request.method == "GET":
            return Response(PostImageSerializer(post.images.all(), many=True).data)
        serializer = PostImageAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if upload := data.get("image"):
            name = upload.name or "image"
            try:
                media.check_size(upload.size or 0, filename=name)
            except media.ImageRefused as exc:
                raise ValidationError({"image": [str(exc)]}) from None
            try:
                image = images.post_image_add(
                    post=post, data=upload.read(), filename=name, alt_text=data["alt_text"]
                )
            except DjangoValidationError as exc:
                raise ValidationError({"image": exc.messages}) from None
        else:
            try:
                image = images.post_image_fetch(
                    post=post, url=data["url"], alt_text=data["alt_text"]
                )
            except DjangoValidationError as exc:
                raise ValidationError({"url": exc.messages}) from None
        return Response(PostImageSerializer(image).data, status=status.HTTP_201_CREATED)

    def _image(self, post: Post, image_id: str) -> PostImage:
        image = PostImage.objects.filter(post=post, id=int(image_id)).first()
        if image is None:
            raise NotFound("No such image on this post.")
        return image

    @extend_schema(methods=["PATCH"], request=PostImageAltSerializer, responses=PostImageSerializer)
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["patch", "delete"], url_path=r"images/(?P<image_id>[0-9]{1,18})")
    def image(self, request, pk=None, image_id=None):
        """PATCH: set an image's alt text. DELETE: remove it (the others move up)."""
        image = self._image(self.get_object(), image_id)
        if request.method == "DELETE":
            images.post_image_remove(image=image)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = PostImageAltSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            image = images.post_image_set_alt(
                image=image, alt_text=serializer.validated_data["alt_text"]
            )
        except DjangoValidationError as exc:
            raise ValidationError({"alt_text": exc.messages}) from None
        return Response(PostImageSerializer(image).data)

    # --- Share now, pin ---------------------------------------------------------------------

    def _channel(self, post: Post, ref: str) -> Channel:
        """A channel of the post's workspace by id or slug; any other is a 400 "unknown"."""
        qs = Channel.objects.filter(workspace_id=post.workspace_id)
        channel = (
            qs.filter(id=int(ref)).first()
            if ref.isascii() and ref.isdigit() and len(ref) <= 18
            else qs.filter(slug=ref).first()
        )
        if channel is None:
            raise ValidationError({"channel": [f"Unknown channel: {ref}."]})
        return channel

    def _slot_output(self, slot) -> Response:
        slot = Timeslot.objects.select_related("channel").get(pk=slot.pk)
        context = self.get_serializer_context()
        return Response(TimeslotSerializer(slot, context=context).data, status.HTTP_201_CREATED)

    @extend_schema(request=PostShareSerializer, responses={201: TimeslotSerializer})
    @action(detail=True, methods=["post"])
    def share(self, request, pk=None):
        """Share the post now on one channel: a pinned slot at this moment, published by the
        next worker (its text must fit every account of the channel)."""
        post = self.get_object()
        serializer = PostShareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = self._channel(post, serializer.validated_data["channel"])
        return self._slot_output(services.post_share(post=post, channel=channel))

    @extend_schema(request=PostPinSerializer, responses={201: TimeslotSerializer})
    @action(detail=True, methods=["post"])
    def pin(self, request, pk=None):
        """Pin the post to one time on one channel (besides its queues and other pins)."""
        post = self.get_object()
        serializer = PostPinSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        channel = self._channel(post, data["channel"])
        slot = services.post_pin(post=post, channel=channel, publish_at=data["publish_at"])
        return self._slot_output(slot)

    # --- Review and comments: approvers and commenters act here though they write no
    # post, so these actions let every member in and the services (posts.review,
    # posts.comments) decide, with 403 for a role that may not.

    @extend_schema(request=None, responses=PostSerializer)
    @action(detail=True, methods=["post"], url_path="submit", permission_classes=[IsAuthenticated])
    def submit_for_review(self, request, pk=None):
        """Submit a draft (or a post with changes requested) for review. Owners, editors."""
        post = self.get_object()
        return self._output(review.post_submit_for_review(post=post, user=request.user))

    @extend_schema(request=None, responses=PostSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def approve(self, request, pk=None):
        """Approve a post in review: slots may take it. Owners and approvers."""
        post = self.get_object()
        return self._output(review.post_approve(post=post, user=request.user))

    @extend_schema(request=ReviewChangesSerializer, responses=PostSerializer)
    @action(
        detail=True,
        methods=["post"],
        url_path="request-changes",
        permission_classes=[IsAuthenticated],
    )
    def request_changes(self, request, pk=None):
        """Send a post in review back with a note (it lands in the comments)."""
        post = self.get_object()
        data = ReviewChangesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._output(
            review.post_request_changes(
                post=post, user=request.user, note=data.validated_data["note"]
            )
        )

    @extend_schema(methods=["GET"], request=None, responses=PostCommentSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=PostCommentSerializer, responses={201: PostCommentSerializer}
    )
    @action(detail=True, methods=["get", "post"], permission_classes=[IsAuthenticated])
    def comments(self, request, pk=None):
        """The post's comments, oldest first; POST adds one (owners, editors, approvers)."""
        post = self.get_object()
        if request.method == "GET":
            rows = comments.comments_of(post=post)
            page = self.paginate_queryset(rows)
            if page is not None:
                return self.get_paginated_response(PostCommentSerializer(page, many=True).data)
            return Response(PostCommentSerializer(rows, many=True).data)
        data = PostCommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = comments.comment_create(
            post=post, user=request.user, text=data.validated_data["text"]
        )
        return Response(PostCommentSerializer(comment).data, status=status.HTTP_201_CREATED)

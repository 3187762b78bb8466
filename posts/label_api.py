"""REST API: a workspace's labels (`/api/v1/labels/`): everyone reads, owners and editors
write (posts.labels does the writing: checks and activity entry). A post's labels are
written through the posts endpoint (`labels`: ids)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.api_scoping import VIEWER_MESSAGE, WorkspaceScopedViewSet, can_write, roles_for
from accounts.models import Workspace
from posts import labels as services
from posts.models import MAX_LABEL_NAME, Label, LabelColor


class LabelSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Label
        fields = ["id", "workspace", "name", "color", "created_at"]
        read_only_fields = fields


class LabelWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=MAX_LABEL_NAME)
    color = serializers.ChoiceField(choices=LabelColor.choices, default=LabelColor.BLUE)
    workspace = serializers.SlugField(
        required=False,
        max_length=100,
        help_text="Workspace slug; needed when you belong to several workspaces (create only).",
    )


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("workspace", OpenApiTypes.STR, description="Slug.")]
    ),
    create=extend_schema(request=LabelWriteSerializer, responses={201: LabelSerializer}),
    update=extend_schema(request=LabelWriteSerializer, responses=LabelSerializer),
    partial_update=extend_schema(request=LabelWriteSerializer, responses=LabelSerializer),
)
class LabelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    """Coloured labels of your workspaces; the palette is fixed (see `color`)."""

    serializer_class = LabelSerializer
    pagination_class = None  # a workspace has a handful; every one fits a composer

    def base_queryset(self):
        return Label.objects.select_related("workspace").order_by("workspace_id", "name", "id")

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return LabelWriteSerializer
        return LabelSerializer

    def _workspace(self, slug: str | None) -> Workspace:
        roles = roles_for(self.request)
        if slug:
            workspace = Workspace.objects.filter(id__in=list(roles), slug=slug).first()
            if workspace is None:
                raise serializers.ValidationError(
                    {"workspace": f"Unknown workspace: {slug}. You are not a member of it."}
                )
            return workspace
        if len(roles) != 1:
            raise serializers.ValidationError(
                {"workspace": "You belong to several workspaces: say which one (its slug)."}
            )
        return Workspace.objects.get(id=next(iter(roles)))

    def _output(self, label: Label, code=status.HTTP_200_OK) -> Response:
        return Response(LabelSerializer(label, context=self.get_serializer_context()).data, code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        workspace = self._workspace(data.get("workspace"))
        if not can_write(request, workspace.id):
            raise PermissionDenied(VIEWER_MESSAGE)
        label = services.label_create(workspace=workspace, name=data["name"], color=data["color"])
        return self._output(label, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        label = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        label = services.label_update(
            label=label, name=data.get("name", label.name), color=data.get("color", label.color)
        )
        return self._output(label)

    def perform_destroy(self, instance):
        services.label_delete(label=instance)

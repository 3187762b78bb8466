"""REST API: results (read-only). /api/v1/results/deliveries/ and /api/v1/results/posts/<id>/.

Scoped like every viewset (accounts.api_scoping): another workspace's id is a 404.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.response import Response

from accounts.api_scoping import WorkspaceScopedViewSet
from ground.pagination import DeliveryPagination
from ground.rest import query_int
from posts.models import Post
from publishing.models import Delivery
from results.selectors import deliveries_with_results, post_deliveries
from results.serializers import DeliveryResultsSerializer, PostResultsSerializer


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter("post", OpenApiTypes.INT, description="Post id."),
            OpenApiParameter("account", OpenApiTypes.INT, description="Social account id."),
        ]
    )
)
class DeliveryResultsViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet
):
    """Each sent delivery's counts over time (snapshots at about +1 h, +24 h, +7 days)."""

    serializer_class = DeliveryResultsSerializer
    pagination_class = DeliveryPagination
    workspace_field = "timeslot__channel__workspace"

    def base_queryset(self):
        return deliveries_with_results(
            Delivery.objects.filter(status=Delivery.Status.SENT).order_by("-created_at", "-id")
        )

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        for name in ("post", "account"):
            if (value := query_int(params, name)) is not None:
                qs = qs.filter(**{f"{name}_id": value})
        return qs


class PostResultsViewSet(mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """A post's results: every sent delivery's counts and the sum of the latest ones."""

    serializer_class = PostResultsSerializer
    workspace_field = "workspace"

    def base_queryset(self):
        return Post.objects.only("id", "workspace_id")

    def retrieve(self, request, *args, **kwargs):
        post = self.get_object()
        deliveries = list(post_deliveries(post.id).filter(status=Delivery.Status.SENT))
        context = {**self.get_serializer_context(), "deliveries": deliveries}
        return Response(PostResultsSerializer(post, context=context).data)

"""REST API: a token for a username and password, the user's workspaces and their social
accounts (read-only)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api_scoping import WorkspaceScopedViewSet
from accounts.models import SocialAccount, Workspace
from accounts.providers import choices as provider_choices
from accounts.providers import names as provider_names
from accounts.serializers import SocialAccountSerializer, WorkspaceSerializer
from ground.rest import API_PARSERS, query_choices


class WorkspaceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """The workspaces you are a member of, with your role in each."""

    serializer_class = WorkspaceSerializer
    workspace_field = "id"
    lookup_field = "slug"

    def base_queryset(self):
        return Workspace.objects.all()

    def filter_list(self, qs, params):
        return qs

    def workspace_id_of(self, obj) -> int:
        return obj.id


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("workspace", OpenApiTypes.STR, description="Workspace slug."),
            OpenApiParameter(
                "provider",
                OpenApiTypes.STR,
                description="One or more of " + ", ".join(provider_names()) + " (comma-separated).",
            ),
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                description="active, needs_reconnect or disabled (comma-separated).",
            ),
        ]
    )
)
class SocialAccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet
):
    """Connected social accounts. Add them with accounts/connect/ (networks.api); disable
    or enable one as the accounts page does."""

    serializer_class = SocialAccountSerializer

    def base_queryset(self):
        return SocialAccount.objects.select_related("workspace").order_by(
            "provider", "handle", "id"
        )

    def filter_list(self, qs, params):
        qs = super().filter_list(qs, params)
        if providers := query_choices(params, "provider", provider_choices()):
            qs = qs.filter(provider__in=providers)
        if statuses := query_choices(params, "status", SocialAccount.Status.choices):
            qs = qs.filter(status__in=statuses)
        return qs

    def _set_status(self, status: str) -> Response:
        account = services.account_set_status(account=self.get_object(), status=status)
        return Response(
            SocialAccountSerializer(account, context=self.get_serializer_context()).data
        )

    @extend_schema(request=None, responses=SocialAccountSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        """Disable the account: no slot publishes to it until it is enabled."""
        return self._set_status(SocialAccount.Status.DISABLED)

    @extend_schema(request=None, responses=SocialAccountSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        """Enable the account again (its next delivery, or check, tells whether it works)."""
        return self._set_status(SocialAccount.Status.ACTIVE)


class ObtainToken(APIView):
    """Exchange a username and password for a new API token, shown only in this answer.

    The database keeps only the token's digest, so it cannot hand back an existing token:
    each call makes a new one and the person's previous token stops working. Throttled
    like every login (accounts.auth): the password check gets Django's request, not DRF's
    wrapper, so axes' lockout flag lands where its middleware looks for it.
    """

    # DRF's ObtainAuthToken, with the token made by our service instead of get_or_create.
    throttle_classes = ()
    permission_classes = ()
    parser_classes = API_PARSERS
    renderer_classes = (JSONRenderer,)
    serializer_class = AuthTokenSerializer

    def get_serializer(self, *args, **kwargs):
        request = getattr(self.request, "_request", self.request)
        kwargs.setdefault("context", {"request": request, "view": self})
        return self.serializer_class(*args, **kwargs)

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = services.api_token_create(user=serializer.validated_data["user"])
        return Response({"token": key}, headers={"Cache-Control": "no-store"})

"""REST API: a token for a username and password, the user's workspaces and their social
accounts (read-only), members and invitations (owners manage them; accounts.members checks
the role, as for the web pages)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import members, services
from accounts.api_scoping import WorkspaceScopedViewSet, roles_for
from accounts.models import Invitation, Membership, SocialAccount, Workspace
from accounts.providers import choices as provider_choices
from accounts.providers import names as provider_names
from accounts.serializers import (
    InvitationSerializer,
    MembershipSerializer,
    SocialAccountSerializer,
    WorkspaceSerializer,
)
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


class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    """The members of your workspaces. Owners change a member's `role` (PATCH) or remove
    them (DELETE: their sessions end and their API token stops working at once). The last
    owner cannot be demoted or removed (400). DELETE of your own membership leaves."""

    serializer_class = MembershipSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    # Reads are scoped like every viewset; every write goes through accounts.members, which
    # lets owners manage and anyone leave (a viewer too), so no role gate before it.
    permission_classes = [IsAuthenticated]

    def base_queryset(self):
        return Membership.objects.select_related("user", "workspace").order_by("id")

    def perform_update(self, serializer):
        members.member_set_role(
            actor=self.request.user,
            membership=serializer.instance,
            role=serializer.validated_data["role"],
        )

    def perform_destroy(self, instance):
        members.member_remove(actor=self.request.user, membership=instance)


class InvitationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    """Invitations of the workspaces you own (other members do not see them). POST invites
    an email address with a role (the email goes out in the background; the link is in the
    email only); POST .../resend/ sends a new link (the old one stops working) and 7 more
    days; DELETE revokes."""

    serializer_class = InvitationSerializer

    def base_queryset(self):
        return Invitation.objects.select_related("workspace").order_by("-created_at", "-id")

    def get_queryset(self):
        qs = super().get_queryset()
        owned = [w for w, role in roles_for(self.request).items() if role == Membership.Role.OWNER]
        return qs.filter(workspace_id__in=owned)

    def _workspace_for_create(self, slug: str | None) -> Workspace:
        owned = [w for w, role in roles_for(self.request).items() if role == Membership.Role.OWNER]
        qs = Workspace.objects.filter(id__in=list(roles_for(self.request)))
        if slug:
            workspace = qs.filter(slug=slug).first()
            if workspace is None:
                raise DjangoValidationError({"workspace": f"No workspace {slug!r} of yours."})
            return workspace
        if not owned:
            raise PermissionDenied(members.NOT_OWNER_MESSAGE)
        if len(owned) > 1:
            raise DjangoValidationError(
                {"workspace": "Name the workspace (its slug): you own more than one."}
            )
        return Workspace.objects.get(id=owned[0])

    def perform_create(self, serializer):
        data = serializer.validated_data
        workspace = self._workspace_for_create(data.get("workspace", {}).get("slug"))
        serializer.instance = members.invitation_create(
            actor=self.request.user,
            workspace=workspace,
            email=data["email"],
            role=data["role"],
            origin=self.request.build_absolute_uri("/").rstrip("/"),
        )

    def perform_destroy(self, instance):
        members.invitation_revoke(actor=self.request.user, invitation=instance)

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        invitation = members.invitation_resend(actor=request.user, invitation=self.get_object())
        return Response(self.get_serializer(invitation).data, status=status.HTTP_200_OK)

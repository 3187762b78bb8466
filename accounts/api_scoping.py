"""Workspace scoping for the REST API: roles, the permission, and the scoped viewset.

Every viewset sees only rows of the workspaces the token's user is a member of (invariant
4): a foreign id is simply not in the queryset, so it is a 404, never a 403 that would
reveal it exists. Viewers read; owners and editors write (403 otherwise). A Django
ValidationError raised by a service becomes a 400, like a serializer error (invariant 3).
Every unsafe call takes an `Idempotency-Key` (accounts.api_idempotency).
The app-free pieces (parsers, input fields, query helpers) are ground.rest.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated

from accounts.api_idempotency import IdempotentViewMixin
from accounts.models import Membership
from ground.rest import API_PARSERS, django_error_to_drf

WRITE_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.EDITOR})
VIEWER_MESSAGE = (
    "Your role in this workspace is viewer or approver: you can read but not change anything."
)


def roles_for(request) -> dict[int, str]:
    """{workspace_id: role} of the request's user; one query, cached on the request."""
    roles = getattr(request, "_queueloop_roles", None)
    if roles is None:
        user = request.user
        roles = (
            dict(Membership.objects.filter(user=user).values_list("workspace_id", "role"))
            if user and user.is_authenticated
            else {}
        )
        request._queueloop_roles = roles
    return roles


def can_write(request, workspace_id: int) -> bool:
    return roles_for(request).get(workspace_id) in WRITE_ROLES


class WorkspaceRolePermission(BasePermission):
    """Reads for members; writes only for owners and editors of the object's workspace."""

    message = VIEWER_MESSAGE

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return any(role in WRITE_ROLES for role in roles_for(request).values())

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return can_write(request, view.workspace_id_of(obj))


class WorkspaceScopedViewSet(IdempotentViewMixin, viewsets.GenericViewSet):
    """A viewset over one model, restricted to the user's workspaces.

    `workspace_field` is the lookup path from the model to its workspace
    ("workspace", "channel__workspace", "timeslot__channel__workspace").
    """

    permission_classes = [IsAuthenticated, WorkspaceRolePermission]
    parser_classes = API_PARSERS
    workspace_field = "workspace"

    def base_queryset(self):
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return self.base_queryset().none()
        ids = list(roles_for(self.request))
        qs = self.base_queryset().filter(**{f"{self.workspace_field}__in": ids})
        if self.action == "list":
            qs = self.filter_list(qs, self.request.query_params)
        return qs

    def filter_list(self, qs, params):
        """Filters from the query string (lists only); every viewset adds its own."""
        slug = params.get("workspace")
        if slug:
            qs = qs.filter(**{f"{self.workspace_field}__slug": slug})
        return qs

    def workspace_id_of(self, obj) -> int:
        *path, last = self.workspace_field.split("__")
        for name in path:
            obj = getattr(obj, name)
        return getattr(obj, f"{last}_id")

    def handle_exception(self, exc):
        if isinstance(exc, DjangoValidationError):
            exc = django_error_to_drf(exc)
        return super().handle_exception(exc)

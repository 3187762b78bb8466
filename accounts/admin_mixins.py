"""Workspace isolation for the Django admin, plus small display helpers.

Superusers see everything. Any other staff user sees only rows of the workspaces they are
a member of (invariant 4), whatever Django model permissions they hold:

- lists, change pages, actions and the delete cascade are scoped by `get_queryset`;
- foreign-key and many-to-many choices (selects, raw-id and autocomplete validation) are
  scoped the same way, so a form cannot point at another workspace's row;
- writing needs the role `write_roles` in the row's workspace (owner/editor by default;
  workspaces and memberships need owner): a viewer gets read-only pages.

Each model's path to its workspace is declared once, in WORKSPACE_PATHS.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.db import models
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import WRITE_ROLES as WRITE_ROLES_SET
from accounts.models import Membership

# model label -> lookup path from that model to accounts.Workspace ("" = it is a workspace).
WORKSPACE_PATHS: dict[str, str] = {
    "accounts.Workspace": "",
    "accounts.Membership": "workspace",
    "accounts.SocialAccount": "workspace",
    "accounts.Notice": "workspace",
    "accounts.Invitation": "workspace",
    "accounts.ActivityEntry": "workspace",
    "posts.Label": "workspace",
    "channels.Channel": "workspace",
    "channels.QueueEntry": "channel__workspace",
    "posts.Post": "workspace",
    "posts.Variation": "post__workspace",
    "posts.PostComment": "post__workspace",
    "scheduling.Schedule": "channel__workspace",
    "scheduling.Timeslot": "channel__workspace",
    "publishing.Delivery": "account__workspace",
    "publishing.SandboxPost": "account__workspace",
    "bulk.ImportJob": "workspace",
    "bulk.ChannelFeed": "channel__workspace",
    "integrations.Endpoint": "workspace",
    "integrations.EventDelivery": "endpoint__workspace",
    "results.Snapshot": "delivery__account__workspace",
    "results.Tracking": "delivery__account__workspace",
    # Users: the members of one's own workspaces (who can be an author or a member).
    settings.AUTH_USER_MODEL: "memberships__workspace",
}

READ_ROLES = tuple(Membership.Role.values)
WRITE_ROLES = tuple(WRITE_ROLES_SET)
OWNER_ROLES = (Membership.Role.OWNER,)


def workspace_path(model: type[models.Model]) -> str | None:
    """The lookup path to the workspace, or None for a model that has no workspace."""
    return WORKSPACE_PATHS.get(model._meta.label)


def member_workspace_ids(request, roles=READ_ROLES) -> frozenset[int]:
    """Ids of the workspaces where request.user has one of `roles` (cached per request)."""
    cache = request.__dict__.setdefault("_queueloop_workspace_ids", {})
    key = tuple(sorted(roles))
    if key not in cache:
        cache[key] = frozenset(
            Membership.objects.filter(user_id=request.user.pk, role__in=key).values_list(
                "workspace_id", flat=True
            )
        )
    return cache[key]


def scope_queryset(qs: models.QuerySet, request, roles=READ_ROLES) -> models.QuerySet:
    """Rows of `qs` in workspaces where the user has one of `roles`; everything for superusers.

    A model with no workspace (e.g. the planner's state) is superuser-only.
    """
    if request.user.is_superuser:
        return qs
    path = workspace_path(qs.model)
    if path is None:
        return qs.none()
    ids = member_workspace_ids(request, roles)
    lookup = f"{path}__in" if path else "pk__in"
    qs = qs.filter(**{lookup: ids})
    # A path through a reverse relation (users -> memberships) can repeat rows.
    if path and qs.model._meta.get_field(path.split("__")[0]).one_to_many:
        qs = qs.distinct()
    return qs


def object_workspace_id(obj: models.Model) -> int | None:
    """Follow WORKSPACE_PATHS from one object to its workspace id (None if it has none)."""
    path = workspace_path(type(obj))
    if path is None:
        return None
    if path == "":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop, None)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id", None)


class WorkspaceScopedMixin:
    """For ModelAdmin and InlineModelAdmin: see and write only one's own workspaces' rows."""

    # Roles that may add, change and delete here; any member may view.
    write_roles: tuple[str, ...] = WRITE_ROLES

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request)

    def get_field_queryset(self, db, db_field, request):
        qs = super().get_field_queryset(db, db_field, request)
        related = db_field.remote_field.model
        if request.user.is_superuser or workspace_path(related) is None:
            return qs
        if qs is None:
            qs = related._default_manager.using(db).all()
        # The choices are where this row may point: workspaces the user may write to.
        return scope_queryset(qs, request, self.write_roles)

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        # Once linked, the workspace is fixed (the model refuses a change in clean()).
        pinned = getattr(obj, "workspace_is_pinned", None)
        if pinned is not None and "workspace" not in fields and pinned():
            fields += ("workspace",)
        return fields

    def _may_write(self, request, obj) -> bool:
        if request.user.is_superuser or obj is None:
            return True
        workspace_id = object_workspace_id(obj)
        if workspace_id is None:
            return False
        return workspace_id in member_workspace_ids(request, self.write_roles)

    def has_add_permission(self, request, *args, **kwargs):
        if not super().has_add_permission(request, *args, **kwargs):
            return False
        if request.user.is_superuser:
            return True
        # An inline passes the parent object: adding under it means writing to it.
        obj = args[0] if args else kwargs.get("obj")
        if obj is not None and not self._may_write(request, obj):
            return False
        return bool(member_workspace_ids(request, self.write_roles))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_write(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_write(request, obj)

    def writable(self, request, queryset):
        """Narrow an action's queryset to rows the user may write (all for superusers)."""
        return scope_queryset(queryset, request, self.write_roles)


class WorkspaceScopedAdmin(WorkspaceScopedMixin, admin.ModelAdmin):
    pass


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A foreign-key filter offering only rows of the user's own workspaces.

    Unlike RelatedOnlyFieldListFilter it never scans the filtered (possibly huge) table;
    unlike the default it never lists another workspace's channels or accounts.
    """

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        related = field.remote_field.model
        allowed = scope_queryset(related._default_manager.all(), request)
        return field.get_choices(
            include_blank=False,
            limit_choices_to={"pk__in": allowed.values("pk")},
            ordering=ordering,
        )


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """For global rows that belong to no workspace (e.g. the planner's watermark)."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


def admin_url(model: type[models.Model] | models.Model, pk=None, *, action="change") -> str:
    opts = model._meta
    args = [] if action in ("changelist", "add") else [pk if pk is not None else model.pk]
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{action}", args=args)


def admin_link(obj: models.Model | None, text=None) -> str:
    """An HTML link to an object's admin change page (escaped), or "-" for None."""
    if obj is None:
        return "-"
    return format_html('<a href="{}">{}</a>', admin_url(obj), text if text is not None else obj)


def changelist_link(model: type[models.Model], text, **filters) -> str:
    """A link to a filtered admin changelist, e.g. a channel's timeslots."""
    from urllib.parse import urlencode

    url = admin_url(model, action="changelist")
    if filters:
        url = f"{url}?{urlencode(filters)}"
    return format_html('<a href="{}">{}</a>', url, text)


def external_link(url: str, text=None) -> str:
    """A link to an external http(s) URL, opened safely; anything else is shown as text."""
    if not url:
        return "-"
    if not url.startswith(("https://", "http://")):
        return format_html("{}", url)
    return format_html(
        '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, text or url
    )


def truncate(text: str, length: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


def count_subquery(model: type[models.Model], fk: str, **filters):
    """A correlated COUNT column for a list query: never one query per row."""
    rows = (
        model.objects.filter(**{fk: OuterRef("pk")}, **filters)
        .order_by()
        .values(fk)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)

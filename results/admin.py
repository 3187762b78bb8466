"""Read-only admin for the results: scoped to the member's workspaces (accounts.admin_mixins)."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_mixins import WorkspaceScopedAdmin
from results.models import Snapshot, Tracking


class _ReadOnly(WorkspaceScopedAdmin):
    raw_id_fields = ("delivery",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Snapshot)
class SnapshotAdmin(_ReadOnly):
    list_display = (
        "delivery",
        "age",
        "taken_at",
        "likes",
        "reposts",
        "replies",
        "quotes",
        "deleted",
    )
    list_filter = ("age", "deleted")
    date_hierarchy = "taken_at"


@admin.register(Tracking)
class TrackingAdmin(_ReadOnly):
    list_display = ("delivery", "state", "next_age", "due_at", "failures", "last_error")
    list_filter = ("state", "next_age")

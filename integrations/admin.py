"""Endpoints and their deliveries in the admin: records to look at (endpoints are added
and edited on the Webhooks page, where the address rules are checked)."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_mixins import WorkspaceScopedAdmin
from integrations.models import Endpoint, EventDelivery


@admin.register(Endpoint)
class EndpointAdmin(WorkspaceScopedAdmin):
    list_display = ("id", "url", "workspace", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "workspace__name")
    list_select_related = ("workspace",)
    # Never the secret.
    fields = ("workspace", "url", "description", "event_types", "is_active", "created_at")
    readonly_fields = ("workspace", "url", "description", "event_types", "created_at")

    def has_add_permission(self, request):
        return False


@admin.register(EventDelivery)
class EventDeliveryAdmin(WorkspaceScopedAdmin):
    workspace_field = "endpoint__workspace"
    list_display = ("id", "event", "endpoint", "status", "attempts", "next_attempt_at")
    list_filter = ("status",)
    list_select_related = ("event", "endpoint")
    readonly_fields = ("event", "endpoint", "attempts", "delivered_at", "lease_until", "created_at")

    def has_add_permission(self, request):
        return False

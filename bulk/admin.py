"""Imports and feeds in the admin: records to look at. Feeds are added on the channel's
Feeds page, where the address rules are checked; here they can only be switched off."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_mixins import WorkspaceScopedAdmin, admin_link, truncate
from bulk.models import ChannelFeed, ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(WorkspaceScopedAdmin):
    list_display = ("id", "filename", "workspace", "user", "status", "total", "done", "imported")
    list_display += ("errors", "created_at")
    list_filter = ("status",)
    search_fields = ("filename", "workspace__name", "user__username")
    list_select_related = ("workspace", "user")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChannelFeed)
class ChannelFeedAdmin(WorkspaceScopedAdmin):
    list_display = ("id", "url", "channel_link", "is_active", "last_polled_at", "error_short")
    list_filter = ("is_active",)
    search_fields = ("url", "channel__name", "last_error")
    list_select_related = ("channel",)
    fields = ("channel", "url", "is_active", "last_polled_at", "last_error", "etag", "modified")
    readonly_fields = ("channel", "url", "last_polled_at", "last_error", "etag", "modified")

    def has_add_permission(self, request):
        return False

    @admin.display(description="channel", ordering="channel__name")
    def channel_link(self, obj):
        return admin_link(obj.channel)

    @admin.display(description="last error")
    def error_short(self, obj):
        return truncate(obj.last_error, 60)

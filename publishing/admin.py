"""Deliveries and sandbox posts are records of what happened: viewable, never edited here.

Editing a delivery by hand would break at-most-once (a `sent` turned back to `pending`
would post twice), so both are read-only; deleting stays possible so that deleting a
channel or an account in the admin can cascade.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin_mixins import (
    ScopedRelatedFilter,
    WorkspaceScopedAdmin,
    admin_link,
    external_link,
    truncate,
)
from publishing.models import Delivery, SandboxPost


class ReadOnlyRecordAdmin(WorkspaceScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "id",
        "timeslot_link",
        "channel",
        "account_link",
        "status",
        "attempts",
        "text_short",
        "sent_at",
        "external",
        "last_error_short",
        "comment_status",
    )
    list_filter = ("status", "comment_status", ("account", ScopedRelatedFilter))
    search_fields = (
        "text",
        "external_id",
        "last_error",
        "account__handle",
        "timeslot__channel__name",
    )
    list_select_related = ("timeslot", "timeslot__channel", "account", "post")
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        # The account's credentials are never needed here: not even decrypted.
        return super().get_queryset(request).defer("account__credentials")

    @admin.display(description="timeslot", ordering="timeslot__publish_at")
    def timeslot_link(self, obj):
        return admin_link(
            obj.timeslot, f"#{obj.timeslot_id} {obj.timeslot.publish_at:%Y-%m-%d %H:%M}Z"
        )

    @admin.display(description="channel", ordering="timeslot__channel__name")
    def channel(self, obj):
        return admin_link(obj.timeslot.channel)

    @admin.display(description="account", ordering="account__handle")
    def account_link(self, obj):
        return admin_link(obj.account)

    @admin.display(description="text")
    def text_short(self, obj):
        return truncate(obj.text, 50)

    @admin.display(description="published")
    def external(self, obj):
        return external_link(obj.url, obj.external_id or "open")

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return truncate(obj.last_error, 60) or "-"


@admin.register(SandboxPost)
class SandboxPostAdmin(ReadOnlyRecordAdmin):
    list_display = ("created_at", "account_link", "text_short", "delivery_link", "timeline")
    list_filter = (("account", ScopedRelatedFilter),)
    search_fields = ("text", "account__handle")
    list_select_related = ("account", "delivery")
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("account__credentials")

    @admin.display(description="account", ordering="account__handle")
    def account_link(self, obj):
        return admin_link(obj.account)

    @admin.display(description="text")
    def text_short(self, obj):
        return truncate(obj.text, 80)

    @admin.display(description="delivery")
    def delivery_link(self, obj):
        return admin_link(obj.delivery, f"#{obj.delivery_id}") if obj.delivery_id else "-"

    @admin.display(description="timeline")
    def timeline(self, obj):
        url = reverse("sandbox_timeline", args=[obj.account_id])
        return format_html('<a href="{}">timeline</a>', url)

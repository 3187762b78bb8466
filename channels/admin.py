from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from accounts.admin_mixins import (
    ScopedRelatedFilter,
    WorkspaceScopedAdmin,
    WorkspaceScopedMixin,
    admin_link,
    changelist_link,
    count_subquery,
    truncate,
)
from channels.models import NAME_TAKEN, Channel, QueueEntry, channel_name_taken


class ChannelAdminForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = ("workspace", "name", "slug", "timezone", "mode", "is_paused", "accounts")

    def clean(self):
        cleaned = super().clean()
        # The workspace is read-only (not in cleaned_data) once the channel has links.
        workspace = cleaned.get("workspace") or getattr(self.instance, "workspace", None)
        # Django skips the name constraint when the workspace is read-only (not a form
        # field), and channel_save would then raise it as a 500: checked here.
        name = (cleaned.get("name") or "").strip()
        if workspace is not None and channel_name_taken(
            workspace_id=workspace.pk, name=name, exclude_id=self.instance.pk
        ):
            self.add_error("name", NAME_TAKEN)
        accounts = cleaned.get("accounts")
        if workspace is not None and accounts:
            foreign = [str(a) for a in accounts if a.workspace_id != workspace.pk]
            if foreign:
                self.add_error("accounts", f"Not accounts of {workspace}: {', '.join(foreign)}.")
        return cleaned


class QueueEntryAdminForm(forms.ModelForm):
    class Meta:
        model = QueueEntry
        fields = ("channel", "post", "position", "is_active", "max_publications")

    def clean(self):
        cleaned = super().clean()
        # In the channel's inline the channel is the parent, set on the instance.
        channel = cleaned.get("channel") or getattr(self.instance, "channel", None)
        post = cleaned.get("post")
        if channel is not None and post is not None and post.workspace_id != channel.workspace_id:
            self.add_error("post", "This post belongs to another workspace than the channel.")
        return cleaned


class QueueEntryInline(WorkspaceScopedMixin, admin.TabularInline):
    model = QueueEntry
    form = QueueEntryAdminForm
    extra = 0
    fields = (
        "post",
        "position",
        "is_active",
        "max_publications",
        "times_published",
        "last_published_at",
    )
    readonly_fields = ("times_published", "last_published_at")
    raw_id_fields = ("post",)
    ordering = ("position", "id")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("post")


@admin.register(Channel)
class ChannelAdmin(WorkspaceScopedAdmin):
    form = ChannelAdminForm
    list_display = (
        "name",
        "workspace_link",
        "timezone",
        "mode",
        "is_paused",
        "n_accounts",
        "queue",
        "schedules",
        "timeslots",
    )
    list_filter = ("is_paused", "mode", ("workspace", ScopedRelatedFilter))
    search_fields = ("name", "slug", "workspace__name", "workspace__slug")
    list_select_related = ("workspace",)
    autocomplete_fields = ("workspace",)
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("accounts",)
    readonly_fields = ("created_at",)
    inlines = (QueueEntryInline,)
    actions = ("pause_selected", "resume_selected")

    def get_queryset(self, request):
        from accounts.models import SocialAccount
        from scheduling.models import Schedule

        return (
            super()
            .get_queryset(request)
            .annotate(
                n_accounts_=count_subquery(SocialAccount.channels.through, "channel"),
                n_entries=count_subquery(QueueEntry, "channel", is_active=True),
                n_schedules=count_subquery(Schedule, "channel", is_active=True),
            )
        )

    def save_model(self, request, obj, form, change):
        # Through the service: a resume or a time-zone change re-plans the schedules.
        from scheduling.services import channel_save

        channel_save(channel=obj)

    @admin.display(description="workspace", ordering="workspace__name")
    def workspace_link(self, obj):
        return admin_link(obj.workspace)

    @admin.display(description="accounts", ordering="n_accounts_")
    def n_accounts(self, obj):
        return obj.n_accounts_

    @admin.display(description="active queue entries", ordering="n_entries")
    def queue(self, obj):
        return changelist_link(QueueEntry, obj.n_entries, channel__id__exact=obj.pk)

    @admin.display(description="active schedules", ordering="n_schedules")
    def schedules(self, obj):
        from scheduling.models import Schedule

        return changelist_link(Schedule, obj.n_schedules, channel__id__exact=obj.pk)

    @admin.display(description="timeslots")
    def timeslots(self, obj):
        from scheduling.models import Timeslot

        return changelist_link(Timeslot, "timeslots", channel__id__exact=obj.pk)

    def _set_paused(self, request, queryset, paused: bool) -> None:
        from scheduling.services import channel_save

        verb = "paused" if paused else "resumed"
        done, failed = [], []
        for channel in self.writable(request, queryset).filter(is_paused=not paused):
            channel.is_paused = paused
            try:
                channel_save(channel=channel)
            except ValidationError as exc:
                failed.append(f"{channel.name} ({'; '.join(exc.messages)})")
            else:
                done.append(channel.name)
        skipped = queryset.count() - len(done) - len(failed)
        if done:
            self.message_user(request, f"{len(done)} channel(s) {verb}: {', '.join(done)}.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} channel(s) left alone: already {verb} or not yours to change.",
                messages.WARNING,
            )
        if failed:
            self.message_user(
                request, f"Could not change: {', '.join(failed)}.", level=messages.ERROR
            )

    @admin.action(description="Pause selected channels (cancel their upcoming slots)")
    def pause_selected(self, request, queryset):
        self._set_paused(request, queryset, True)

    @admin.action(description="Resume selected channels (plan their schedules now)")
    def resume_selected(self, request, queryset):
        self._set_paused(request, queryset, False)


@admin.register(QueueEntry)
class QueueEntryAdmin(WorkspaceScopedAdmin):
    form = QueueEntryAdminForm
    list_display = (
        "id",
        "channel_link",
        "post_link",
        "position",
        "is_active",
        "times_published",
        "max_publications",
        "last_published_at",
    )
    list_filter = ("is_active", ("channel", ScopedRelatedFilter))
    search_fields = ("post__text", "channel__name", "channel__slug")
    list_select_related = ("channel", "post")
    autocomplete_fields = ("channel", "post")
    readonly_fields = ("times_published", "last_published_at", "created_at")
    ordering = ("channel", "position", "id")

    @admin.display(description="channel", ordering="channel__name")
    def channel_link(self, obj):
        return admin_link(obj.channel)

    @admin.display(description="post")
    def post_link(self, obj):
        return admin_link(obj.post, truncate(obj.post.text, 60))

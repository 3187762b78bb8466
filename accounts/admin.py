from __future__ import annotations

from django.contrib import admin

from accounts.admin_mixins import (
    OWNER_ROLES,
    ScopedRelatedFilter,
    SuperuserOnlyAdmin,
    WorkspaceScopedAdmin,
    WorkspaceScopedMixin,
    admin_link,
    changelist_link,
    count_subquery,
    truncate,
)
from accounts.models import (
    ActivityEntry,
    ApiToken,
    Invitation,
    MastodonApp,
    Membership,
    Notice,
    SocialAccount,
    Workspace,
)


class MembershipInline(WorkspaceScopedMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)
    write_roles = OWNER_ROLES

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    list_display = ("name", "slug", "members", "channels_link", "accounts", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)
    inlines = (MembershipInline,)
    write_roles = OWNER_ROLES

    def get_queryset(self, request):
        from channels.models import Channel

        return (
            super()
            .get_queryset(request)
            .annotate(
                n_members=count_subquery(Membership, "workspace"),
                n_channels=count_subquery(Channel, "workspace"),
                n_accounts=count_subquery(SocialAccount, "workspace"),
            )
        )

    def has_add_permission(self, request):
        # Creating a workspace writes to no existing one; the creator becomes its owner.
        return admin.ModelAdmin.has_add_permission(self, request)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            Membership.objects.get_or_create(
                workspace=obj, user=request.user, defaults={"role": Membership.Role.OWNER}
            )

    @admin.display(description="members", ordering="n_members")
    def members(self, obj):
        return obj.n_members

    @admin.display(description="channels", ordering="n_channels")
    def channels_link(self, obj):
        from channels.models import Channel

        return changelist_link(Channel, obj.n_channels, workspace__id__exact=obj.pk)

    @admin.display(description="accounts", ordering="n_accounts")
    def accounts(self, obj):
        return changelist_link(SocialAccount, obj.n_accounts, workspace__id__exact=obj.pk)


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdmin):
    list_display = ("user", "workspace_link", "role")
    list_filter = ("role", ("workspace", ScopedRelatedFilter))
    search_fields = ("user__username", "user__email", "workspace__name", "workspace__slug")
    list_select_related = ("user", "workspace")
    autocomplete_fields = ("user", "workspace")
    write_roles = OWNER_ROLES

    @admin.display(description="workspace", ordering="workspace__name")
    def workspace_link(self, obj):
        return admin_link(obj.workspace)


@admin.register(SocialAccount)
class SocialAccountAdmin(WorkspaceScopedAdmin):
    """Accounts without their secrets: credentials are never loaded, shown or editable here.

    The field is excluded from every form and deferred in every query, so the admin never
    even decrypts it; pages show only whether credentials are set. Reconnecting (new
    tokens) happens through the app's connect flow, not by pasting secrets into a form.
    """

    list_display = (
        "handle",
        "provider",
        "status",
        "workspace_link",
        "external_id",
        "last_checked_at",
        "last_error_short",
    )
    list_filter = ("provider", "status", ("workspace", ScopedRelatedFilter))
    search_fields = ("handle", "external_id", "workspace__name", "workspace__slug")
    list_select_related = ("workspace",)
    autocomplete_fields = ("workspace",)
    exclude = ("credentials",)
    readonly_fields = (
        "credentials_set",
        "last_checked_at",
        "reconnect_notified_at",
        "created_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("credentials")

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "credentials"]
        if obj is None:
            fields.remove("credentials_set")
        return fields

    @admin.display(description="credentials set", boolean=True)
    def credentials_set(self, obj):
        # Asks the database whether the decrypted value is non-empty without keeping it on
        # `obj`, so the form never has the secret to render.
        if obj is None or obj.pk is None:
            return False
        stored = SocialAccount.objects.filter(pk=obj.pk).values_list("credentials", flat=True)
        return bool(stored.first())

    @admin.display(description="workspace", ordering="workspace__name")
    def workspace_link(self, obj):
        return admin_link(obj.workspace)

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return truncate(obj.last_error, 80) or "-"


@admin.register(ActivityEntry)
class ActivityEntryAdmin(WorkspaceScopedAdmin):
    """Read-only for everyone, superusers too: the log is append-only (accounts.activity)."""

    list_display = ("at", "action", "actor_name", "source", "target", "workspace_link")
    list_filter = ("action", "source", ("workspace", ScopedRelatedFilter))
    search_fields = ("target", "actor_name")
    list_select_related = ("workspace",)
    date_hierarchy = "at"
    show_full_result_count = False

    def has_add_permission(self, request, *args, **kwargs):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="workspace", ordering="workspace__name")
    def workspace_link(self, obj):
        return admin_link(obj.workspace)


@admin.register(Notice)
class NoticeAdmin(WorkspaceScopedAdmin):
    list_display = ("created_at", "kind", "message_short", "workspace_link", "emailed_at")
    list_filter = (
        "kind",
        ("dismissed_at", admin.EmptyFieldListFilter),
        ("workspace", ScopedRelatedFilter),
    )
    search_fields = ("message", "workspace__name")
    list_select_related = ("workspace",)
    autocomplete_fields = ("workspace",)
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "emailed_at")

    @admin.display(description="message")
    def message_short(self, obj):
        return truncate(obj.message, 100)

    @admin.display(description="workspace", ordering="workspace__name")
    def workspace_link(self, obj):
        return admin_link(obj.workspace)


@admin.register(Invitation)
class InvitationAdmin(WorkspaceScopedAdmin):
    """Invitations are made, resent and revoked on the Members page (accounts.members sends
    the email after commit); the admin shows them and may revoke by deleting."""

    list_display = ("email", "role", "workspace_link", "created_at", "expires_at", "accepted_at")
    list_filter = (
        "role",
        ("accepted_at", admin.EmptyFieldListFilter),
        ("revoked_at", admin.EmptyFieldListFilter),
        ("workspace", ScopedRelatedFilter),
    )
    search_fields = ("email", "workspace__name")
    list_select_related = ("workspace",)
    exclude = ("version",)
    readonly_fields = (
        "workspace",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
        "email_sent_at",
        "email_attempts",
        "email_retry_at",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="workspace", ordering="workspace__name")
    def workspace_link(self, obj):
        return admin_link(obj.workspace)


@admin.register(MastodonApp)
class MastodonAppAdmin(admin.ModelAdmin):
    """Queue Loop's OAuth clients on Mastodon instances: shared by every workspace, so only
    superusers see them. The client secret is never loaded here. Deleting one makes the next
    connect on that instance register a new client (accounts already connected keep their
    tokens)."""

    list_display = ("instance_url", "redirect_uri", "client_id", "created_at")
    search_fields = ("instance_url",)
    exclude = ("secret",)
    readonly_fields = ("instance_url", "redirect_uri", "client_id", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("secret")

    def has_add_permission(self, request):
        return False

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(ApiToken)
class ApiTokenAdmin(SuperuserOnlyAdmin):
    """People's API tokens, by their first characters: the key itself is not stored (only
    its digest, never shown). Superusers may revoke one (delete); a person makes their own
    on the API tokens page, where it is shown once."""

    list_display = ("prefix_shown", "user", "created_at")
    search_fields = ("user__username", "user__email", "prefix")
    list_select_related = ("user",)
    fields = ("prefix_shown", "user", "created_at")
    readonly_fields = ("prefix_shown", "user", "created_at")

    @admin.display(description="token", ordering="prefix")
    def prefix_shown(self, obj):
        return f"{obj.prefix}…"

    def has_change_permission(self, request, obj=None):
        return False

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts.activity import activity_record
from accounts.admin_mixins import (
    ScopedRelatedFilter,
    WorkspaceScopedAdmin,
    WorkspaceScopedMixin,
    admin_link,
    changelist_link,
    count_subquery,
    truncate,
)
from accounts.models import ActivityAction
from ground import timebounds
from posts import labels as label_services
from posts.models import Label, Post, PostComment, Variation
from scheduling.services import post_archive


def _channels_of(post: Post | None):
    from channels.models import Channel

    if post is None or post.pk is None:
        return []
    return list(Channel.objects.filter(entries__post=post).distinct())


def _check_text(form: forms.ModelForm, text: str | None, post: Post | None) -> None:
    """The same check as compose: every network the post is queued on must accept it."""
    from editor.services import text_errors

    if text is None:
        return
    for error in text_errors(text=text, channels=_channels_of(post)):
        form.add_error("text", error)


class PostAdminForm(forms.ModelForm):
    class Meta:
        model = Post
        fields = ("workspace", "author", "text", "status", "expires_at")

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if "expires_at" in self.changed_data:
            timebounds.validate_moment(value)
        return value

    def clean(self):
        cleaned = super().clean()
        _check_text(self, cleaned.get("text"), self.instance)
        # The workspace is read-only (not in cleaned_data) once the post has links.
        workspace = cleaned.get("workspace") or getattr(self.instance, "workspace", None)
        author = cleaned.get("author")
        if workspace is not None and author is not None:
            if not author.memberships.filter(workspace=workspace).exists():
                self.add_error("author", f"{author} is not a member of {workspace}.")
        return cleaned


class VariationAdminForm(forms.ModelForm):
    class Meta:
        model = Variation
        fields = ("post", "text", "position")

    def clean(self):
        cleaned = super().clean()
        post = cleaned.get("post") or getattr(self.instance, "post", None)
        _check_text(self, cleaned.get("text"), post)
        return cleaned


class VariationInline(WorkspaceScopedMixin, admin.TabularInline):
    model = Variation
    form = VariationAdminForm
    extra = 0
    fields = ("position", "text")
    ordering = ("position", "id")


@admin.register(Post)
class PostAdmin(WorkspaceScopedAdmin):
    form = PostAdminForm
    list_display = (
        "id",
        "text_short",
        "status",
        "workspace_link",
        "author",
        "variations",
        "queues",
        "expires_at",
        "created_at",
    )
    list_display_links = ("id", "text_short")
    list_filter = (
        "status",
        ("expires_at", admin.EmptyFieldListFilter),
        ("workspace", ScopedRelatedFilter),
    )
    search_fields = ("text", "variations__text", "author__username", "workspace__name")
    list_select_related = ("workspace", "author")
    autocomplete_fields = ("workspace", "author")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at",)
    inlines = (VariationInline,)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        activity_record(
            workspace_id=obj.workspace_id,
            action=ActivityAction.POST_EDITED if change else ActivityAction.POST_CREATED,
            post=obj,
        )
        if "status" in form.changed_data and obj.status == Post.Status.ARCHIVED:
            # The same archive as the web form and the API: pinned slots are canceled too.
            post_archive(post=obj)

    def get_queryset(self, request):
        from channels.models import QueueEntry

        return (
            super()
            .get_queryset(request)
            .annotate(
                n_variations=count_subquery(Variation, "post"),
                n_queues=count_subquery(QueueEntry, "post", is_active=True),
            )
        )

    @admin.display(description="text", ordering="text")
    def text_short(self, obj):
        return truncate(obj.text, 70)

    @admin.display(description="workspace", ordering="workspace__name")
    def workspace_link(self, obj):
        return admin_link(obj.workspace)

    @admin.display(description="variations", ordering="n_variations")
    def variations(self, obj):
        return obj.n_variations

    @admin.display(description="in queues", ordering="n_queues")
    def queues(self, obj):
        from channels.models import QueueEntry

        return changelist_link(QueueEntry, obj.n_queues, post__id__exact=obj.pk)


@admin.register(Variation)
class VariationAdmin(WorkspaceScopedAdmin):
    form = VariationAdminForm
    list_display = ("id", "text_short", "post_link", "position")
    search_fields = ("text", "post__text")
    list_select_related = ("post",)
    autocomplete_fields = ("post",)
    ordering = ("post", "position", "id")

    @admin.display(description="text", ordering="text")
    def text_short(self, obj):
        return truncate(obj.text, 70)

    @admin.display(description="post")
    def post_link(self, obj):
        return admin_link(obj.post, truncate(obj.post.text, 50))


@admin.register(PostComment)
class PostCommentAdmin(WorkspaceScopedAdmin):
    """A post's comments, for looking up a thread; written in the app (mentions notify)."""

    list_display = ("id", "text_short", "post_link", "author", "is_review_note", "created_at")
    list_filter = ("is_review_note",)
    search_fields = ("text", "post__text", "author__username")
    list_select_related = ("post", "author")
    readonly_fields = ("post", "author", "is_review_note", "created_at")
    fields = ("post", "author", "text", "is_review_note", "created_at")

    def has_add_permission(self, request):
        return False

    @admin.display(description="text", ordering="text")
    def text_short(self, obj):
        return truncate(obj.text, 70)

    @admin.display(description="post")
    def post_link(self, obj):
        return admin_link(obj.post, truncate(obj.post.text, 50))


@admin.register(Label)
class LabelAdmin(WorkspaceScopedAdmin):
    """Labels are written through posts.labels (its checks and its activity entry)."""

    list_display = ("name", "color", "workspace_link")
    list_filter = (("workspace", ScopedRelatedFilter),)
    search_fields = ("name",)
    list_select_related = ("workspace",)
    fields = ("workspace", "name", "color")

    def save_model(self, request, obj, form, change):
        from django.core.exceptions import ValidationError

        try:
            if change:
                label_services.label_update(label=obj, name=obj.name, color=obj.color)
            else:
                saved = label_services.label_create(
                    workspace=obj.workspace, name=obj.name, color=obj.color
                )
                obj.pk = saved.pk
        except ValidationError as exc:  # checked again by the service: a message, not a 500
            from django.contrib import messages

            messages.error(request, "; ".join(exc.messages))

    def delete_model(self, request, obj):
        label_services.label_delete(label=obj)

    @admin.display(description="workspace", ordering="workspace__name")
    def workspace_link(self, obj):
        return admin_link(obj.workspace)

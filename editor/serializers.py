"""API representations of posts, and the input of POST /api/v1/posts/ (queue or pin).

Channels are named by slug, as `curl --data channels=tech` users type them. A slug is
unique only inside a workspace, so `workspace` (a slug) picks one when the user belongs to
several workspaces that have a channel of that name.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_scoping import roles_for
from accounts.models import Workspace
from channels.models import Channel, QueueEntry
from editor.services import clean_thread_parts, comment_errors, text_errors, thread_errors
from ground import timebounds
from ground.rest import AwareDateTimeField, StringListField, WallClockDateTimeField
from posts import media
from posts.labels import MAX_LABELS_PER_POST
from posts.models import (
    MAX_COMMENT_DELAY,
    MAX_TEXT,
    MAX_THREAD_PARTS,
    MAX_VARIATIONS,
    Label,
    Post,
    PostComment,
    PostImage,
)
from scheduling.models import Timeslot
from scheduling.rules import localize
from scheduling.serializers import reason_code_field

MAX_CHANNELS = 100


class QueueEntrySummarySerializer(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    channel_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = QueueEntry
        fields = [
            "channel",
            "channel_id",
            "position",
            "is_active",
            "times_published",
            "last_published_at",
            "max_publications",
        ]
        read_only_fields = fields


class PinnedTimeslotSerializer(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    channel_id = serializers.IntegerField(read_only=True)
    timezone = serializers.CharField(source="channel.timezone", read_only=True)
    publish_at_local = serializers.SerializerMethodField(
        help_text="publish_at in the channel's time zone (ISO 8601 with its offset)."
    )
    reason_code = reason_code_field()

    class Meta:
        model = Timeslot
        fields = [
            "id",
            "channel",
            "channel_id",
            "publish_at",
            "timezone",
            "publish_at_local",
            "status",
            "reason_code",
            "reason",
        ]
        read_only_fields = fields

    def get_publish_at_local(self, obj: Timeslot) -> str:
        return obj.publish_at.astimezone(obj.channel.tz).isoformat()


class PostImageSerializer(serializers.ModelSerializer):
    class Meta:
        model = PostImage
        fields = [
            "id",
            "position",
            "alt_text",
            "content_type",
            "width",
            "height",
            "status",
            "failure_reason",
            "created_at",
        ]
        read_only_fields = fields


class LabelSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "color"]
        read_only_fields = fields


def _labels_field() -> serializers.ListField:
    return StringListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=MAX_LABELS_PER_POST,
        help_text="Label ids of the post's workspace (GET /api/v1/labels/); on an update, the "
        "post's labels become exactly these ([] removes them all).",
    )


class PostSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    labels = LabelSummarySerializer(many=True, read_only=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    variations = serializers.SerializerMethodField()
    queue = QueueEntrySummarySerializer(source="entries", many=True, read_only=True)
    pinned = PinnedTimeslotSerializer(source="pinned_timeslots", many=True, read_only=True)
    images = serializers.SerializerMethodField(help_text="Its images, in order (at most 4).")

    class Meta:
        model = Post
        fields = [
            "id",
            "workspace",
            "author",
            "text",
            "variations",
            "thread_parts",
            "first_comment",
            "first_comment_delay",
            "images",
            "status",
            "expires_at",
            "created_at",
            "queue",
            "pinned",
            "needs_approval",
            "review_state",
            "reviewed_at",
            "labels",
        ]
        read_only_fields = fields

    def get_variations(self, obj: Post) -> list[str]:
        return [v.text for v in obj.variations.all()]

    @extend_schema_field(PostImageSerializer(many=True))
    def get_images(self, obj: Post) -> list[dict]:
        return PostImageSerializer(obj.images.all(), many=True).data


class ReviewChangesSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=5000, help_text="What should change; it lands in the post's comments."
    )


class PostCommentSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    text = serializers.CharField(
        max_length=5000, help_text="The note; @username tells that member of the workspace."
    )

    class Meta:
        model = PostComment
        fields = ["id", "author", "text", "is_review_note", "created_at"]
        read_only_fields = ["id", "author", "is_review_note", "created_at"]


def _text_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=MAX_TEXT, **kwargs)


def _thread_field() -> StringListField:
    return StringListField(
        child=_text_field(allow_blank=True),
        required=False,
        max_length=MAX_THREAD_PARTS - 1,
        help_text="Make the post a thread: the parts after `text`, each posted as a reply to "
        "the one before (each within every network's limit).",
    )


def _first_comment_field() -> serializers.CharField:
    return serializers.CharField(
        max_length=MAX_TEXT,
        required=False,
        allow_blank=True,
        help_text="Posted as a reply under the post (links, hashtags) on the networks that "
        "have comments (X, Mastodon, Bluesky, the sandbox...), within each one's limit; the "
        "others never get it. Empty: none.",
    )


def _first_comment_delay_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_COMMENT_DELAY,
        help_text=f"Minutes between the post and its first comment: 0 (right after, the "
        f"default) to {MAX_COMMENT_DELAY}.",
    )


def _variations_field() -> StringListField:
    return StringListField(
        child=_text_field(allow_blank=True),
        required=False,
        max_length=MAX_VARIATIONS,
        help_text="Alternative texts, rotated on each loop (X refuses repeated identical text).",
    )


class PostCreateSerializer(serializers.Serializer):
    """Create a post and queue it in its channels, or pin it to `publish_at` on each. The
    original dispatcher's field names are taken too: `message` for `text`, `time` for
    `publish_at` (its old scripts change only the URL and add the token)."""

    ALIASES = {"message": "text", "time": "publish_at"}

    def to_internal_value(self, data):
        given = [alias for alias in self.ALIASES if alias in data]
        if given:
            data = data.copy()  # a QueryDict (form data) is immutable
            for alias in given:
                field = self.ALIASES[alias]
                if field in data:
                    raise serializers.ValidationError(
                        {alias: [f"Give `{field}` or `{alias}` (its old name), not both."]}
                    )
                data[field] = data[alias]
                del data[alias]
        return super().to_internal_value(data)

    text = _text_field()
    channels = StringListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=MAX_CHANNELS,
        split_commas=True,
        help_text="Channel slugs. In form data repeat the field (channels=a&channels=b) or "
        "separate with commas.",
    )
    variations = _variations_field()
    thread_parts = _thread_field()
    first_comment = _first_comment_field()
    first_comment_delay = _first_comment_delay_field()
    labels = _labels_field()
    publish_at = WallClockDateTimeField(
        required=False,
        allow_null=True,
        help_text="Pin the post to this time instead of queueing it: ISO 8601 with an offset "
        "(2026-12-01T13:30:00+01:00, ...Z), or without one (2026-12-01 13:30:00) for that "
        "wall-clock time in each channel's own time zone (a time skipped by a DST change "
        "moves forward by the gap; a repeated one means the first). In form data a raw "
        "'+01:00' arrives as ' 01:00' and is read as '+01:00'.",
    )
    expires_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="Never publish the post after this moment."
    )
    status = serializers.ChoiceField(
        choices=[Post.Status.READY, Post.Status.DRAFT], default=Post.Status.READY
    )
    workspace = serializers.SlugField(
        required=False,
        max_length=100,
        help_text="Workspace slug; needed only when your channels' slugs are ambiguous or "
        "you belong to several workspaces and give no channel.",
    )

    def validate(self, attrs):
        roles = roles_for(self.context["request"])
        slugs = list(dict.fromkeys(attrs.get("channels") or []))
        workspace = None
        if slug := attrs.get("workspace"):
            workspace = Workspace.objects.filter(id__in=list(roles), slug=slug).first()
            if workspace is None:
                raise serializers.ValidationError(
                    {"workspace": f"Unknown workspace: {slug}. You are not a member of it."}
                )
        channels = self._resolve_channels(slugs, roles=roles, workspace=workspace)
        if channels:
            workspace = Workspace.objects.get(id=channels[0].workspace_id)
        elif workspace is None:
            if len(roles) != 1:
                raise serializers.ValidationError(
                    {"workspace": "You belong to several workspaces: say which one (its slug)."}
                )
            workspace = Workspace.objects.get(id=next(iter(roles)))
        if attrs.get("publish_at") is not None and not channels:
            raise serializers.ValidationError(
                {"publish_at": "Pick at least one channel to pin the post to."}
            )
        self._check_texts(attrs, channels)
        publish_at = attrs.get("publish_at")
        if publish_at is not None and timezone.is_naive(publish_at):
            # A wall-clock time: its instant differs per channel zone (same DST rule as
            # the schedules). Each channel gets its own instant, bounded like any other.
            try:
                for channel in channels:
                    timebounds.validate_wall_time_in(publish_at, channel.tz)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"publish_at": exc.messages}) from None
            attrs["publish_at"] = None
            attrs["publish_at_by_channel"] = {c.id: localize(publish_at, c.tz) for c in channels}
        attrs["workspace"] = workspace
        attrs["channels"] = channels
        return attrs

    def _resolve_channels(self, slugs, *, roles, workspace) -> list[Channel]:
        if not slugs:
            return []
        qs = Channel.objects.filter(slug__in=slugs)
        qs = (
            qs.filter(workspace=workspace) if workspace else qs.filter(workspace_id__in=list(roles))
        )
        by_slug: dict[str, list[Channel]] = {}
        for channel in qs.select_related("workspace"):
            by_slug.setdefault(channel.slug, []).append(channel)
        unknown = [s for s in slugs if s not in by_slug]
        if unknown:
            raise serializers.ValidationError(
                {"channels": f"Unknown channel(s): {', '.join(unknown)}."}
            )
        ambiguous = sorted(s for s, found in by_slug.items() if len(found) > 1)
        if ambiguous:
            names = sorted({c.workspace.slug for s in ambiguous for c in by_slug[s]})
            raise serializers.ValidationError(
                {
                    "channels": f"Channel(s) {', '.join(ambiguous)} exist in several of your "
                    f"workspaces ({', '.join(names)}): pass workspace to pick one."
                }
            )
        channels = [by_slug[s][0] for s in slugs]
        if len({c.workspace_id for c in channels}) > 1:
            raise serializers.ValidationError(
                {"channels": "These channels belong to different workspaces: one post each."}
            )
        return channels

    def _check_texts(self, attrs, channels) -> None:
        errors: dict[str, list[str]] = {}
        if not attrs["text"].strip():
            errors["text"] = ["The text is empty."]
        elif problems := text_errors(text=attrs["text"], channels=channels):
            errors["text"] = problems
        variations = [v for v in attrs.get("variations") or [] if v.strip()]
        for index, text in enumerate(variations, start=1):
            for problem in text_errors(text=text, channels=channels):
                errors.setdefault("variations", []).append(f"Variation {index}: {problem}")
        parts = clean_thread_parts(attrs.get("thread_parts") or [])
        if problems := thread_errors(parts=parts, channels=channels):
            errors["thread_parts"] = problems
        comment = (attrs.get("first_comment") or "").strip()
        delay = attrs.get("first_comment_delay", 0)
        if problems := comment_errors(comment=comment, delay=delay, channels=channels):
            errors["first_comment"] = problems
        if errors:
            raise serializers.ValidationError(errors)


class PostUpdateSerializer(serializers.Serializer):
    """Edit a post's text, variations, expiry or status (archived leaves every queue)."""

    text = _text_field()
    variations = _variations_field()
    thread_parts = _thread_field()
    first_comment = _first_comment_field()
    first_comment_delay = _first_comment_delay_field()
    expires_at = AwareDateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=Post.Status.choices, required=False)
    labels = _labels_field()


# --- Images, share now, pin (editor.api) ---------------------------------------------------


class PostImageAddSerializer(serializers.Serializer):
    """One image: a file (multipart/form-data) or a URL the server downloads."""

    image = serializers.FileField(
        required=False,
        allow_empty_file=True,
        help_text="The image file (JPEG, PNG, GIF or WebP; multipart/form-data).",
    )
    url = serializers.CharField(
        required=False,
        max_length=500,
        help_text="Or an http(s) URL to download it from (public addresses only, no "
        "redirects followed).",
    )
    alt_text = serializers.CharField(
        required=False, allow_blank=True, max_length=media.MAX_ALT_TEXT, default=""
    )

    def validate(self, attrs):
        if bool(attrs.get("image")) == bool(attrs.get("url")):
            raise serializers.ValidationError(
                {"image": ["Send one image: a file in `image`, or its address in `url`."]}
            )
        return attrs


class PostImageAltSerializer(serializers.Serializer):
    alt_text = serializers.CharField(allow_blank=True, max_length=media.MAX_ALT_TEXT)


class PostShareSerializer(serializers.Serializer):
    channel = serializers.CharField(max_length=100, help_text="Channel id or slug.")


class PostPinSerializer(serializers.Serializer):
    channel = serializers.CharField(max_length=100, help_text="Channel id or slug.")
    publish_at = AwareDateTimeField(help_text="When: ISO 8601 with an offset.")

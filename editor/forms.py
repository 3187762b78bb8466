"""The compose/edit form. It only coordinates: every rule (length per network, workspace,
archived posts, times in the past) is enforced by editor.services / scheduling.services, and
their ValidationError lands on the form with nothing saved."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from accounts.models import SocialAccount, Workspace
from channels.models import Channel
from channels.services import post_queues_set
from editor import services
from ground import timebounds
from ground.validation import error_messages
from ground.zones import iana_zone_names
from networks import registry
from posts import media
from posts.images import post_image_add
from posts.models import MAX_COMMENT_DELAY, MAX_TEXT, Label, Post
from scheduling.rules import localize
from scheduling.services import timeslot_pin

EXTRA_VARIATION_ROWS = 2
MIN_VARIATION_ROWS = 3
ARCHIVED_CHOICE = (Post.Status.ARCHIVED, "Archived (never published again)")
DATETIME_LOCAL = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


@dataclass(frozen=True)
class Upload:
    """An image chosen in the composer, with the alt text typed beside it."""

    file: UploadedFile
    alt_text: str = ""


def uploads_from(request) -> list[Upload]:
    """The composer's images (`images`, repeatable) paired with their alt texts
    (`image_alt`, one per image, in the same order)."""
    alts = request.POST.getlist("image_alt")
    files = request.FILES.getlist("images")
    return [Upload(f, alts[i] if i < len(alts) else "") for i, f in enumerate(files)]


def _attach(post: Post, images: Sequence[Upload]) -> None:
    """Add the uploads as the post's next images; the first refused one refuses them all
    (the caller's transaction rolls back the post too)."""
    for upload in images:
        name = upload.file.name or "image"
        try:
            media.check_size(upload.file.size or 0, filename=name)
        except media.ImageRefused as exc:
            raise ValidationError(str(exc)) from None
        post_image_add(post=post, data=upload.file.read(), filename=name, alt_text=upload.alt_text)


class ListWidget(forms.Widget):
    """Several inputs sharing one name (the variation rows); rendered by the template."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])


class VariationsField(forms.Field):
    widget = ListWidget

    def to_python(self, value) -> list[str]:
        return [v.strip() for v in (value or []) if v and v.strip()]


class PostForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "What do you want to share?"}),
        strip=False,
        max_length=MAX_TEXT,
    )
    variations = VariationsField(
        required=False,
        help_text="Alternative texts used on later loops: X rejects a repeated identical post.",
    )
    thread = forms.CharField(
        required=False,
        strip=False,
        max_length=MAX_TEXT * 5,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Thread",
        help_text="More parts, each posted as a reply to the one before. Put a "
        "line holding only --- between parts.",
    )
    first_comment = forms.CharField(
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="First comment",
        help_text="Posted as a reply under the post (links, hashtags), on the networks that "
        "have comments.",
    )
    first_comment_delay = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_COMMENT_DELAY,
        initial=0,
        label="Minutes after the post",
        help_text=f"0 posts it right after the post; at most {MAX_COMMENT_DELAY}.",
    )
    channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    labels = forms.ModelMultipleChoiceField(
        queryset=Label.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    status = forms.ChoiceField(
        choices=[(Post.Status.READY, "Ready"), (Post.Status.DRAFT, "Draft (not published)")],
        initial=Post.Status.READY,
        widget=forms.RadioSelect,
    )
    pin_at = forms.DateTimeField(
        required=False,
        input_formats=DATETIME_LOCAL,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="Pin to a time",
        validators=[timebounds.validate_wall_time],
        help_text="Publish once at this time instead of joining the queue.",
    )
    # Set by a calendar link (?pin_at=…&tz=…): the pin time is read in the calendar's zone,
    # so the time clicked stays that time whichever channels are ticked.
    pin_tz = forms.CharField(required=False, widget=forms.HiddenInput)
    expires_at = forms.DateTimeField(
        required=False,
        input_formats=DATETIME_LOCAL,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="Stop publishing after",
        validators=[timebounds.validate_wall_time],
    )

    def __init__(self, *args, workspace: Workspace, post: Post | None = None, **kwargs):
        self.workspace = workspace
        self.post = post
        if post is not None and "initial" not in kwargs:
            zone = self._zone_for(self._current_channels(post))
            kwargs["initial"] = {
                "text": post.text,
                "variations": [v.text for v in post.variations.all()],
                "thread": f"\n{services.THREAD_SEPARATOR}\n".join(post.thread_parts or []),
                "first_comment": post.first_comment,
                "first_comment_delay": post.first_comment_delay,
                "channels": self._current_channels(post),
                "labels": list(post.labels.all()),
                "status": post.status,
                "expires_at": post.expires_at.astimezone(zone).replace(tzinfo=None)
                if post.expires_at
                else None,
            }
        super().__init__(*args, **kwargs)
        self.fields["channels"].queryset = Channel.objects.filter(workspace=workspace).order_by(
            "name"
        )
        # Only this workspace's labels can be ticked (another's id is an invalid choice).
        self.fields["labels"].queryset = Label.objects.filter(workspace=workspace)
        if post is not None:
            self.fields["status"].choices = [*self.fields["status"].choices, ARCHIVED_CHOICE]

    # --- helpers for the template and for saving ---------------------------------------

    @staticmethod
    def _current_channels(post: Post) -> list[Channel]:
        return [e.channel for e in post.entries.all() if e.is_active]

    @staticmethod
    def _zone_for(channels) -> dt.tzinfo:
        channels = sorted(channels, key=lambda c: c.name)
        return channels[0].tz if channels else dt.UTC

    def channel_networks(self) -> str:
        """JSON {channel id: [network names]} of the enabled accounts of each channel, for
        the header counter's label (compose.js names the ticked channels' networks). One
        query; the workspace's channels are few."""
        links = Channel.accounts.through.objects.filter(channel__workspace=self.workspace).exclude(
            socialaccount__status=SocialAccount.Status.DISABLED
        )
        networks: dict[int, list[str]] = {}
        for channel_id, provider in links.values_list("channel_id", "socialaccount__provider"):
            name = registry.short_name(provider)
            if name not in networks.setdefault(channel_id, []):
                networks[channel_id].append(name)
        return json.dumps(networks)

    def variation_rows(self) -> list[str]:
        if self.is_bound:
            values = [v for v in self.data.getlist("variations") if v.strip()]
        else:
            values = list(self.initial.get("variations") or [])
        rows = max(MIN_VARIATION_ROWS, len(values) + (EXTRA_VARIATION_ROWS if values else 0))
        return values + [""] * (rows - len(values))

    def pin_zone(self) -> str:
        if hasattr(self, "cleaned_data"):
            return self.cleaned_data.get("pin_tz", "")
        return self.initial.get("pin_tz", "")

    def clean_pin_tz(self) -> str:
        name = self.cleaned_data["pin_tz"]
        if name and name not in iana_zone_names():
            raise ValidationError("Unknown time zone.")
        return name

    def zone_name(self) -> str:
        if self.pin_zone():
            return self.pin_zone()
        channels = self.cleaned_data.get("channels") if hasattr(self, "cleaned_data") else None
        if channels is None:
            channels = self.initial.get("channels") or []
        zone = self._zone_for(channels)
        return str(zone) if zone is not dt.UTC else "UTC"

    def _aware(self, value: dt.datetime | None, *, zone: str = "") -> dt.datetime | None:
        if value is None:
            return None
        # Read the datetime-local input as wall time in the first chosen channel's zone.
        tz = ZoneInfo(zone) if zone else self._zone_for(self.cleaned_data["channels"])
        return localize(value.replace(tzinfo=None), tz)

    def clean_first_comment_delay(self) -> int:
        return self.cleaned_data.get("first_comment_delay") or 0

    def clean_thread(self) -> list[str]:
        return services.split_thread(self.cleaned_data.get("thread") or "")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("pin_at") and not data.get("channels"):
            self.add_error("channels", "Choose the channel(s) to pin the post to.")
        return data

    # --- saving ------------------------------------------------------------------------

    def save(self, *, author, share_now: bool = False, images: Sequence[Upload] = ()) -> Post:
        """Create or update the post through the services, then attach `images` (uploads
        with their alt text) through posts.images.post_image_add, bounded and processed in
        the background. On a ValidationError the form gets the messages and the
        transaction is rolled back (nothing saved)."""
        data = self.cleaned_data
        channels = list(data["channels"])
        if share_now and not channels:
            self.add_error("channels", "Choose the channel(s) to share the post to.")
            raise ValidationError("no channel")
        if share_now and images:
            # An image is ready only once a worker has processed it: "now" would not wait.
            self.add_error(
                None,
                "New images are processed first: add the post to the queue or pin it, "
                "or share it now once its images are ready.",
            )
            raise ValidationError("images not ready")
        publish_at = (
            timezone.now() if share_now else self._aware(data.get("pin_at"), zone=self.pin_zone())
        )
        try:
            with transaction.atomic():
                post = self._save(channels, publish_at, author)
                _attach(post, images)
                return post
        except ValidationError as exc:
            for message in error_messages(exc):
                self.add_error(None, message)
            raise

    def _save(self, channels: list[Channel], publish_at: dt.datetime | None, author) -> Post:
        data = self.cleaned_data
        if self.post is None:
            return services.post_create(
                workspace=self.workspace,
                text=data["text"],
                channels=channels,
                author=author,
                acting_user=author,
                variations=data["variations"],
                thread_parts=data["thread"],
                status=data["status"],
                expires_at=self._aware(data.get("expires_at")),
                publish_at=publish_at,
                first_comment=data["first_comment"],
                first_comment_delay=data["first_comment_delay"],
                labels=list(data.get("labels") or []),
            )
        return self._update(channels, publish_at, author)

    def _update(self, channels: list[Channel], publish_at: dt.datetime | None, author) -> Post:
        data = self.cleaned_data
        post = self.post
        current = {e.channel_id: e for e in post.entries.all()}
        # post_update checks the channels the post is queued in; the channels it newly
        # joins or is pinned to must accept the texts too.
        targets = (
            channels
            if publish_at is not None
            else [c for c in channels if c.id not in current or not current[c.id].is_active]
        )
        texts = [("Text", data["text"])] + [
            (f"Variation {i}", v) for i, v in enumerate(data["variations"], start=1)
        ]
        errors = [
            f"{label}: {error}"
            for label, text in texts
            for error in services.text_errors(text=text, channels=targets)
        ] + services.thread_errors(parts=data["thread"], channels=targets)
        errors += services.comment_errors(
            comment=data["first_comment"], delay=data["first_comment_delay"], channels=targets
        )
        if targets and errors:
            raise ValidationError(errors)
        post = services.post_update(
            post=post,
            text=data["text"],
            variations=data["variations"],
            thread_parts=data["thread"],
            expires_at=self._aware(data.get("expires_at")),
            status=data["status"],
            first_comment=data["first_comment"],
            first_comment_delay=data["first_comment_delay"],
            labels=list(data.get("labels") or []),
            acting_user=author,
        )
        if publish_at is not None:
            for channel in channels:
                timeslot_pin(post=post, channel=channel, publish_at=publish_at)
            return post
        # Ticked channels are joined, unticked ones left (inactive entries are kept).
        post_queues_set(post=post, channels=channels)
        return post

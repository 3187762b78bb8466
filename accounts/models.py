from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts import providers
from ground.fields import EncryptedJSONField
from ground.workspace_pin import WorkspacePinnedOnceLinked


class Workspace(models.Model):
    """The tenant: every channel, post and account belongs to exactly one workspace."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    # Every post must be approved by an owner or approver before a slot takes it
    # (posts.review; the claim skips or ends the slot otherwise).
    needs_approval = models.BooleanField(
        default=False, help_text="Posts need an approver's approval before they publish."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        EDITOR = "editor", "Editor"
        # Reads and approves posts (a client), never writes them: every write check
        # treats an approver like a viewer.
        APPROVER = "approver", "Approver"
        VIEWER = "viewer", "Viewer"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    # This member's posts need approval even when the workspace's do not.
    needs_approval = models.BooleanField(
        default=False, help_text="This member's posts need approval before they publish."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


# The roles that may change a workspace's posts, channels, schedules and accounts; every
# other role (approver, viewer) only reads. One home for the rule: the pages' workspace_view,
# the API's permission and the admin all check against it.
WRITE_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.EDITOR})


class Invitation(models.Model):
    """An owner's invitation of an email address into a workspace, with a role.

    Nothing secret is stored: the link's token is Django's signature over the invitation's
    id and `version` (accounts.members.invitation_token), so a copy of this table opens no
    workspace (invariant 5). Resending bumps `version` (the old link stops working) and the
    expiry; accepting or revoking ends it. The email is sent by a Celery task after commit
    and retried with backoff until it went out (email_* fields, as on Notice).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    # The site's address as the inviting owner reached it (the worker sending the email
    # has no request); PUBLIC_BASE_URL, when set, wins.
    origin = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="invitation_recent_idx")]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.workspace} ({self.role})"

    def is_pending(self, now=None) -> bool:
        now = now or timezone.now()
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now


# Who may do what with posts (posts.review, posts.comments, the views and the API).
POST_WRITE_ROLES = WRITE_ROLES
APPROVER_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.APPROVER})
COMMENT_ROLES = POST_WRITE_ROLES | APPROVER_ROLES


class SocialAccount(WorkspacePinnedOnceLinked, models.Model):
    # Rows that pin the workspace (ground.workspace_pin).
    workspace_links = ("channels", "deliveries")

    class Provider(models.TextChoices):
        X = "x", "X (Twitter)"
        MASTODON = "mastodon", "Mastodon"
        BLUESKY = "bluesky", "Bluesky"
        SANDBOX = "sandbox", "Sandbox"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISABLED = "disabled", "Disabled"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="social_accounts"
    )
    # The networks' registry (networks/registry.py) lists the names; accounts sits below
    # networks, so the choices are read from accounts.providers, which networks fills when
    # Django starts. A callable: adding a network changes no model and needs no migration.
    provider = models.CharField(max_length=10, choices=providers.choices)
    handle = models.CharField(max_length=100)
    external_id = models.CharField(max_length=100, blank=True)
    # OAuth tokens, webhook URL + secret: encrypted with FIELD_ENCRYPTION_KEY, never logged.
    credentials = EncryptedJSONField(blank=True, default=dict)
    # What is not secret about the account and shapes its posts: the Mastodon instance,
    # its character limit and URL weight (read from the instance), the visibility and
    # language to post with.
    options = models.JSONField(blank=True, default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Set when the owner was told the account needs reconnecting; cleared on reconnect,
    # so one incident sends one email however many slots fail.
    reconnect_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "handle"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider", "external_id"],
                condition=~models.Q(external_id=""),
                name="socialaccount_unique_external_id",
            )
        ]

    def __str__(self) -> str:
        return f"@{self.handle} ({self.get_provider_display()})"


class MastodonApp(models.Model):
    """Queue Loop's OAuth client on one Mastodon instance.

    Each instance is its own OAuth server, so the app is registered on the instance the
    first time someone connects an account there (POST /api/v1/apps), and reused for every
    later account of that instance. The redirect URI is part of the registration: a site
    reached under another address registers a second client.
    """

    instance_url = models.URLField(max_length=300)
    redirect_uri = models.URLField(max_length=500)
    client_id = models.CharField(max_length=200)
    # The client secret: encrypted like every credential.
    secret = EncryptedJSONField(blank=True, default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance_url", "redirect_uri"], name="mastodonapp_unique_instance"
            )
        ]

    def __str__(self) -> str:
        return self.instance_url


class Notice(models.Model):
    """Something a user must know (a failed slot, an account to reconnect); also emailed."""

    class Kind(models.TextChoices):
        ACCOUNT_RECONNECT = "account_reconnect", "Account needs reconnect"
        TIMESLOT_FAILED = "timeslot_failed", "Timeslot failed"
        TIMESLOT_UNCONFIRMED = "timeslot_unconfirmed", "Delivery unconfirmed"
        TIMESLOT_MISSED = "timeslot_missed", "Timeslot missed"
        QUEUE_EMPTY = "queue_empty", "Queue empty"
        REVIEW_DUE = "review_due", "Post awaiting approval"
        MENTIONED = "mentioned", "Mentioned in a comment"
        CHANGES_REQUESTED = "changes_requested", "Changes requested on your post"
        SLOT_WARNINGS = "slot_warnings", "Problems in the coming slots"
        PIN_TIME_KEPT = "pin_time_kept", "A pinned time kept across a time-zone change"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    # One incident, one notice, one email: what it is about ("channel:12"; "" = the whole
    # workspace), and how often it happened again while the notice was open.
    subject = models.CharField(max_length=100, blank=True, default="")
    occurrences = models.PositiveIntegerField(default=1)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # The email is retried with backoff until it went out (accounts.services).
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="notice_recent_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:60]}"


class Profile(models.Model):
    """One person's own settings, whatever the workspace: the zone every time in the UI is
    shown in (empty until set; the browser's zone is stored on the first visit)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    timezone = models.CharField(max_length=64, blank=True)
    # Raised when the person is removed from a workspace: every session signed in under a
    # lower number is logged out on its next request (accounts.session_middleware).
    session_epoch = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user} ({self.timezone or 'no zone'})"


class ApiToken(models.Model):
    """A person's API token (one at a time), stored only as the SHA-256 digest of its key.

    The key is 256 random bits: nobody can guess one, so a plain digest is enough to make a
    copy of this table useless (a slow or keyed hash defends guessable secrets such as
    passwords; here it would only cost time on every API call, and a SECRET_KEY-keyed hash
    would stop every script when that key rotates). The key itself exists once, in memory,
    on the instance that made it: save() of a new token fills `key`, shown to the person
    that once (accounts.services.api_token_create) and never stored.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token"
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The key's first characters, so the person can tell which token a script holds.
    prefix = models.CharField(max_length=8, editable=False)
    # A default, not auto_now_add: tokens migrated from DRF's table keep their dates.
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    PREFIX_CHARS = 6
    key: str = ""

    def __str__(self) -> str:
        return f"API token {self.prefix}… of {self.user}"

    def save(self, *args, **kwargs):
        if not self.digest:
            self.key = secrets.token_urlsafe(32)
            self.digest = self.digest_of(self.key)
            self.prefix = self.key[: self.PREFIX_CHARS]
        super().save(*args, **kwargs)

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class IdempotencyKey(models.Model):
    """An `Idempotency-Key` an API client sent with a POST, PUT, PATCH or DELETE, and the
    answer its first request got (accounts.idempotency has the rules).

    One row per token and key: the unique constraint decides which of two concurrent
    requests runs. A row without `status_code` is a request still running. Keys belong to
    the token that sent them (a new token starts afresh) or, for a session, to the user.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey(
        ApiToken, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path and the canonical body: a repeat must match it.
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The stored answer; null while the first request runs.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.BinaryField(default=b"", blank=True)
    headers = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["token", "key"],
                condition=models.Q(token__isnull=False),
                name="idempotency_key_per_token",
            ),
            models.UniqueConstraint(
                fields=["user", "key"],
                condition=models.Q(token__isnull=True),
                name="idempotency_key_per_session_user",
            ),
        ]

    def __str__(self) -> str:
        return f"Idempotency-Key {self.key!r} ({self.method} {self.path})"


class EventType(models.TextChoices):
    """What an outbound event says happened (issue 29, "events out"); receivers pick the
    types they want. The two post.* types are an approver's decisions (posts.review)."""

    TIMESLOT_PUBLISHED = "timeslot.published", "A slot published on every account"
    TIMESLOT_PARTIAL = "timeslot.partial", "A slot published on some accounts"
    TIMESLOT_FAILED = "timeslot.failed", "A slot failed"
    TIMESLOT_MISSED = "timeslot.missed", "A slot was missed"
    TIMESLOT_SKIPPED = "timeslot.skipped", "A slot was skipped"
    DELIVERY_UNCONFIRMED = "delivery.unconfirmed", "A delivery may or may not have posted"
    ACCOUNT_NEEDS_RECONNECT = "account.needs_reconnect", "An account needs reconnecting"
    IMPORT_FINISHED = "import.finished", "A CSV import finished"
    POST_APPROVED = "post.approved", "A post was approved"
    POST_CHANGES_REQUESTED = "post.changes_requested", "Changes were requested on a post"


class OutboxEvent(models.Model):
    """An event recorded in the same transaction as the change it reports (the outbox).

    It lives here, in the lowest app with models, so every emitter (accounts, scheduling,
    publishing, bulk) can write it without importing the app that sends it (integrations,
    higher up): that app fans each event out to the workspace's endpoints after commit.
    `facts` is what the emitter knew (ids, status, reason); `data` is the object as the
    API shows it, built once by the sender and then frozen, so every attempt and every
    resend carries the same body."""

    public_id = models.UUIDField(unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=40, choices=EventType.choices)
    facts = models.JSONField(default=dict, blank=True)
    data = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Set once the sender made the event's per-endpoint deliveries; the sweep fans out
    # the events whose message was lost (broker down at commit).
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(fanned_out_at__isnull=True),
                name="outbox_not_fanned_out_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} evt_{self.public_id.hex}"

    @property
    def event_id(self) -> str:
        """The id receivers see (webhook-id and the body's `id`)."""
        return f"evt_{self.public_id.hex}"


# --- Activity (issue 27, item 4) -------------------------------------------------------------


class ActivitySource(models.TextChoices):
    """Where a change came from (accounts.activity says how each one is known)."""

    WEB = "web", "Web"
    API = "api", "API token"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command"
    ENGINE = "engine", "Engine"


class ActivityAction(models.TextChoices):
    """What a person (or the engine) did. Some are written by other features' services
    (members, approval, workspace settings): each is one activity_record(...) call there."""

    POST_CREATED = "post.created", "Post created"
    POST_EDITED = "post.edited", "Post edited"
    POST_APPROVED = "post.approved", "Post approved"
    POST_CHANGES_REQUESTED = "post.changes_requested", "Changes requested on a post"
    POST_ARCHIVED = "post.archived", "Post archived"
    POST_LABELED = "post.labeled", "Post labels changed"
    POST_DELETED = "post.deleted", "Post deleted"
    SLOT_PINNED = "slot.pinned", "Post pinned to a time"
    SLOT_MOVED = "slot.moved", "Slot moved"
    SLOT_CANCELED = "slot.canceled", "Slot canceled"
    SLOT_SHARED_NOW = "slot.shared_now", "Post shared now"
    SLOT_POST_SET = "slot.post_set", "Slot's post changed"
    SCHEDULE_EDITED = "schedule.edited", "Schedule edited"
    CHANNEL_CREATED = "channel.created", "Channel created"
    CHANNEL_PAUSED = "channel.paused", "Channel paused"
    CHANNEL_RESUMED = "channel.resumed", "Channel resumed"
    CHANNEL_EDITED = "channel.edited", "Channel settings changed"
    CHANNEL_DELETED = "channel.deleted", "Channel deleted"
    ACCOUNT_CONNECTED = "account.connected", "Account connected"
    ACCOUNT_DISCONNECTED = "account.disconnected", "Account disconnected"
    MEMBER_INVITED = "member.invited", "Member invited"
    MEMBER_REMOVED = "member.removed", "Member removed"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member's role changed"
    SETTINGS_CHANGED = "settings.changed", "Workspace settings changed"
    LABEL_CREATED = "label.created", "Label created"
    LABEL_EDITED = "label.edited", "Label edited"
    LABEL_DELETED = "label.deleted", "Label deleted"


class ActivityEntryQuerySet(models.QuerySet):
    """Append-only: the app can add and read entries, never change or remove them. (A
    workspace's deletion still takes its log with it: Django's cascade deletes below the
    QuerySet API.)"""

    def update(self, **kwargs):
        raise TypeError("Activity entries are append-only: they cannot be updated.")

    def delete(self):
        raise TypeError("Activity entries are append-only: they cannot be deleted.")

    def bulk_update(self, *args, **kwargs):
        raise TypeError("Activity entries are append-only: they cannot be updated.")

    def update_or_create(self, *args, **kwargs):
        raise TypeError("Activity entries are append-only: they cannot be updated.")


class ActivityEntry(models.Model):
    """One thing someone did, when and from where; written by the services that did it
    (accounts.activity.activity_record), never edited.

    The post and the channel are kept as plain ids (no foreign key): deleting a post or a
    channel must neither delete its history nor rewrite it. `target` is what the entry is
    about as it read at the time (a post's first words, a channel's name), so the log reads
    the same after a rename or a deletion; `actor_name` likewise for the person.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=10, choices=ActivitySource.choices)
    action = models.CharField(max_length=30, choices=ActivityAction.choices)
    post_id = models.BigIntegerField(null=True, blank=True)
    channel_id = models.BigIntegerField(null=True, blank=True)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = ActivityEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "activity entries"
        indexes = [
            models.Index(fields=["workspace", "-id"], name="activity_workspace_idx"),
            models.Index(
                fields=["post_id", "-id"],
                condition=models.Q(post_id__isnull=False),
                name="activity_post_idx",
            ),
            models.Index(
                fields=["channel_id", "-id"],
                condition=models.Q(channel_id__isnull=False),
                name="activity_channel_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor_name or 'Queue Loop'}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Activity entries are append-only: they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Activity entries are append-only: they cannot be deleted.")

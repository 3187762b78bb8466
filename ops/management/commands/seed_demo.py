"""`manage.py seed_demo`: a demo workspace that shows the whole loop with no keys and no internet.

Idempotent: every object is looked up by a natural key (username, workspace slug, account
handle, channel slug, post text, schedule name) and only created when missing, so running it
on every `make run` creates nothing new and just reports what exists. The one thing it does
rewrite is the demo user's password, so the login printed by `make run` always works.

What it builds (all on the sandbox network, whose posts land on an in-app timeline):
- user `demo` (staff, so the admin works; superuser only with --superuser), owner of "Demo";
- sandbox accounts @queueloop_demo, @ql_news, @ql_tips, @ql_live;
- "#demo-live" (UTC, loop) publishing to @ql_live every 10 minutes, so a first slot publishes
  within minutes of starting. It is a channel of its own so the others read like a real
  week (the calendar folds a channel this busy out of its default view);
- "#tech" (Europe/Berlin, loop) publishing to @queueloop_demo and @ql_tips on weekdays at
  09:00 and 16:00;
- "#news" (America/New_York, once) publishing to @ql_news on weekdays at 14:00;
- ten evergreen posts (two with variations, because X refuses repeated identical text).
"""

from __future__ import annotations

import os

import recurrence
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.activity import activity_context
from accounts.models import ActivitySource, Membership, SocialAccount, Workspace
from channels.models import Channel
from editor.services import post_create
from posts.images import post_image_add
from posts.models import Post
from scheduling.models import Schedule, Timeslot
from scheduling.services import channel_save, schedule_reconcile, schedule_save

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@example.com"
DEFAULT_DEMO_PASSWORD = "queueloop-demo"  # noqa: S105 - a documented demo login, not a secret
WORKSPACE_SLUG = "demo"
WORKSPACE_NAME = "Demo"
# The apps whose models a workspace member manages in the admin (not auth, not sessions).
ADMIN_APPS = ("accounts", "channels", "posts", "scheduling", "publishing")

ACCOUNTS = ("queueloop_demo", "ql_news", "ql_tips", "ql_live")

LIVE_SLUG = "demo-live"
CHANNELS = (
    {
        "slug": LIVE_SLUG,
        "name": "#demo-live",
        "timezone": "UTC",
        "mode": Channel.Mode.LOOP,
        "accounts": ("ql_live",),
        # Every 10 minutes, at :05, :15 ...: half the channel bound (CHANNEL_MAX_SLOTS_PER_HOUR,
        # 12), so a demo slot can still be moved or a post pinned beside them.
        "schedule": ("Every 10 minutes", "RRULE:FREQ=HOURLY;BYMINUTE=5,15,25,35,45,55"),
    },
    {
        "slug": "tech",
        "name": "#tech",
        "timezone": "Europe/Berlin",
        "mode": Channel.Mode.LOOP,
        "accounts": ("queueloop_demo", "ql_tips"),
        "schedule": (
            "Weekdays at 09:00 and 16:00",
            "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9,16;BYMINUTE=0",
        ),
    },
    {
        "slug": "news",
        "name": "#news",
        "timezone": "America/New_York",
        "mode": Channel.Mode.ONCE,
        "accounts": ("ql_news",),
        "schedule": (
            "Weekdays at 14:00",
            "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=14;BYMINUTE=0",
        ),
    },
)

RETIRED_SCHEDULES = ("Every 5 minutes",)

# (channel slug, text, variations)
POSTS = (
    (
        LIVE_SLUG,
        "Queue Loop demo: #demo-live publishes to the sandbox every 10 minutes.",
        ("Every 10 minutes #demo-live publishes again: watch the sandbox timeline.",),
    ),
    (
        LIVE_SLUG,
        "This post loops on #demo-live: its queue never runs dry.",
        ("#demo-live loops its queue, so something always goes out.",),
    ),
    (
        "tech",
        "Write the test first: it is the cheapest design review you will ever get.",
        (
            "A failing test is a design review that costs nothing. Write it first.",
            "Tests first, code second: the cheapest design feedback there is.",
        ),
    ),
    (
        "tech",
        "Your database is the source of truth; your queue only carries hints.",
        ("Queues carry hints. The database carries the truth.",),
    ),
    ("tech", "Store times in UTC, show them in the reader's time zone. Every time.", ()),
    ("tech", "A retry that can post twice is not a retry, it is a bug report waiting.", ()),
    ("tech", "Small pull requests get reviewed. Big ones get approved.", ()),
    ("news", "Queue Loop demo: this post went out from the #news channel's queue.", ()),
    ("news", "#news runs in 'once' mode: each post is published once, then leaves the queue.", ()),
    ("news", "Evergreen tip: mix timeless posts with news so your feed never goes quiet.", ()),
)


# The first post out on #demo-live shows an image on the sandbox timeline.
IMAGE_POST = POSTS[0][1]
DEMO_IMAGE_ALT = (
    "A blue-to-green gradient card with the words Queue Loop: write it once, post it forever."
)


def demo_image() -> bytes:
    """A 1200x675 card drawn with Pillow (no file shipped, no download)."""
    import io

    from PIL import Image, ImageDraw

    gradient = Image.linear_gradient("L").rotate(90).resize((1200, 675))
    card = Image.merge(
        "RGB",
        (
            gradient.point(lambda v: 30),
            gradient.point(lambda v: 90 + v // 2),
            gradient.point(lambda v: 200 - v // 2),
        ),
    )
    draw = ImageDraw.Draw(card)
    draw.text((80, 260), "Queue Loop", fill="white", font_size=120)
    draw.text((84, 420), "write it once, post it forever", fill="white", font_size=48)
    out = io.BytesIO()
    card.save(out, format="PNG")
    return out.getvalue()


def demo_password() -> str:
    """The demo login's password: DEMO_PASSWORD, or the documented default."""
    return os.environ.get("DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD)


class Command(BaseCommand):
    help = (
        "Create (or report) the demo workspace: user 'demo', sandbox accounts, channels "
        "#demo-live, #tech and #news, evergreen posts and schedules. Safe to run repeatedly."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the Demo workspace (and everything in it) first, then seed it again.",
        )
        parser.add_argument(
            "--superuser",
            action="store_true",
            help="Make the demo user a superuser (by default it is staff only).",
        )

    def handle(self, *args, **options):
        # What the seed creates shows in the activity log as done by a command.
        with activity_context(source=ActivitySource.COMMAND):
            return self._handle(*args, **options)

    def _handle(self, *args, reset: bool = False, superuser: bool = False, **options):
        password = demo_password()
        if not password.strip():
            raise CommandError("DEMO_PASSWORD is set but empty: unset it or give a password.")

        with transaction.atomic():
            if reset:
                deleted = Workspace.objects.filter(slug=WORKSPACE_SLUG).delete()[0]
                self._say(
                    f"--reset: deleted the {WORKSPACE_NAME} workspace ({deleted} rows)"
                    if deleted
                    else f"--reset: there was no {WORKSPACE_NAME} workspace to delete"
                )
            user = self._user(password, superuser=superuser)
            workspace = self._workspace(user)
            accounts = self._accounts(workspace)
            channels = self._channels(workspace, accounts)
            self._posts(workspace, user, channels)
            self._schedules(channels)

        upcoming = Timeslot.objects.filter(
            channel__workspace=workspace, status=Timeslot.Status.SCHEDULED
        ).count()
        self._say(f"Scheduled timeslots in the {WORKSPACE_NAME} workspace: {upcoming}")
        self.stdout.write(
            self.style.SUCCESS(f"Demo login: username {DEMO_USERNAME!r}, password {password!r}")
        )

    # --- one step per kind of object; each reports "created" or "exists" -----------------

    def _say(self, message: str) -> None:
        self.stdout.write(message)

    def _report(self, what: str, created: bool) -> None:
        self._say(f"{'created' if created else 'exists '}  {what}")

    def _user(self, password: str, *, superuser: bool):
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": DEMO_EMAIL, "is_staff": True}
        )
        changed = []
        if not user.is_staff:
            user.is_staff = True
            changed.append("is_staff")
        # Only ever promoted, never demoted: `make run` seeds without --superuser on every
        # start and must not undo a deliberate `seed_demo --superuser`.
        if superuser and not user.is_superuser:
            user.is_superuser = True
            changed.append("is_superuser")
        if not user.check_password(password):
            # The login printed by `make run` must work, even if DEMO_PASSWORD changed.
            user.set_password(password)
            changed.append("password")
        if changed:
            user.save()
        kind = "superuser" if user.is_superuser else "staff user"
        note = f" (updated: {', '.join(changed)})" if changed and not created else ""
        self._report(f"{kind} {DEMO_USERNAME!r}{note}", created)
        # A non-superuser staff account sees nothing in the admin without model permissions;
        # grant the workspace apps' permissions (the admin limits rows to their workspaces).
        perms = Permission.objects.filter(content_type__app_label__in=ADMIN_APPS)
        user.user_permissions.add(*perms)
        return user

    def _workspace(self, user) -> Workspace:
        workspace, created = Workspace.objects.get_or_create(
            slug=WORKSPACE_SLUG, defaults={"name": WORKSPACE_NAME}
        )
        self._report(f"workspace {workspace.name!r}", created)
        membership, created = Membership.objects.get_or_create(
            workspace=workspace, user=user, defaults={"role": Membership.Role.OWNER}
        )
        if membership.role != Membership.Role.OWNER:
            membership.role = Membership.Role.OWNER
            membership.save(update_fields=["role"])
        self._report(f"membership {user.username!r} as owner", created)
        return workspace

    def _accounts(self, workspace: Workspace) -> dict[str, SocialAccount]:
        accounts = {}
        for handle in ACCOUNTS:
            account, created = SocialAccount.objects.get_or_create(
                workspace=workspace, provider=SocialAccount.Provider.SANDBOX, handle=handle
            )
            accounts[handle] = account
            self._report(f"sandbox account @{handle}", created)
        return accounts

    def _channels(
        self, workspace: Workspace, accounts: dict[str, SocialAccount]
    ) -> dict[str, Channel]:
        channels = {}
        for spec in CHANNELS:
            channel = Channel.objects.filter(workspace=workspace, slug=spec["slug"]).first()
            created = channel is None
            if created:
                channel = channel_save(
                    channel=Channel(
                        workspace=workspace,
                        slug=spec["slug"],
                        name=spec["name"],
                        timezone=spec["timezone"],
                        mode=spec["mode"],
                    )
                )
                channel.accounts.set([accounts[h] for h in spec["accounts"]])
            channels[spec["slug"]] = channel
            self._report(
                f"channel {channel.name} ({channel.timezone}, {channel.mode}, "
                f"{channel.accounts.count()} account(s))",
                created,
            )
        return channels

    def _posts(self, workspace: Workspace, user, channels: dict[str, Channel]) -> None:
        existing = set(Post.objects.filter(workspace=workspace).values_list("text", flat=True))
        created = 0
        for slug, text, variations in POSTS:
            if text in existing:
                continue
            try:
                post = post_create(
                    workspace=workspace,
                    text=text,
                    channels=[channels[slug]],
                    author=user,
                    variations=variations,
                )
                if text == IMAGE_POST:
                    # The first post out shows images on the sandbox timeline.
                    post_image_add(
                        post=post,
                        data=demo_image(),
                        filename="queue-loop.png",
                        alt_text=DEMO_IMAGE_ALT,
                    )
            except ValidationError as exc:
                raise CommandError(f"demo post refused: {'; '.join(exc.messages)}") from None
            created += 1
        self._say(
            f"{'created' if created else 'exists '}  {len(POSTS)} evergreen posts"
            + (f" ({created} new)" if created and created < len(POSTS) else "")
        )

    def _schedules(self, channels: dict[str, Channel]) -> None:
        # A demo seeded before #demo-live existed ran #tech every 5 minutes: turn that off,
        # so #tech reads like a real week there too (its weekday schedule is added below).
        for schedule in Schedule.objects.filter(
            channel=channels["tech"], name__in=RETIRED_SCHEDULES, is_active=True
        ):
            schedule.is_active = False
            schedule_save(schedule=schedule)
            self._say(f"retired  schedule #tech {schedule.name!r} (now on #demo-live)")
        for spec in CHANNELS:
            channel = channels[spec["slug"]]
            name, rule = spec["schedule"]
            schedule = Schedule.objects.filter(channel=channel, name=name).first()
            created = schedule is None
            if created:
                # schedule_save plans the window at once: the first slot is minutes away,
                # not at the next hourly planner run.
                schedule = schedule_save(
                    schedule=Schedule(
                        channel=channel, name=name, recurrence=recurrence.deserialize(rule)
                    )
                )
                self._report(f"schedule {channel.name} {name!r}", created)
            else:
                # An existing schedule (a restart of `make run`) has its current window
                # planned again, so its next slots exist without waiting for the planner.
                result = schedule_reconcile(schedule=schedule)
                self._report(
                    f"schedule {channel.name} {name!r} "
                    f"({result['created']} new slot(s) planned for now)",
                    created,
                )

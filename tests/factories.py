from __future__ import annotations

import datetime as dt

import factory
import recurrence
from django.contrib.auth import get_user_model

from accounts.models import Membership, SocialAccount, Workspace
from channels.models import Channel, QueueEntry
from posts.models import Post, Variation
from scheduling.models import Schedule


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"ws-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.OWNER


class SocialAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SocialAccount

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = SocialAccount.Provider.SANDBOX
    handle = factory.Sequence(lambda n: f"account{n}")


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel
        skip_postgeneration_save = True

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"#channel{n}")
    slug = factory.Sequence(lambda n: f"channel-{n}")
    timezone = "UTC"

    @factory.post_generation
    def with_sandbox(self, create, extracted, **kwargs):
        # Most tests want a channel that can publish: one sandbox account unless told not to.
        if create and extracted is not False:
            self.accounts.add(SocialAccountFactory(workspace=self.workspace))


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Post

    workspace = factory.SubFactory(WorkspaceFactory)
    text = factory.Sequence(lambda n: f"Evergreen post number {n}")
    status = Post.Status.READY


class VariationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variation

    post = factory.SubFactory(PostFactory)
    text = factory.Sequence(lambda n: f"Variation {n}")
    position = factory.Sequence(lambda n: n)


class QueueEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueueEntry

    channel = factory.SubFactory(ChannelFactory)
    post = factory.SubFactory(PostFactory, workspace=factory.SelfAttribute("..channel.workspace"))
    position = factory.Sequence(lambda n: n)


class ScheduleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Schedule

    channel = factory.SubFactory(ChannelFactory)
    name = "daily"
    recurrence = factory.LazyFunction(
        lambda: recurrence.deserialize("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    )
    starts_on = dt.date(2020, 1, 6)


def rule(text: str) -> recurrence.Recurrence:
    return recurrence.deserialize(text)


# --- Added for the admin tests (appended) -------------------------------------------------


class NoticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "accounts.Notice"

    workspace = factory.SubFactory(WorkspaceFactory)
    kind = "queue_empty"
    message = factory.Sequence(lambda n: f"Notice {n}: the queue of #channel will be empty")


class TimeslotFactory(factory.django.DjangoModelFactory):
    """A planned (schedule) slot two hours ahead; pass schedule=None, post=... for a pinned one."""

    class Meta:
        model = "scheduling.Timeslot"

    channel = factory.SubFactory(ChannelFactory)
    schedule = factory.SubFactory(ScheduleFactory, channel=factory.SelfAttribute("..channel"))
    publish_at = factory.Sequence(
        lambda n: dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=2, minutes=n)
    )
    planned_for = factory.LazyAttribute(lambda t: t.publish_at if t.schedule else None)


class PlannerStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "scheduling.PlannerState"
        django_get_or_create = ("key",)

    key = "default"


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "publishing.Delivery"

    timeslot = factory.SubFactory(TimeslotFactory)
    account = factory.SubFactory(
        SocialAccountFactory, workspace=factory.SelfAttribute("..timeslot.channel.workspace")
    )
    post = factory.SubFactory(
        PostFactory, workspace=factory.SelfAttribute("..timeslot.channel.workspace")
    )
    text = factory.LazyAttribute(lambda d: d.post.text)
    status = "sent"
    attempts = 1
    external_id = factory.Sequence(lambda n: f"1700000000{n:06d}")
    url = factory.LazyAttribute(lambda d: f"https://example.com/status/{d.external_id}")


class SandboxPostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "publishing.SandboxPost"

    account = factory.SubFactory(SocialAccountFactory)
    text = factory.Sequence(lambda n: f"Sandbox post {n}")


# --- X accounts (tests/networks/test_x*.py, tests/networks/test_check_accounts.py) -----------


class XAccountFactory(SocialAccountFactory):
    """An X account; pass credentials=... (e.g. tokens issued by tests.networks.fake_x.FakeX) and
    external_id=<the fake user's id>."""

    provider = SocialAccount.Provider.X
    handle = factory.Sequence(lambda n: f"xuser{n}")
    external_id = "1001"
    credentials = factory.LazyFunction(dict)

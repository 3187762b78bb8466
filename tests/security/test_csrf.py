"""Every web UI URL: a GET never changes data, and a POST without a CSRF token is refused.

The URL list is read from the URLconf itself, so a view added later is covered without
anyone remembering to add it here.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.apps import apps
from django.db.models import Max
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
)

# media/ serves stored image files (posts.media_views, GET and HEAD only): it only reads.
SKIP_PREFIXES = ("admin/", "api/", "media/")


def web_patterns():
    """(route, name) of every UI pattern, prefixes joined, admin and API left out."""

    def walk(patterns, prefix=""):
        for p in patterns:
            route = prefix + str(p.pattern)
            if route.startswith(SKIP_PREFIXES):
                continue
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, route)
            elif isinstance(p, URLPattern):
                yield route, p.name

    return list(walk(get_resolver().url_patterns))


def fingerprint() -> dict:
    """Row counts and latest change of every model of ours: any write moves one of them."""
    out = {}
    for model in apps.get_models():
        if model._meta.app_label not in {
            "accounts",
            "channels",
            "posts",
            "scheduling",
            "publishing",
            "bulk",
        }:
            continue
        qs = model.objects.all()
        out[model._meta.label] = (qs.count(), qs.aggregate(m=Max("pk"))["m"])
        for field in ("updated_at", "dismissed_at", "last_published_at", "status"):
            if any(f.name == field for f in model._meta.fields) and field != "status":
                out[f"{model._meta.label}.{field}"] = qs.aggregate(m=Max(field))["m"]
        if any(f.name == "status" for f in model._meta.fields):
            out[f"{model._meta.label}.status"] = sorted(qs.values_list("status", flat=True))
    return out


@pytest.fixture
def world():
    member = MembershipFactory()
    ws = member.workspace
    channel = ChannelFactory(workspace=ws)
    entry = QueueEntryFactory(channel=channel)
    schedule = ScheduleFactory(channel=channel)
    from scheduling.services import timeslot_pin

    slot = timeslot_pin(
        post=PostFactory(workspace=ws),
        channel=channel,
        publish_at=timezone.now() + dt.timedelta(days=1),
    )
    from accounts.services import notice_create

    notice = notice_create(workspace_id=ws.id, kind="queue_empty", message="m")
    from posts.models import PostImage

    image = PostImage.objects.create(
        post=entry.post, file="posts/x.png", content_type="image/png", width=1, height=1, size=1
    )
    from bulk.imports import import_preview
    from bulk.models import ChannelFeed
    from integrations.models import Endpoint
    from posts.models import Label

    job = import_preview(workspace=ws, user=member.user, filename="a.csv", data=b"text\nhi\n")
    feed = ChannelFeed.objects.create(channel=channel, url="http://127.0.0.1:9/feed")
    from accounts.models import Invitation

    endpoint = Endpoint.objects.create(workspace=ws, url="https://hooks.example/in")
    invitation = Invitation.objects.create(
        workspace=ws,
        email="new@example.com",
        role="editor",
        invited_by=member.user,
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    from scheduling.blackouts import blackout_add

    ids = {
        "blackout_id": blackout_add(
            workspace=ws,
            user=member.user,
            name="Holiday",
            starts_on=dt.date(2030, 12, 24),
            ends_on=dt.date(2030, 12, 26),
            zone="UTC",
        )[0].id,
        "invitation_id": invitation.id,
        "membership_id": member.id,
        "endpoint_id": endpoint.id,
        "job_id": job.id,
        "feed_id": feed.id,
        "image_id": image.id,
        "channel_id": channel.id,
        "entry_id": entry.id,
        "schedule_id": schedule.id,
        "timeslot_id": slot.id,
        "key": f"t{slot.id}",  # a calendar slot key (scheduling/calendar_urls.py)
        "account_id": SocialAccountFactory(workspace=ws).id,
        "notice_id": notice.id,
        "post_id": entry.post_id,
        "delivery_id": DeliveryFactory(timeslot=slot, status="unconfirmed").id,
        "label_id": Label.objects.create(workspace=ws, name="launch").id,
        # Password reset links: any value makes the page (an invalid link) answer.
        "uidb64": "MQ",
        "token": "set-password",
        # A short link's code (links/): an unknown one answers 404 and counts nothing.
        "code": "nosuchcode",
    }
    return member.user, ids


def fill(route: str, ids: dict) -> str:
    path = "/" + route
    for name, value in ids.items():
        path = re.sub(rf"<(?:\w+:)?{name}>", str(value), path)
    assert "<" not in path, f"no test object for a parameter of {route}"
    return path


@pytest.mark.django_db(transaction=True)
def test_no_get_changes_anything(world, broker):
    user, ids = world
    client = Client()
    client.force_login(user)
    patterns = web_patterns()
    assert len(patterns) > 20
    before = fingerprint()
    for route, name in patterns:
        response = client.get(fill(route, ids))
        assert response.status_code != 500, (name, response.status_code)  # 503: X not set up
        assert fingerprint() == before, f"GET {route} ({name}) changed data"


@pytest.mark.django_db(transaction=True)
def test_every_post_without_a_csrf_token_is_refused(world, broker):
    user, ids = world
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    before = fingerprint()
    for route, name in web_patterns():
        response = client.post(fill(route, ids), {"direction": "up", "text": "x"})
        assert response.status_code == 403, (name, response.status_code)
    assert fingerprint() == before

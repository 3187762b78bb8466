"""Bluesky at its HTTP boundary: the atproto SDK talks to a fake PDS on 127.0.0.1
(tests/networks/fake_bluesky.py) that answers in the lexicons' shapes."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection

from accounts.models import SocialAccount
from networks import (
    AuthFailed,
    RateLimited,
    Rejected,
    Transient,
    get_provider,
)
from networks.bluesky import adapter as bluesky_provider
from networks.bluesky import text as bluesky_text
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory
from tests.networks import fake_bluesky as fakes
from tests.networks.fake_http import Scripted

fake_bluesky = fakes.fake_bluesky
pytestmark = pytest.mark.django_db
CREATE = "/xrpc/com.atproto.repo.createRecord"
GET = "/xrpc/com.atproto.repo.getRecord"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def provider():
    return get_provider("bluesky")


@pytest.fixture
def account(fake_bluesky, clock):
    did = fake_bluesky.add_account("alice.test", APP_PASSWORD)
    _, info = bluesky_provider.sign_in(fake_bluesky.url, "alice.test", APP_PASSWORD)
    return SocialAccountFactory(
        provider=SocialAccount.Provider.BLUESKY,
        handle="alice.test",
        external_id=did,
        credentials={
            "identifier": "alice.test",
            "app_password": APP_PASSWORD,
            "session": info["session"],
        },
        options={"service": fake_bluesky.url, "langs": ["en"]},
    )


def make_delivery(account: SocialAccount, text: str = "Hello, sky") -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=text)
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(timeslot=slot, account=account, post=post, text=text)


def sessions_started(fake) -> int:
    return len(fake.calls_to("POST", "/xrpc/com.atproto.server.createSession"))


def test_publish_creates_a_post_record_under_the_deliverys_key(provider, account, fake_bluesky):
    delivery = make_delivery(account, "Hello, sky #queueloop")

    published = provider.publish(delivery)

    rkey = bluesky_text.record_key(delivery.id, delivery.created_at)
    [post] = fake_bluesky.posts_of(account.external_id)
    assert post["uri"] == f"at://{account.external_id}/app.bsky.feed.post/{rkey}"
    assert post["text"] == "Hello, sky #queueloop"
    assert post["langs"] == ["en"]
    [facet] = post["facets"]
    assert facet["$type"] == "app.bsky.richtext.facet"
    assert (facet["index"]["byteStart"], facet["index"]["byteEnd"]) == (11, 21)
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#tag", "tag": "queueloop"}]
    assert published.external_id == post["uri"]
    assert published.url == f"https://bsky.app/profile/alice.test/post/{rkey}"
    assert sessions_started(fake_bluesky) == 1  # the connect; publish resumed the session


def test_an_emoji_before_a_link_gets_byte_offsets(provider, account, fake_bluesky):
    text = "🎉🇩🇪 launch day: https://example.com/blog?x=1 👋"
    provider.publish(make_delivery(account, text))

    [post] = fake_bluesky.posts_of(account.external_id)
    [facet] = post["facets"]
    index = facet["index"]
    # 🎉 is 4 bytes, the flag 8, so the link starts at byte 25, not at character 17.
    assert (index["byteStart"], index["byteEnd"]) == (25, 53)
    assert text.index("https") == 16
    assert text.encode()[index["byteStart"] : index["byteEnd"]] == b"https://example.com/blog?x=1"
    assert facet["features"] == [
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/blog?x=1"}
    ]


def test_mentions_resolve_to_dids_and_unknown_handles_stay_text(provider, account, fake_bluesky):
    bob = fake_bluesky.add_account("bob.test", "wxyz-wxyz-wxyz-wxyz")
    text = "✨ thanks @bob.test and @nobody.test"
    provider.publish(make_delivery(account, text))

    [post] = fake_bluesky.posts_of(account.external_id)
    [facet] = post["facets"]
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#mention", "did": bob}]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end] == b"@bob.test"


def test_a_repeated_publish_makes_one_record(provider, account, fake_bluesky):
    delivery = make_delivery(account)
    first = provider.publish(delivery)

    # A repeat that does not know the first went through: the PDS refuses the taken key
    # (500 today) and the provider finds the record.
    second = provider.publish(delivery)
    # A retry (attempts > 1) looks first and does not write at all.
    Delivery.objects.filter(id=delivery.id).update(attempts=2)
    delivery.refresh_from_db()
    third = provider.publish(delivery)

    assert len(fake_bluesky.posts_of(account.external_id)) == 1
    assert first == second == third
    assert len(fake_bluesky.calls_to("POST", CREATE)) == 2


def test_5xx_before_writing_is_transient_and_the_retry_posts_once(provider, account, fake_bluesky):
    fake_bluesky.script("POST", CREATE, Scripted(502, {"error": "BadGateway"}))
    delivery = make_delivery(account)

    with pytest.raises(Transient) as caught:
        provider.publish(delivery)
    assert caught.value.maybe_sent is False  # the record is not there: it did not post
    assert fake_bluesky.posts_of(account.external_id) == []

    Delivery.objects.filter(id=delivery.id).update(attempts=2)
    delivery.refresh_from_db()
    provider.publish(delivery)
    assert len(fake_bluesky.posts_of(account.external_id)) == 1


@pytest.mark.parametrize(
    "failure", [Scripted(500, after=True), Scripted(drop=True, after=True)], ids=["5xx", "drop"]
)
def test_a_failure_after_writing_is_confirmed_by_reading_the_record(
    provider, account, fake_bluesky, failure
):
    fake_bluesky.script("POST", CREATE, failure)
    delivery = make_delivery(account)

    published = provider.publish(delivery)

    [post] = fake_bluesky.posts_of(account.external_id)
    assert published.external_id == post["uri"]
    assert len(fake_bluesky.calls_to("GET", GET)) == 1


def test_429_waits_for_ratelimit_reset(provider, account, fake_bluesky):
    reset = int((T0 + dt.timedelta(minutes=4)).timestamp())
    fake_bluesky.script(
        "POST",
        CREATE,
        Scripted(
            429,
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={
                "ratelimit-limit": "5000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset),
                "ratelimit-policy": "5000;w=3600",
            },
        ),
    )
    with pytest.raises(RateLimited) as caught:
        provider.publish(make_delivery(account))
    assert caught.value.reset_at == dt.datetime.fromtimestamp(reset, tz=dt.UTC)
    assert fake_bluesky.posts_of(account.external_id) == []


def test_an_expiring_session_is_refreshed_and_stored_encrypted(
    provider, account, fake_bluesky, clock
):
    old_session = account.credentials["session"]
    clock.shift(dt.timedelta(hours=3))  # the 2-hour access JWT has expired

    provider.publish(make_delivery(account))

    assert len(fake_bluesky.calls_to("POST", "/xrpc/com.atproto.server.refreshSession")) == 1
    assert sessions_started(fake_bluesky) == 1  # no new sign-in
    account.refresh_from_db()
    assert account.credentials["session"] != old_session
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount WHERE id = %s", [account.id])
        [raw] = cursor.fetchone()
    assert account.credentials["session"].split(":::")[2] not in raw
    assert APP_PASSWORD not in raw


def test_a_revoked_session_signs_in_again_with_the_app_password(provider, account, fake_bluesky):
    fake_bluesky.access.clear()
    fake_bluesky.refresh.clear()

    provider.publish(make_delivery(account))

    assert sessions_started(fake_bluesky) == 2
    assert len(fake_bluesky.posts_of(account.external_id)) == 1


def test_a_revoked_app_password_needs_a_reconnect(provider, account, fake_bluesky):
    fake_bluesky.access.clear()
    fake_bluesky.refresh.clear()
    fake_bluesky.accounts[account.external_id]["app_password"] = "zzzz-zzzz-zzzz-zzzz"

    with pytest.raises(AuthFailed, match="app password"):
        provider.publish(make_delivery(account))
    assert fake_bluesky.posts_of(account.external_id) == []


def test_401_on_create_needs_a_reconnect(provider, account, fake_bluesky):
    fake_bluesky.script(
        "POST", CREATE, Scripted(401, {"error": "AccountTakedown", "message": "Account taken down"})
    )
    with pytest.raises(AuthFailed, match="reconnect"):
        provider.publish(make_delivery(account))


def test_300_graphemes_not_code_points(provider, account, fake_bluesky):
    flags = "🇩🇪" * 300  # 600 code points, 300 graphemes, 2,400 bytes
    assert provider.text_length(flags) == 300
    assert provider.validate(flags) == []
    assert provider.validate(flags + "!") == [
        "Bluesky counts this text as 301 characters (graphemes); the limit is 300."
    ]
    with pytest.raises(Rejected):
        provider.publish(make_delivery(account, flags + "!"))
    provider.publish(make_delivery(account, flags))
    assert len(fake_bluesky.posts_of(account.external_id)) == 1


def test_record_keys_are_valid_tids_distinct_per_delivery():
    created = dt.datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=dt.UTC)
    keys = {bluesky_text.record_key(i, created) for i in range(1, 2001)}
    assert len(keys) == 2000
    for key in keys:
        assert len(key) == 13 and key[0] in "234567abcdefghij"
        assert set(key) <= set("234567abcdefghijklmnopqrstuvwxyz")
    assert bluesky_text.record_key(7, created) == bluesky_text.record_key(7, created)


def test_check_accounts_signs_in_with_the_stored_session(account, fake_bluesky):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("check_accounts", "--account", str(account.id), stdout=out)
    assert f"Signed in to Bluesky as @alice.test ({account.external_id})" in out.getvalue()
    assert sessions_started(fake_bluesky) == 1


# --- A worker's first post -------------------------------------------------------------------

FIRST_POST_PROBE = """
import json, sys
import django
django.setup()
import networks.bluesky.adapter
from atproto import models
print(json.dumps({
    "built": models.AppBskyFeedPost.Record.__pydantic_complete__
    and models.ComAtprotoRepoCreateRecord.Data.__pydantic_complete__,
    "embeds_imported": "atproto_client.models.app.bsky.embed.external" in sys.modules,
}))
"""


def test_the_post_records_models_are_built_when_the_network_is_loaded():
    """The record's models used to build their validators (and import the embeds' modules)
    on first use: inside a worker's first post after each start. Loading the network (the
    worker's start) builds them."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "-c", FIRST_POST_PROBE],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "built": True,
        "embeds_imported": True,
    }

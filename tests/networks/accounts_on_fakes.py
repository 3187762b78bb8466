"""One account per registered network on its loopback fake, and how to read and script that
fake: the harnesses the contract cases (tests/networks/test_contract.py) run every network
through, and that the all-networks browser test (tests/system/test_all_networks_browser.py)
puts in one channel.

A harness takes the test's `request` (it starts its fake through the fixture of that name,
which the calling test module imports) and keyword fields for the account's factory (e.g.
`workspace=`), so several harnesses can make their accounts in one workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from accounts.models import SocialAccount
from networks import AuthFailed, ProviderError, Rejected, get_provider
from tests.factories import SocialAccountFactory, XAccountFactory
from tests.networks.fake_discord import UNKNOWN_WEBHOOK
from tests.networks.fake_http import Scripted
from tests.receiver import Receiver

APP_PASSWORD = "abcd-efgh-ijkl-mnop"


@dataclass
class Harness:
    """One network's account on its fake, and how to read and script that fake."""

    account: SocialAccount
    # The texts the fake holds as posted, in order.
    posted: Callable[[], list[str]]
    # Make the fake refuse the next publish; the error class the network must raise.
    refuse: Callable[[], None]
    refused_as: type[ProviderError]
    # The alt texts of the images the fake holds with the first post, in order (networks
    # whose capabilities say images and alt_text).
    alt_texts: Callable[[], list[str]] | None = None
    # What refuse() tells the refused-call case (the sandbox: the text to publish).
    notes: dict = field(default_factory=dict)
    # Make the fake post the next publish and then lose its answer (the connection drops or
    # times out after the network acted): README, "At most once, per network". None when
    # there is no answer to lose (the sandbox is a row in our own database).
    lose_answer: Callable[[], None] | None = None
    # The texts the fake holds as replies to the post `on` refers to (networks whose
    # capabilities say first_comment).
    replies: Callable[[dict], list[str]] | None = None


# --- One harness per network: its fake (tests/), an account on it, a scripted refusal ----


def x_harness(request, **fields) -> Harness:
    fake = request.getfixturevalue("fake_x")
    keys = fake.issue_oauth1_keys("1001")
    account = XAccountFactory(handle="queueloop", credentials={"auth": "oauth1", **keys}, **fields)
    return Harness(
        account=account,
        posted=lambda: [t["text"] for t in fake.tweets("1001")],
        refuse=lambda: fake.script("POST", "/2/tweets", 401, {"title": "Unauthorized"}),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.hang_on("POST", "/2/tweets"),
        alt_texts=lambda: [m["alt_text"] for m in fake.tweets("1001")[0]["media"]],
        replies=lambda on: [t["text"] for t in fake.tweets("1001") if t["in_reply_to"] == on["id"]],
    )


def mastodon_harness(request, **fields) -> Harness:
    fake = request.getfixturevalue("fake_mastodon")
    account_id, token = fake.add_account("alice")
    account = SocialAccountFactory(
        provider=SocialAccount.Provider.MASTODON,
        handle="alice@fake.social",
        external_id=f"{account_id}@fake.social",
        credentials={"access_token": token},
        options={"instance": fake.url, "max_characters": 500},
        **fields,
    )
    return Harness(
        account=account,
        posted=lambda: [s["text"] for s in fake.statuses],
        refuse=lambda: fake.script(
            "POST", "/api/v1/statuses", Scripted(401, {"error": "The access token is invalid"})
        ),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.script(
            "POST", "/api/v1/statuses", Scripted(drop=True, after=True)
        ),
        alt_texts=lambda: [m["description"] for m in fake.statuses[0]["media_attachments"]],
        replies=lambda on: [s["text"] for s in fake.statuses if s["in_reply_to_id"] == on["id"]],
    )


def bluesky_harness(request, **fields) -> Harness:
    from networks.bluesky import adapter

    fake = request.getfixturevalue("fake_bluesky")
    did = fake.add_account("alice.test", APP_PASSWORD)
    _, info = adapter.sign_in(fake.url, "alice.test", APP_PASSWORD)
    account = SocialAccountFactory(
        provider=SocialAccount.Provider.BLUESKY,
        handle="alice.test",
        external_id=did,
        credentials={
            "identifier": "alice.test",
            "app_password": APP_PASSWORD,
            "session": info["session"],
        },
        options={"service": fake.url},
        **fields,
    )
    return Harness(
        account=account,
        posted=lambda: [p["text"] for p in fake.posts_of(did)],
        refuse=lambda: fake.script(
            "POST",
            "/xrpc/com.atproto.repo.createRecord",
            Scripted(401, {"error": "AccountTakedown", "message": "Account taken down"}),
        ),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.script(
            "POST", "/xrpc/com.atproto.repo.createRecord", Scripted(drop=True, after=True)
        ),
        alt_texts=lambda: [i["alt"] for i in fake.posts_of(did)[0]["embed"]["images"]],
        replies=lambda on: [
            p["text"]
            for p in fake.posts_of(did)
            if (p.get("reply") or {}).get("root", {}).get("uri") == on["uri"]
            and p["reply"]["parent"]["uri"] == on["uri"]
        ],
    )


def telegram_harness(request, **fields) -> Harness:
    fake = request.getfixturevalue("fake_telegram")
    token = fake.add_bot("queueloop_bot")
    chat_id = fake.add_channel("queueloop_news")
    fake.set_member(chat_id, token)
    account = SocialAccountFactory(
        provider="telegram",
        handle="queueloop_news",
        external_id=str(chat_id),
        credentials={"bot_token": token},
        options={
            "chat_id": str(chat_id),
            "chat_type": "channel",
            "chat_username": "queueloop_news",
        },
        **fields,
    )
    return Harness(
        account=account,
        # An album's later photos carry no caption: one post, its text on the first.
        posted=lambda: [m["text"] for m in fake.posted(chat_id) if m["text"]],
        refuse=lambda: fake.script(
            "POST",
            fake.path(token, "sendMessage"),
            Scripted(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            ),
        ),
        refused_as=Rejected,
        lose_answer=lambda: fake.script(
            "POST", fake.path(token, "sendMessage"), Scripted(drop=True, after=True)
        ),
    )


def webhook_harness(request, **fields) -> Harness:
    receiver = Receiver().start()
    request.addfinalizer(receiver.stop)
    account = SocialAccountFactory(
        provider=SocialAccount.Provider.WEBHOOK,
        handle="hook",
        credentials={"url": receiver.url, "secret": "whsec-contract"},
        **fields,
    )

    def refuse():
        receiver.status = 422

    def posted() -> list[str]:
        # One post per idempotency key, with its thread's parts, as the receiver posts them;
        # nothing when it answers with an error.
        if receiver.status >= 300:
            return []
        return [
            text
            for r in receiver.acted_on.values()
            for text in [r.payload["text"], *r.payload["thread_parts"]]
        ]

    return Harness(
        account=account,
        posted=posted,
        refuse=refuse,
        refused_as=Rejected,
        lose_answer=lambda: receiver.next_statuses.append(503),
        alt_texts=lambda: [
            i["alt_text"] for i in next(iter(receiver.acted_on.values())).payload["images"]
        ],
    )


def sandbox_harness(request, **fields) -> Harness:
    # The sandbox's "server" is its own timeline table; nothing outside can refuse a call,
    # so its refusal is its own: a text over its limit that reached publish().
    account = SocialAccountFactory(provider=SocialAccount.Provider.SANDBOX, handle="demo", **fields)
    harness = Harness(
        account=account,
        posted=lambda: list(account.sandbox_posts.order_by("id").values_list("text", flat=True)),
        refuse=lambda: harness.notes.update(text="x" * (get_provider("sandbox").max_length + 1)),
        refused_as=Rejected,
        # The timeline row of the post `on` refers to ("sandbox-<row id>") holds its reply.
        replies=lambda on: [
            c
            for c in account.sandbox_posts.filter(
                id=int(on["id"].removeprefix("sandbox-"))
            ).values_list("comment", flat=True)
            if c
        ],
    )
    return harness


def discord_harness(request, **fields) -> Harness:
    fake = request.getfixturevalue("fake_discord")
    hook = fake.add_webhook("Announcements")
    account = SocialAccountFactory(
        provider="discord",
        handle="announcements",
        external_id=hook["id"],
        credentials={"url": hook["url"]},
        options={"guild_id": hook["guild_id"], "channel_id": hook["channel_id"]},
        **fields,
    )
    return Harness(
        account=account,
        posted=lambda: [m["content"] for m in fake.messages_of(hook["id"])],
        # The webhook was deleted in Discord.
        refuse=lambda: fake.script("POST", fake.path_of(hook), Scripted(404, UNKNOWN_WEBHOOK)),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.script(
            "POST", fake.path_of(hook), Scripted(drop=True, after=True)
        ),
        alt_texts=lambda: [
            a.get("description", "") for a in fake.messages_of(hook["id"])[0]["attachments"]
        ],
    )


def facebook_harness(request, **fields) -> Harness:
    fake = request.getfixturevalue("fake_meta")
    page = fake.add_page("Queue Loop News")
    account = SocialAccountFactory(
        provider="facebook",
        handle=page["name"],
        external_id=page["id"],
        credentials={"page_token": page["token"]},
        options={"page_id": page["id"], "page_name": page["name"]},
        **fields,
    )
    return Harness(
        account=account,
        posted=lambda: [p["message"] for p in fake.posts_of(page["id"])],
        # The Page's token was invalidated (a password change): Meta's 190.
        refuse=lambda: fake.revoke(page["token"]),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.script(
            "POST", fake.path(f"{page['id']}/feed"), Scripted(drop=True, after=True)
        ),
        replies=lambda on: [c["text"] for c in fake.comments if c["on"] == on["id"]],
        alt_texts=lambda: [ph["alt"] for ph in fake.posts_of(page["id"])[0]["photos"]],
    )


def instagram_harness(request, **fields) -> Harness:
    fake = request.getfixturevalue("fake_meta")
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = request.getfixturevalue("tmp_path") / "media"
    # Instagram fetches images from this site's public address.
    settings.PUBLIC_BASE_URL = "https://queueloop.example"
    page = fake.add_page("Queue Loop News", instagram="queueloop")
    ig_id = page["instagram"]
    account = SocialAccountFactory(
        provider="instagram",
        handle="queueloop",
        external_id=ig_id,
        credentials={"page_token": page["token"]},
        options={"ig_user_id": ig_id, "username": "queueloop", "page_id": page["id"]},
        **fields,
    )
    return Harness(
        account=account,
        posted=lambda: [m["caption"] for m in fake.media_of(ig_id)],
        refuse=lambda: fake.script(
            "POST",
            fake.path(f"{ig_id}/media"),
            Scripted(
                400,
                {
                    "error": {
                        "message": "Invalid parameter",
                        "type": "OAuthException",
                        "code": 100,
                        "error_subcode": 2207001,
                    }
                },
            ),
        ),
        refused_as=Rejected,
        lose_answer=lambda: fake.script(
            "POST", fake.path(f"{ig_id}/media_publish"), Scripted(drop=True, after=True)
        ),
        replies=lambda on: [c["text"] for c in fake.comments if c["on"] == on["id"]],
        alt_texts=lambda: [i["alt_text"] for i in fake.media_of(ig_id)[0]["images"]],
    )


def threads_harness(request, **fields) -> Harness:
    fake = request.getfixturevalue("fake_threads")
    user_id, token = fake.add_user("queueloop")
    account = SocialAccountFactory(
        provider="threads",
        handle="queueloop",
        external_id=user_id,
        credentials={"access_token": token},
        options={"user_id": user_id, "username": "queueloop"},
        **fields,
    )
    return Harness(
        account=account,
        posted=lambda: [p["text"] for p in fake.posts_of(user_id)],
        refuse=lambda: fake.script(
            "POST",
            f"/v1.0/{user_id}/threads",
            Scripted(
                400,
                {"error": {"message": "Invalid parameter", "type": "THApiException", "code": 100}},
            ),
        ),
        refused_as=Rejected,
        lose_answer=lambda: fake.script(
            "POST", f"/v1.0/{user_id}/threads_publish", Scripted(drop=True, after=True)
        ),
        replies=lambda on: [p["text"] for p in fake.posts if p["reply_to_id"] == on["id"]],
        alt_texts=lambda: [alt for _url, alt in fake.posts_of(user_id)[0]["images"]],
    )


def linkedin_harness(request, **fields) -> Harness:
    from networks.linkedin import tokens

    fake = request.getfixturevalue("fake_linkedin")
    sub = fake.add_member("Ada Lovelace")
    author = f"urn:li:person:{sub}"
    account = SocialAccountFactory(
        provider="linkedin",
        handle="Ada Lovelace",
        external_id=author,
        # r_member_social (granted to approved apps only) lets the contract read the post's
        # counts; publishing needs only w_member_social.
        credentials=tokens.credentials_from_token(
            fake.issue(sub, scope="openid profile w_member_social r_member_social")
        ),
        options={"author": author, "kind": "member", "name": "Ada Lovelace", "member": author},
        **fields,
    )
    return Harness(
        account=account,
        posted=lambda: [p["text"] for p in fake.posts_of(author)],
        refuse=lambda: fake.script(
            "POST",
            "/rest/posts",
            Scripted(422, {"status": 422, "message": "Content is a duplicate of urn:li:share:1"}),
        ),
        refused_as=Rejected,
        lose_answer=lambda: fake.script("POST", "/rest/posts", Scripted(drop=True, after=True)),
        replies=lambda on: [c["message"]["text"] for c in fake.comments if c["object"] == on["id"]],
        alt_texts=lambda: [i["alt_text"] for i in fake.posts_of(author)[0]["images"]],
    )


HARNESSES: dict[str, Callable] = {
    "x": x_harness,
    "mastodon": mastodon_harness,
    "bluesky": bluesky_harness,
    "telegram": telegram_harness,
    "webhook": webhook_harness,
    "sandbox": sandbox_harness,
    "discord": discord_harness,
    "facebook": facebook_harness,
    "instagram": instagram_harness,
    "threads": threads_harness,
    "linkedin": linkedin_harness,
}


def harness_for(name: str, request, **fields) -> Harness:
    """`name`'s harness; `fields` go to its account's factory (e.g. workspace=)."""
    make = HARNESSES.get(name)
    if make is None:
        pytest.fail(
            f"The network {name!r} is registered but has no Harness in "
            "tests/networks/accounts_on_fakes.py: add its fake (tests/networks/fake_<name>.py) "
            "and a harness (networks/README.md, step 3)."
        )
    return make(request, **fields)

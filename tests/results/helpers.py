"""Sent deliveries and accounts on the loopback fakes, for the results tests."""

from __future__ import annotations

import datetime as dt
import itertools

from accounts.models import SocialAccount
from networks.bluesky import adapter as bluesky_adapter
from publishing.models import Delivery, SandboxPost
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory, XAccountFactory

APP_PASSWORD = "abcd-efgh-ijkl-mnop"
_minutes = itertools.count(1)


def sent_deliveries(
    account: SocialAccount, external_ids: list[str], *, sent_at: dt.datetime, post=None
) -> list[Delivery]:
    """One sent delivery per id, each from its own pinned slot (a few queries, any number)."""
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = post or PostFactory(workspace=account.workspace, text="What did this earn?")
    slots = Timeslot.objects.bulk_create(
        [
            Timeslot(
                channel=channel,
                post=post,
                publish_at=sent_at - dt.timedelta(minutes=next(_minutes)),
                status=Timeslot.Status.PUBLISHED,
            )
            for _ in external_ids
        ]
    )
    return Delivery.objects.bulk_create(
        [
            Delivery(
                timeslot=slot,
                account=account,
                post=post,
                text=post.text,
                status=Delivery.Status.SENT,
                external_id=external_id,
                sent_at=sent_at,
                attempts=1,
            )
            for slot, external_id in zip(slots, external_ids, strict=True)
        ]
    )


def x_account(fake_x, *, now: dt.datetime) -> SocialAccount:
    fake_x.add_user("1001", "queueloop")
    tokens = fake_x.issue_tokens("1001")
    return XAccountFactory(
        handle="queueloop",
        external_id="1001",
        credentials={
            "auth": "oauth2",
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": int(now.timestamp()) + tokens["expires_in"],
            "user_id": "1001",
        },
    )


def x_tweets(fake_x, n: int, *, now: dt.datetime) -> list[str]:
    """n tweets on the fake (as POST /2/tweets makes them), their ids."""
    user = fake_x.users["1001"]
    ids = []
    for i in range(n):
        tweet_id = str(next(fake_x._ids))
        user.tweets.append(
            {
                "id": tweet_id,
                "text": f"tweet {i}",
                "media": [],
                "in_reply_to": None,
                "created_at": now,
            }
        )
        ids.append(tweet_id)
    return ids


def mastodon_account(fake_mastodon) -> SocialAccount:
    account_id, token = fake_mastodon.add_account("alice")
    return SocialAccountFactory(
        provider=SocialAccount.Provider.MASTODON,
        handle="alice@fake.social",
        external_id=f"{account_id}@fake.social",
        credentials={"access_token": token},
        options={"instance": fake_mastodon.url, "max_characters": 500, "visibility": "public"},
    )


def bluesky_account(fake_bluesky) -> SocialAccount:
    did = fake_bluesky.add_account("alice.test", APP_PASSWORD)
    _, info = bluesky_adapter.sign_in(fake_bluesky.url, "alice.test", APP_PASSWORD)
    return SocialAccountFactory(
        provider=SocialAccount.Provider.BLUESKY,
        handle="alice.test",
        external_id=did,
        credentials={
            "identifier": "alice.test",
            "app_password": APP_PASSWORD,
            "session": info["session"],
        },
        options={"service": fake_bluesky.url},
    )


def sandbox_posts(account: SocialAccount, n: int) -> list[str]:
    rows = SandboxPost.objects.bulk_create(
        [SandboxPost(account=account, text=f"sandbox {i}") for i in range(n)]
    )
    return [f"sandbox-{row.id}" for row in rows]


# --- The networks added last: LinkedIn pages, Threads, Facebook Pages, Instagram ------------

LINKEDIN_PAGE_SCOPES = (
    "openid profile w_member_social w_organization_social r_organization_admin "
    "r_organization_social"
)


def linkedin_page_account(fake_linkedin, name: str = "Queue Loop Inc") -> SocialAccount:
    from networks.linkedin import tokens

    sub = fake_linkedin.add_member("Ada Lovelace")
    page = fake_linkedin.add_page(name, name.lower().replace(" ", "-"), admins=[sub])
    return SocialAccountFactory(
        provider="linkedin",
        handle=name,
        external_id=page,
        credentials=tokens.credentials_from_token(
            fake_linkedin.issue(sub, scope=LINKEDIN_PAGE_SCOPES)
        ),
        options={
            "author": page,
            "kind": "organization",
            "name": name,
            "member": f"urn:li:person:{sub}",
        },
    )


def linkedin_posts(fake_linkedin, account: SocialAccount, n: int) -> list[str]:
    """n posts on the fake by the account's author (as POST /rest/posts makes them)."""
    urns = []
    for i in range(n):
        urn = f"urn:li:share:{next(fake_linkedin._ids)}"
        fake_linkedin.posts.append(
            {"urn": urn, "author": account.external_id, "commentary": f"post {i}", "images": []}
        )
        urns.append(urn)
    return urns


def threads_account(fake_threads, username: str = "queueloop") -> SocialAccount:
    user_id, token = fake_threads.add_user(username)
    return SocialAccountFactory(
        provider="threads",
        handle=username,
        external_id=user_id,
        credentials={"access_token": token},
        options={"user_id": user_id, "username": username},
    )


def threads_posts(fake_threads, account: SocialAccount, n: int) -> list[str]:
    ids = []
    for i in range(n):
        media_id = str(next(fake_threads._ids))
        fake_threads.posts.append(
            {
                "id": media_id,
                "user_id": account.external_id,
                "text": f"post {i}",
                "reply_to_id": None,
                "permalink": f"https://www.threads.net/@{account.handle}/post/{media_id}",
                "at": 0,
                "images": [],
            }
        )
        ids.append(media_id)
    return ids


def facebook_account(fake_meta, name: str = "Queue Loop News") -> SocialAccount:
    page = fake_meta.add_page(name)
    return SocialAccountFactory(
        provider="facebook",
        handle=page["name"],
        external_id=page["id"],
        credentials={"page_token": page["token"]},
        options={"page_id": page["id"], "page_name": page["name"]},
    )


def facebook_posts(fake_meta, account: SocialAccount, n: int) -> list[str]:
    page = fake_meta.pages[account.external_id]
    return [fake_meta._post(page, message=f"post {i}", photos=[])["id"] for i in range(n)]


def instagram_account(fake_meta, username: str = "queueloop") -> SocialAccount:
    page = fake_meta.add_page(f"{username} page", instagram=username)
    ig_id = page["instagram"]
    return SocialAccountFactory(
        provider="instagram",
        handle=username,
        external_id=ig_id,
        credentials={"page_token": page["token"]},
        options={"ig_user_id": ig_id, "username": username, "page_id": page["id"]},
    )


def instagram_media(fake_meta, account: SocialAccount, n: int) -> list[str]:
    ids = []
    for i in range(n):
        media_id = fake_meta._id()
        fake_meta.media.append(
            {
                "id": media_id,
                "ig_user": account.external_id,
                "caption": f"post {i}",
                "images": [],
                "permalink": f"https://www.instagram.com/p/{media_id}/",
            }
        )
        ids.append(media_id)
    return ids

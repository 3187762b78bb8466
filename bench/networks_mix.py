"""The hot second with channels that reach every network (the networks issue: "make bench
still holds its targets with a channel mixing all networks in the hot second").

One channel in every MIX_EVERY of the hot second holds, beside its webhook account (whose
POST to the receiver is what the hot second's lateness measures), one account on each other
registered network, each on that network's loopback fake; Instagram, whose every post needs
an image, sits in as many other channels whose posts carry one (the drills' fake X takes no
media). The fakes are the tests' (tests/networks/fake_*.py) and the drills' X
(drills/fake_x.py, a real HTTP server; the tests' X fake is an in-process transport). They
run as threads of this orchestrator process, which only waits while the workers publish; the
workers reach them over 127.0.0.1 through the settings a deployment would set (the networks'
*_API_BASE, the allowed hosts; X through the drills' transport hook, bench/settings.py),
which the orchestrator exports before it starts any worker.

What it reports per network: deliveries sent, the posts its fake holds (more than sent is a
double post), and the lateness of `sent_at` after the slot's time (p50/p99). A registered
network without a Seat below is listed under "not in the mix", so the report says what it
did not cover.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

# One channel in this many also reaches every network.
MIX_EVERY = 100


@dataclass
class Fakes:
    servers: dict[str, object] = field(default_factory=dict)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def start() -> Fakes:
    """Start every fake and export the settings the workers need to reach them."""
    from drills.fake_x import FakeX
    from tests.networks.fake_bluesky import FakeBluesky
    from tests.networks.fake_discord import FakeDiscord
    from tests.networks.fake_linkedin import FakeLinkedIn
    from tests.networks.fake_mastodon import FakeMastodon
    from tests.networks.fake_meta_graph import FakeMetaGraph
    from tests.networks.fake_telegram import FakeTelegram
    from tests.networks.fake_threads import FakeThreads

    fakes = Fakes(
        {
            "x": FakeX().start(),
            "mastodon": FakeMastodon().start(),
            "bluesky": FakeBluesky().start(),
            "telegram": FakeTelegram().start(),
            "discord": FakeDiscord().start(),
            "linkedin": FakeLinkedIn().start(),
            "threads": FakeThreads().start(),
            # Facebook Pages and Instagram: one Graph API.
            "meta": FakeMetaGraph().start(),
        }
    )
    os.environ.update(worker_env(fakes))
    _apply_here(fakes)
    return fakes


def worker_env(fakes: Fakes) -> dict[str, str]:
    from tests.networks import fake_linkedin, fake_meta_graph, fake_threads

    return {
        "LINKEDIN_API_BASE": fakes.servers["linkedin"].url,
        "LINKEDIN_CLIENT_ID": fake_linkedin.CLIENT_ID,
        "LINKEDIN_CLIENT_SECRET": fake_linkedin.CLIENT_SECRET,
        "THREADS_API_BASE": fakes.servers["threads"].url + "/v1.0",
        "THREADS_APP_ID": fake_threads.APP_ID,
        "THREADS_APP_SECRET": fake_threads.APP_SECRET,
        "META_GRAPH_BASE": f"{fakes.servers['meta'].url}/{fake_meta_graph.VERSION}",
        "META_APP_ID": fake_meta_graph.APP_ID,
        "META_APP_SECRET": fake_meta_graph.APP_SECRET,
        # Threads and Instagram are given the images' addresses; the fakes never fetch them.
        "PUBLIC_BASE_URL": "http://127.0.0.1:9",
        # tweepy calls X's own host: bench/settings.py routes it here (as the drills do).
        "DRILL_FAKE_X_URL": fakes.servers["x"].url,
        "TELEGRAM_API_BASE": fakes.servers["telegram"].url,
        "INSTANCE_ALLOWED_HOSTS": "127.0.0.1",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "DISCORD_WEBHOOK_HOSTS": "discord.com,127.0.0.1",
    }


def route_this_process(fakes: Fakes) -> None:
    """Point this process's settings at the fakes as the workers' environment does (the
    profile runs the worker's path in-process: `profile-publish --mix`)."""
    from django.conf import settings

    for key, value in worker_env(fakes).items():
        if key.endswith("_HOSTS"):
            setattr(settings, key, value.split(","))
        elif key != "DRILL_FAKE_X_URL":
            setattr(settings, key, value)
    import drills.celeryapp  # noqa: F401 (mounts the fake X: DRILL_FAKE_X_URL is exported)


def _apply_here(fakes: Fakes) -> None:
    """The same settings in this process (Django is set up already): the Bluesky sign-in
    that makes its accounts runs here."""
    from django.conf import settings

    settings.INSTANCE_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"


# --- One seat per network: an account on its fake, and what its fake holds as posted --------


@dataclass(frozen=True)
class Seat:
    account: Callable  # (fakes, workspace, i) -> unsaved SocialAccount
    posted: Callable  # (fakes) -> list of the texts the fake holds
    # Every post needs an image (Instagram): its accounts sit in the mix's image channels,
    # whose posts carry one (the drills' fake X takes no media, so X sits in the others).
    needs_image: bool = False


_X_USERS = itertools.count()


def _x_account(fakes, workspace, i):
    import time

    from accounts.models import SocialAccount

    # A new user each scenario: the fake X, like X, refuses the same text twice from one
    # user, and every scenario's queues hold the same texts.
    n = next(_X_USERS)
    user_id = str(8_000_000 + n)
    token = f"bench-x-{n}"
    fakes.servers["x"].add_user(token, user_id)
    return SocialAccount(
        workspace=workspace,
        provider="x",
        handle=f"x{i}",
        external_id=user_id,
        credentials={
            "auth": "oauth2",
            "access_token": token,
            "refresh_token": f"bench-xr-{i}",
            "expires_at": int(time.time()) + 30 * 86400,
            "token_type": "bearer",
            "scope": "tweet.read tweet.write users.read offline.access",
            "user_id": user_id,
        },
    )


def _mastodon_account(fakes, workspace, i):
    from accounts.models import SocialAccount

    fake = fakes.servers["mastodon"]
    account_id, token = fake.add_account(f"m{i}")
    return SocialAccount(
        workspace=workspace,
        provider="mastodon",
        handle=f"m{i}@fake.social",
        external_id=f"{account_id}@fake.social",
        credentials={"access_token": token},
        options={"instance": fake.url, "max_characters": 500},
    )


def _bluesky_account(fakes, workspace, i):
    from accounts.models import SocialAccount
    from networks.bluesky import adapter

    fake = fakes.servers["bluesky"]
    password = "abcd-efgh-ijkl-mnop"  # noqa: S105 (an app password on the fake)
    did = fake.add_account(f"b{i}.test", password)
    _, info = adapter.sign_in(fake.url, f"b{i}.test", password)
    return SocialAccount(
        workspace=workspace,
        provider="bluesky",
        handle=f"b{i}.test",
        external_id=did,
        credentials={
            "identifier": f"b{i}.test",
            "app_password": password,
            "session": info["session"],
        },
        options={"service": fake.url},
    )


def _telegram_account(fakes, workspace, i):
    from accounts.models import SocialAccount

    fake = fakes.servers["telegram"]
    token = fake.add_bot(f"bench{i}_bot")
    chat_id = fake.add_channel(f"bench_news_{i}")
    fake.set_member(chat_id, token)
    return SocialAccount(
        workspace=workspace,
        provider="telegram",
        handle=f"bench_news_{i}",
        external_id=str(chat_id),
        credentials={"bot_token": token},
        options={
            "chat_id": str(chat_id),
            "chat_type": "channel",
            "chat_username": f"bench_news_{i}",
        },
    )


def _discord_account(fakes, workspace, i):
    from accounts.models import SocialAccount

    hook = fakes.servers["discord"].add_webhook(f"Bench {i}")
    return SocialAccount(
        workspace=workspace,
        provider="discord",
        handle=f"bench{i}",
        external_id=hook["id"],
        credentials={"url": hook["url"]},
        options={"guild_id": hook["guild_id"], "channel_id": hook["channel_id"]},
    )


def _linkedin_account(fakes, workspace, i):
    from accounts.models import SocialAccount
    from networks.linkedin import tokens

    fake = fakes.servers["linkedin"]
    sub = fake.add_member(f"Bench {i}")
    author = f"urn:li:person:{sub}"
    return SocialAccount(
        workspace=workspace,
        provider="linkedin",
        handle=f"Bench {i}",
        external_id=author,
        credentials=tokens.credentials_from_token(fake.issue(sub)),
        options={"author": author, "kind": "member", "name": f"Bench {i}", "member": author},
    )


def _threads_account(fakes, workspace, i):
    from accounts.models import SocialAccount

    user_id, token = fakes.servers["threads"].add_user(f"bench{i}")
    return SocialAccount(
        workspace=workspace,
        provider="threads",
        handle=f"bench{i}",
        external_id=user_id,
        credentials={"access_token": token},
        options={"user_id": user_id, "username": f"bench{i}"},
    )


def _facebook_account(fakes, workspace, i):
    from accounts.models import SocialAccount

    page = fakes.servers["meta"].add_page(f"Bench page {i}")
    return SocialAccount(
        workspace=workspace,
        provider="facebook",
        handle=page["name"],
        external_id=page["id"],
        credentials={"page_token": page["token"]},
        options={"page_id": page["id"], "page_name": page["name"]},
    )


def _instagram_account(fakes, workspace, i):
    from accounts.models import SocialAccount

    page = fakes.servers["meta"].add_page(f"Bench IG page {i}", instagram=f"bench{i}")
    ig_id = page["instagram"]
    return SocialAccount(
        workspace=workspace,
        provider="instagram",
        handle=f"bench{i}",
        external_id=ig_id,
        credentials={"page_token": page["token"]},
        options={"ig_user_id": ig_id, "username": f"bench{i}", "page_id": page["id"]},
    )


def _sandbox_account(fakes, workspace, i):
    from accounts.models import SocialAccount

    return SocialAccount(workspace=workspace, provider="sandbox", handle=f"sandbox{i}")


def _sandbox_posted(fakes):
    from publishing.models import SandboxPost

    return list(SandboxPost.objects.values_list("text", flat=True))


SEATS: dict[str, Seat] = {
    "x": Seat(_x_account, lambda f: [c.text for c in f.servers["x"].creates]),
    "mastodon": Seat(
        _mastodon_account, lambda f: [s["text"] for s in f.servers["mastodon"].statuses]
    ),
    "bluesky": Seat(
        _bluesky_account,
        lambda f: [r["text"] for r in f.servers["bluesky"].records.values() if "text" in r],
    ),
    "telegram": Seat(
        _telegram_account, lambda f: [m["text"] for m in f.servers["telegram"].messages]
    ),
    "discord": Seat(
        _discord_account, lambda f: [m["content"] for m in f.servers["discord"].messages]
    ),
    "linkedin": Seat(_linkedin_account, lambda f: [p["text"] for p in f.servers["linkedin"].posts]),
    "threads": Seat(
        _threads_account,
        lambda f: [p["text"] for p in f.servers["threads"].posts if not p["reply_to_id"]],
    ),
    "facebook": Seat(_facebook_account, lambda f: [p["message"] for p in f.servers["meta"].posts]),
    "instagram": Seat(
        _instagram_account,
        lambda f: [m["caption"] for m in f.servers["meta"].media],
        needs_image=True,
    ),
    "sandbox": Seat(_sandbox_account, _sandbox_posted),
}


def not_in_the_mix() -> list[str]:
    """Registered networks the mix does not cover (the webhook is every channel's own)."""
    from networks import registry

    return [name for name in registry.NETWORKS if name not in SEATS and name != "webhook"]


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(out, format="JPEG")
    return out.getvalue()


def _give_an_image(channels) -> None:
    """A ready JPEG on the queued post of each of these channels (the upload and the worker's
    re-encoding, run here)."""
    from channels.models import QueueEntry
    from posts.images import post_image_add
    from posts.tasks import process_image

    data = _jpeg()
    for entry in QueueEntry.objects.filter(channel__in=channels).select_related("post"):
        image = post_image_add(post=entry.post, data=data, filename="b.jpg", alt_text="Bench")
        process_image(image.id)


def add_accounts(fakes: Fakes, workspace, channels) -> list[int]:
    """In every MIX_EVERY-th channel one account per network (Instagram's in the image
    channels, half-way between); returns those channels' ids."""
    from accounts.models import SocialAccount
    from channels.models import Channel

    text_mix = channels[::MIX_EVERY]
    image_mix = channels[MIX_EVERY // 2 :: MIX_EVERY][: len(text_mix)]
    _give_an_image(image_mix)
    accounts, owners = [], []
    for group, wants_image in ((text_mix, False), (image_mix, True)):
        for i, channel in enumerate(group):
            for seat in SEATS.values():
                if seat.needs_image == wants_image:
                    accounts.append(seat.account(fakes, workspace, i + 1000 * wants_image))
                    owners.append(channel.id)
    mixed = [*text_mix, *image_mix]
    made = SocialAccount.objects.bulk_create(accounts)
    Channel.accounts.through.objects.bulk_create(
        [
            Channel.accounts.through(channel_id=channel_id, socialaccount_id=account.id)
            for channel_id, account in zip(owners, made, strict=True)
        ]
    )
    return [channel.id for channel in mixed]


def held_before(fakes: Fakes) -> dict[str, int]:
    """How many posts each fake holds already (the fakes live for the whole run; a scenario
    counts what it adds)."""
    return {name: len(seat.posted(fakes)) for name, seat in SEATS.items()}


def readings(fakes: Fakes, channel_ids: list[int], before: dict[str, int]) -> dict:
    """Per network: deliveries by status, posts its fake holds, lateness of sent_at."""
    from bench.harness import lateness_stats
    from publishing.models import Delivery

    rows = Delivery.objects.filter(timeslot__channel_id__in=channel_ids).exclude(
        account__provider="webhook"
    )
    statuses: dict[str, Counter] = defaultdict(Counter)
    late: dict[str, list[float]] = defaultdict(list)
    for provider, status, sent_at, due in rows.values_list(
        "account__provider", "status", "sent_at", "timeslot__publish_at"
    ):
        statuses[provider][status] += 1
        if sent_at is not None:
            late[provider].append((sent_at - due).total_seconds())
    out = {}
    for name, seat in SEATS.items():
        held = seat.posted(fakes)[before.get(name, 0) :]
        sent = statuses[name].get("sent", 0)
        made = sum(statuses[name].values())
        out[name] = {
            "deliveries": dict(statuses[name]),
            "posts_on_fake": len(held),
            "duplicates": len(held) - len(set(held)),
            **({"sent_at": lateness_stats(late[name])} if late[name] else {}),
            "all_sent": made > 0 and sent == made and len(held) == sent,
        }
    return {
        "channels": len(channel_ids),
        "networks": out,
        "not_in_the_mix": not_in_the_mix(),
    }

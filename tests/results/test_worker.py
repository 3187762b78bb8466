"""A real worker collects metrics for sent deliveries at +1 h, +24 h and +7 days against
the loopback fakes, on the metrics queue; a metrics backlog never holds a publish back."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from publishing.models import Delivery
from queueloop.celery import app as celery_app
from results.models import Age, Snapshot, Tracking
from scheduling import services
from scheduling.models import Timeslot
from tests.conftest import wait_for
from tests.factories import ChannelFactory, QueueEntryFactory, SocialAccountFactory
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_linkedin as linkedin_fakes
from tests.networks import fake_mastodon as mastodon_fakes
from tests.networks import fake_meta_graph as meta_fakes
from tests.networks import fake_threads as threads_fakes
from tests.networks import fake_x as x_fakes
from tests.results.helpers import (
    bluesky_account,
    facebook_account,
    facebook_posts,
    instagram_account,
    instagram_media,
    linkedin_page_account,
    linkedin_posts,
    mastodon_account,
    sandbox_posts,
    sent_deliveries,
    threads_account,
    threads_posts,
    x_account,
    x_tweets,
)

fake_x = x_fakes.fake_x
fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
fake_linkedin = linkedin_fakes.fake_linkedin
fake_threads = threads_fakes.fake_threads
fake_meta = meta_fakes.fake_meta
TASK = "results.collect_metrics"


def _queue_length(name: str) -> int:
    with celery_app.connection_for_write() as conn:
        return conn.default_channel.client.llen(name)


@pytest.fixture
def metrics_queue():
    def purge():
        with celery_app.connection_for_write() as conn:
            conn.default_channel.client.delete(settings.RESULTS_QUEUE)

    purge()
    yield settings.RESULTS_QUEUE
    purge()


@pytest.fixture
def both_queues_worker(transactional_db, broker, metrics_queue):
    """A worker as `make run` starts it: the publishing queue and the metrics queue."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        celery_app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=20,
        queues=[settings.CELERY_TASK_DEFAULT_QUEUE, settings.RESULTS_QUEUE],
    ) as w:
        yield w
    connection.close()


def test_the_collector_is_routed_to_its_own_queue(broker, metrics_queue, db):
    celery_app.send_task(TASK)
    assert _queue_length(metrics_queue) == 1
    assert broker.messages() == []  # nothing on the publishing queue
    entry = celery_app.conf.beat_schedule["collect-metrics"]
    assert entry["task"] == TASK and entry["options"]["priority"] == 9


@pytest.mark.worker
def test_a_worker_collects_every_network_s_counts_at_the_three_ages(
    both_queues_worker, fake_x, fake_mastodon, fake_bluesky, fake_linkedin, fake_threads, fake_meta
):
    start = timezone.now()
    x = x_account(fake_x, now=start)
    [tweet] = x_tweets(fake_x, 1, now=start)
    fake_x.set_metrics(tweet, like_count=4, impression_count=100)
    mastodon = mastodon_account(fake_mastodon)
    status = requests.post(
        f"{fake_mastodon.url}/api/v1/statuses",
        data={"status": "hello"},
        headers={"Authorization": f"Bearer {mastodon.credentials['access_token']}"},
        timeout=5,
    ).json()["id"]
    fake_mastodon.set_counts(status, favourites_count=2)
    bluesky = bluesky_account(fake_bluesky)
    uri = f"at://{bluesky.external_id}/app.bsky.feed.post/3lworker00001"
    fake_bluesky.records[uri] = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "x"}
    fake_bluesky.set_counts(uri, likeCount=6)
    linkedin = linkedin_page_account(fake_linkedin)
    [share] = linkedin_posts(fake_linkedin, linkedin, 1)
    fake_linkedin.set_reactions(share, LIKE=3)
    threads = threads_account(fake_threads)
    [thread] = threads_posts(fake_threads, threads, 1)
    fake_threads.set_insights(thread, likes=5)
    facebook = facebook_account(fake_meta)
    [page_post] = facebook_posts(fake_meta, facebook, 1)
    fake_meta.set_counts(page_post, reactions=8)
    instagram = instagram_account(fake_meta)
    [media] = instagram_media(fake_meta, instagram, 1)
    fake_meta.set_counts(media, like_count=9)
    sandbox = SocialAccountFactory()
    deliveries = [
        *sent_deliveries(x, [tweet], sent_at=start),
        *sent_deliveries(mastodon, [status], sent_at=start),
        *sent_deliveries(bluesky, [uri], sent_at=start),
        *sent_deliveries(linkedin, [share], sent_at=start),
        *sent_deliveries(threads, [thread], sent_at=start),
        *sent_deliveries(facebook, [page_post], sent_at=start),
        *sent_deliveries(instagram, [media], sent_at=start),
        *sent_deliveries(sandbox, sandbox_posts(sandbox, 1), sent_at=start),
    ]
    ids = [d.id for d in deliveries]
    for n, (age, later) in enumerate(
        (
            (Age.HOUR, dt.timedelta(hours=1)),
            (Age.DAY, dt.timedelta(days=1)),
            (Age.WEEK, dt.timedelta(days=7)),
        ),
        start=1,
    ):
        with time_machine.travel(start + later + dt.timedelta(minutes=1), tick=True):
            celery_app.send_task(TASK)
            wait_for(
                lambda n=n: Snapshot.objects.filter(delivery_id__in=ids).count() == 8 * n,
                what=f"the {age} snapshots",
            )
    got = {
        (s.delivery.account.provider, s.age): s.likes
        for s in Snapshot.objects.filter(delivery_id__in=ids).select_related("delivery__account")
    }
    assert {got[("x", a)] for a in Age} == {4}
    assert {got[("mastodon", a)] for a in Age} == {2}
    assert {got[("bluesky", a)] for a in Age} == {6}
    assert {got[("linkedin", a)] for a in Age} == {3}
    assert {got[("threads", a)] for a in Age} == {5}
    assert {got[("facebook", a)] for a in Age} == {8}
    assert {got[("instagram", a)] for a in Age} == {9}
    assert len({got[("sandbox", a)] for a in Age}) == 3  # growing
    assert set(Tracking.objects.filter(delivery_id__in=ids).values_list("state", flat=True)) == {
        Tracking.State.DONE
    }


@pytest.mark.worker
def test_a_publish_due_during_a_metrics_backlog_goes_out_on_time(both_queues_worker, broker):
    # A backlog: a network rate-limits or the collector is slow, its messages pile up.
    with celery_app.producer_or_acquire() as producer:
        for _ in range(300):
            celery_app.send_task(TASK, producer=producer)
    assert _queue_length(settings.RESULTS_QUEUE) > 0
    channel = ChannelFactory(slug="news")
    post = QueueEntryFactory(channel=channel, post__text="On time, whatever the metrics").post
    at = (timezone.now() + dt.timedelta(seconds=2)).replace(microsecond=0)
    slot = services.timeslot_pin(post=post, channel=channel, publish_at=at)
    wait_for(
        lambda: Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED,
        what="the slot to publish",
    )
    delivery = Delivery.objects.get(timeslot=slot)
    assert (delivery.sent_at - at).total_seconds() < 3


def test_make_run_s_and_compose_s_workers_consume_the_metrics_queue():
    from pathlib import Path

    import yaml

    from ops.devrun import worker_command

    command = worker_command("python")
    queues = command[command.index("-Q") + 1].split(",")
    assert queues == [settings.CELERY_TASK_DEFAULT_QUEUE, settings.RESULTS_QUEUE]
    compose = yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text())
    assert "-Q celery,metrics" in compose["services"]["worker"]["command"]

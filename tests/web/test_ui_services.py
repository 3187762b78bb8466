"""The services behind the web UI's queue, account and notice buttons, called directly."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts import services as account_services
from accounts.models import Notice, SocialAccount
from channels import services
from channels.models import Channel, QueueEntry
from editor import services as post_services
from tests.factories import (
    ChannelFactory,
    NoticeFactory,
    PostFactory,
    QueueEntryFactory,
    SocialAccountFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _order(channel: Channel) -> list[tuple[int, int]]:
    return list(
        QueueEntry.objects.filter(channel=channel)
        .order_by("position", "id")
        .values_list("id", "position")
    )


# --- Queue ------------------------------------------------------------------------------


def test_queue_entry_add_appends_or_reactivates_and_stays_importable_from_posts():
    assert post_services.queue_entry_add is services.queue_entry_add
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel, position=7)
    post = PostFactory(workspace=channel.workspace)
    entry = services.queue_entry_add(channel=channel, post=post)
    assert entry.position == 8 and entry.is_active

    QueueEntry.objects.filter(pk=entry.pk).update(is_active=False, times_published=4)
    again = services.queue_entry_add(channel=channel, post=post)
    assert again.pk == entry.pk
    again.refresh_from_db()
    assert again.is_active and again.position == 8 and again.times_published == 4
    assert QueueEntry.objects.filter(channel=channel, post=post).count() == 1


def test_queue_entry_move_swaps_with_its_neighbour_and_renumbers_ties():
    channel = ChannelFactory()
    a = QueueEntryFactory(channel=channel, position=5)
    b = QueueEntryFactory(channel=channel, position=5)  # tie: ordered by id after a
    c = QueueEntryFactory(channel=channel, position=9)

    services.queue_entry_move(entry=c, direction="up")
    assert _order(channel) == [(a.id, 1), (c.id, 2), (b.id, 3)]

    services.queue_entry_move(entry=a, direction="down")
    assert _order(channel) == [(c.id, 1), (a.id, 2), (b.id, 3)]

    # At the ends nothing moves.
    services.queue_entry_move(entry=c, direction="up")
    services.queue_entry_move(entry=b, direction="down")
    assert _order(channel) == [(c.id, 1), (a.id, 2), (b.id, 3)]

    with pytest.raises(ValueError, match="direction"):
        services.queue_entry_move(entry=a, direction="sideways")
    assert _order(channel) == [(c.id, 1), (a.id, 2), (b.id, 3)]


def test_queue_entry_remove_deletes_only_that_entry():
    channel = ChannelFactory()
    gone, kept = QueueEntryFactory(channel=channel), QueueEntryFactory(channel=channel)
    services.queue_entry_remove(entry=gone)
    assert list(QueueEntry.objects.filter(channel=channel)) == [kept]


def test_queue_entry_reactivate_keeps_place_and_history():
    entry = QueueEntryFactory(position=3, is_active=False, times_published=2, max_publications=2)
    services.queue_entry_reactivate(entry=entry)
    entry.refresh_from_db()
    assert entry.is_active
    assert (entry.position, entry.times_published, entry.max_publications) == (3, 2, 2)


def test_queue_entry_set_max_reactivates_a_spent_loop_entry_only_when_raised():
    entry = QueueEntryFactory(is_active=False, times_published=3, max_publications=3)
    assert entry.channel.mode == Channel.Mode.LOOP

    services.queue_entry_set_max(entry=entry, max_publications=2)
    entry.refresh_from_db()
    assert entry.max_publications == 2 and not entry.is_active

    services.queue_entry_set_max(entry=entry, max_publications=5)
    entry.refresh_from_db()
    assert entry.max_publications == 5 and entry.is_active

    services.queue_entry_set_max(entry=entry, max_publications=None)
    entry.refresh_from_db()
    assert entry.max_publications is None and entry.is_active


def test_queue_entry_set_max_leaves_a_used_up_once_entry_inactive():
    channel = ChannelFactory(mode=Channel.Mode.ONCE)
    entry = QueueEntryFactory(channel=channel, is_active=False, times_published=1)
    services.queue_entry_set_max(entry=entry, max_publications=None)
    entry.refresh_from_db()
    assert entry.max_publications is None and not entry.is_active


def test_post_queues_set_joins_ticked_leaves_unticked_and_keeps_used_up_entries():
    workspace = WorkspaceFactory()
    kept, left, used_up, joined = (ChannelFactory(workspace=workspace) for _ in range(4))
    post = PostFactory(workspace=workspace)
    kept_entry = QueueEntryFactory(channel=kept, post=post, times_published=2)
    QueueEntryFactory(channel=left, post=post)
    QueueEntryFactory(channel=used_up, post=post, is_active=False, times_published=1)

    services.post_queues_set(post=post, channels=[kept, joined])

    entries = {e.channel_id: e for e in QueueEntry.objects.filter(post=post)}
    assert set(entries) == {kept.id, used_up.id, joined.id}
    assert entries[kept.id].pk == kept_entry.pk and entries[kept.id].times_published == 2
    assert entries[joined.id].is_active
    assert not entries[used_up.id].is_active


# --- Accounts and notices ----------------------------------------------------------------


def test_account_create_sandbox():
    workspace = WorkspaceFactory()
    account = account_services.account_create_sandbox(workspace=workspace, handle="demo")
    stored = SocialAccount.objects.get(pk=account.pk)
    assert (stored.workspace_id, stored.provider, stored.handle, stored.status) == (
        workspace.id,
        SocialAccount.Provider.SANDBOX,
        "demo",
        SocialAccount.Status.ACTIVE,
    )


def test_account_create_webhook_stores_url_and_secret_in_credentials():
    workspace = WorkspaceFactory()
    account = account_services.account_create_webhook(
        workspace=workspace,
        handle="zap",
        url="https://hooks.example.com/in",
        secret="s3cret-webhook-key-ABCDEFG",
    )
    stored = SocialAccount.objects.get(pk=account.pk)
    assert stored.provider == SocialAccount.Provider.WEBHOOK and stored.handle == "zap"
    assert stored.credentials == {
        "url": "https://hooks.example.com/in",
        "secret": "s3cret-webhook-key-ABCDEFG",
    }


def test_account_set_status_changes_the_status_only():
    account = SocialAccountFactory(
        status=SocialAccount.Status.NEEDS_RECONNECT, last_error="401", reconnect_notified_at=T0
    )
    other = SocialAccountFactory(workspace=account.workspace)

    account_services.account_set_status(account=account, status=SocialAccount.Status.DISABLED)
    account.refresh_from_db()
    assert account.status == SocialAccount.Status.DISABLED

    account_services.account_set_status(account=account, status=SocialAccount.Status.ACTIVE)
    account.refresh_from_db()
    assert account.status == SocialAccount.Status.ACTIVE
    # Documented choice: the incident's record stays (see account_set_status).
    assert account.last_error == "401" and account.reconnect_notified_at == T0
    other.refresh_from_db()
    assert other.status == SocialAccount.Status.ACTIVE

    with pytest.raises(ValueError, match="status"):
        account_services.account_set_status(account=account, status="paused")
    account.refresh_from_db()
    assert account.status == SocialAccount.Status.ACTIVE


def test_notice_dismiss_keeps_the_first_dismissal_time():
    notice = NoticeFactory()
    with time_machine.travel(T0, tick=False):
        account_services.notice_dismiss(notice=notice)
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        account_services.notice_dismiss(notice=notice)
    notice.refresh_from_db()
    assert notice.dismissed_at == T0


def test_notices_dismiss_all_counts_only_shown_notices_of_that_workspace():
    workspace = WorkspaceFactory()
    shown = NoticeFactory.create_batch(2, workspace=workspace)
    earlier = NoticeFactory(workspace=workspace, dismissed_at=T0)
    foreign = NoticeFactory()

    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        count = account_services.notices_dismiss_all(workspace=workspace)

    assert count == 2
    for notice in shown:
        notice.refresh_from_db()
        assert notice.dismissed_at == T0 + dt.timedelta(days=1)
    earlier.refresh_from_db()
    assert earlier.dismissed_at == T0
    assert Notice.objects.get(pk=foreign.pk).dismissed_at is None

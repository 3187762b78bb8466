"""CSV import (issue 13, item 6): every line checked first, errors named by line number,
nothing saved on cancel; then the import runs in chunks on the workers, with progress,
and a chunk run again (a worker killed mid-import) creates no post twice."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from bulk import imports
from bulk.import_rows import FileRefused, parse_file
from bulk.models import ImportJob, ImportRow
from channels.models import QueueEntry
from posts.models import Post, Variation
from scheduling.models import Timeslot
from tests.conftest import race, wait_for
from tests.factories import ChannelFactory, MembershipFactory, XAccountFactory

UTC = dt.UTC
NOW = dt.datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
HEADER = ["text", "variations", "channels", "publish_at", "max_publications", "image_url"]


def csv_bytes(rows, header=HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def clock():
    """Listed first where a test needs it: the login must happen at the travelled time."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def tech(member):
    # Berlin: a wall-clock publish_at is read in the channel's own zone.
    return ChannelFactory(
        workspace=member.workspace, name="#tech", slug="tech", timezone="Europe/Berlin"
    )


@pytest.fixture
def xchan(member):
    channel = ChannelFactory(workspace=member.workspace, name="#x", slug="x-only")
    channel.accounts.add(XAccountFactory(workspace=member.workspace))
    return channel


def upload(web, data: bytes, name="posts.csv"):
    return web.post(reverse("import_upload"), {"file": SimpleUploadedFile(name, data, "text/csv")})


# --- The preview ---------------------------------------------------------------------------


def test_each_bad_row_is_named_by_line_and_nothing_of_it_is_kept(clock, web, member, tech, xchan):
    data = csv_bytes(
        [
            ["Queued twice", "Second text || Third text", "tech", "", "3", ""],  # line 2
            ["Pinned in Berlin", "", "#tech", "2027-03-10 13:30", "", ""],  # line 3
            ["Bad time", "", "tech", "2027-13-45 25:00", "", ""],  # line 4
            ["Unknown channel", "", "tech;nope", "", "", ""],  # line 5
            ["x" * 281, "", "x-only", "", "", ""],  # line 6: over X's 280
            ["In the past", "", "tech", "2027-02-01 10:00", "", ""],  # line 7
            ["Pinned with a cap", "", "tech", "2027-03-10 13:30", "2", ""],  # line 8
            ["Bad cap", "", "tech", "", "0", ""],  # line 9
            ["Bad image", "", "tech", "", "", "ftp://example.com/a.png"],  # line 10
            ["", "", "tech", "", "", ""],  # line 11: empty text
            ["With image", "", "", "", "", "https://example.com/a.png"],  # line 12
        ]
    )
    response = upload(web, data)
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.PREVIEW and (job.total, job.errors) == (3, 8)
    assert Post.objects.count() == 0 and Timeslot.objects.count() == 0

    page = web.get(response["Location"])
    html = page.content.decode()
    errors = {
        r["line"]: " ".join(r["errors"]) for r in imports.import_report(job=job)["error_lines"]
    }
    assert set(errors) == {4, 5, 6, 7, 8, 9, 10, 11}
    assert "publish_at" in errors[4]
    assert "Unknown channel(s): nope." in errors[5]
    assert "280" in errors[6] and "X" in errors[6]
    assert "in the past" in errors[7]
    assert "not to a pinned time" in errors[8]
    assert "max_publications" in errors[9]
    assert "image_url" in errors[10]
    assert "empty" in errors[11]
    for line in errors:
        assert f"Line {line}:" in html
    assert 'id="line-6"' in html and "Import 3 posts" in html

    # Cancel: nothing of the file stays.
    response = web.post(reverse("import_cancel", args=[job.id]))
    assert response.status_code == 302
    assert not ImportJob.objects.exists() and not ImportRow.objects.exists()
    assert Post.objects.count() == 0


def test_confirmed_rows_are_created_as_the_preview_said(
    clock, web, member, tech, xchan, broker, django_capture_on_commit_callbacks
):
    data = csv_bytes(
        [
            ["Queued twice", "Second text || Third text", "tech", "", "3", ""],
            ["Pinned in Berlin", "", "#tech", "2027-03-10 13:30", "", ""],
            ["Exact instant", "", "tech", "2027-03-10T13:30:00Z", "", ""],
            ["Unknown channel", "", "nope", "", "", ""],
            ["With image", "", "", "", "", "https://example.com/a.png"],
            ["x" * 281, "", "x-only", "", "", ""],
            ["Bad time", "", "tech", "2027-03-10 25:61", "", ""],
        ]
    )
    job = imports.import_preview(
        workspace=member.workspace, user=member.user, filename="a.csv", data=data
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert imports.import_start(job=job) == 1
    [message] = [m for m in broker.messages() if m["task"] == "bulk.import_chunk"]
    assert message["args"] == [job.id, 2, 6]
    imports.import_chunk_run(job_id=job.id, first_line=2, last_line=6)
    job.refresh_from_db()
    assert (job.status, job.done, job.imported, job.errors) == ("done", 4, 4, 3)
    report = imports.import_report(job=job)
    assert [r["line"] for r in report["error_lines"]] == [5, 7, 8]

    queued = Post.objects.get(text="Queued twice")
    assert queued.author == member.user
    assert [v.text for v in Variation.objects.filter(post=queued)] == ["Second text", "Third text"]
    assert QueueEntry.objects.get(post=queued, channel=tech).max_publications == 3
    berlin = Timeslot.objects.get(post__text="Pinned in Berlin")
    assert berlin.publish_at == dt.datetime(2027, 3, 10, 12, 30, tzinfo=UTC)  # 13:30 CET
    assert Timeslot.objects.get(post__text="Exact instant").publish_at == dt.datetime(
        2027, 3, 10, 13, 30, tzinfo=UTC
    )
    assert not Post.objects.filter(text="Unknown channel").exists()
    assert not Post.objects.filter(text__in=["x" * 281, "Bad time"]).exists()
    assert Post.objects.count() == 4 and not QueueEntry.objects.filter(channel=xchan).exists()
    assert ImportRow.objects.get(job=job, line=6).image_url == "https://example.com/a.png"
    assert not QueueEntry.objects.filter(post__text="With image").exists()


def test_a_file_that_cannot_be_read_is_a_400_and_saves_nothing(web, member, tech):
    cases = [
        (b"\xff\xfe not utf-8", "UTF-8"),
        (b"", "empty"),
        (b"body,channels\nhi,tech\n", "text"),
        (b"text\n", "no rows"),
    ]
    for data, message in cases:
        response = upload(web, data)
        assert response.status_code == 400, data
        assert message in response.content.decode()
    assert web.post(reverse("import_upload"), {}).status_code == 400
    big = b"text\n" + b"x" * (5 * 1024 * 1024)
    response = upload(web, big)
    assert response.status_code == 400 and "larger than 5 MB" in response.content.decode()
    assert not ImportJob.objects.exists() and Post.objects.count() == 0


def test_unknown_columns_are_ignored_and_said(web, member, tech):
    response = upload(web, b"text,channels,colour\nhello,tech,blue\n")
    page = web.get(response["Location"])
    assert "Column(s) ignored: colour." in page.content.decode()


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_a_viewer_cannot_import(client, member, role):
    viewer = MembershipFactory(workspace=member.workspace, role=role)
    client.force_login(viewer.user)
    assert upload(client, csv_bytes([["hi", "", "", "", "", ""]])).status_code == 403
    assert not ImportJob.objects.exists()


def test_another_workspaces_job_is_not_found(web, member):
    other = MembershipFactory()
    job = imports.import_preview(
        workspace=other.workspace, user=other.user, filename="a.csv", data=b"text\nhi\n"
    )
    assert web.get(reverse("import_detail", args=[job.id])).status_code == 404
    assert web.post(reverse("import_start", args=[job.id])).status_code == 404
    assert web.get(reverse("import_status", args=[job.id])).status_code == 404


def test_another_workspaces_channel_is_unknown(member, tech):
    ChannelFactory(name="#secret", slug="secret")  # another workspace's
    [row] = parse_file(workspace=member.workspace, data=b"text,channels\nhi,secret\n").rows
    assert row.errors == ["Unknown channel(s): secret."] and row.data["channels"] == []


def test_multiline_cells_keep_the_line_they_start_on(member, tech):
    data = b'text,channels\n"two\nlines",tech\nok,nope\n'
    rows = parse_file(workspace=member.workspace, data=data).rows
    assert [(r.line, bool(r.errors)) for r in rows] == [(2, False), (4, True)]


def test_too_many_rows_is_refused(member, monkeypatch):
    monkeypatch.setattr("bulk.import_rows.MAX_ROWS", 3)
    with pytest.raises(FileRefused, match="more than 3 rows"):
        parse_file(workspace=member.workspace, data=b"text\na\nb\nc\nd\n")


# --- Chunks: idempotent, fan-in ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_chunk_run_twice_creates_no_post_twice(member, tech, broker):
    data = csv_bytes([[f"Post {i}", "", "tech", "", "", ""] for i in range(250)])
    job = imports.import_preview(
        workspace=member.workspace, user=member.user, filename="a.csv", data=data
    )
    assert imports.import_start(job=job, chunk_size=100) == 3
    ranges = [tuple(m["args"][1:]) for m in broker.messages() if m["task"] == "bulk.import_chunk"]
    assert ranges == [(2, 101), (102, 201), (202, 251)]
    imports.import_chunk_run(job_id=job.id, first_line=2, last_line=101)
    again = imports.import_chunk_run(job_id=job.id, first_line=2, last_line=101)
    assert (again.created, again.skipped) == (0, 0)  # nothing left in its range
    job.refresh_from_db()
    assert (job.status, job.done) == ("running", 100)
    for first, last in ranges[1:]:
        imports.import_chunk_run(job_id=job.id, first_line=first, last_line=last)
    job.refresh_from_db()
    assert (job.status, job.done, job.imported) == ("done", 250, 250)
    assert Post.objects.count() == 250 == QueueEntry.objects.count()
    assert imports.import_chunk_run(job_id=job.id, first_line=2, last_line=101) is None
    # The activity log names the person who started the import, not the worker.
    from accounts.models import ActivityEntry

    created = ActivityEntry.objects.filter(action="post.created")
    assert created.count() == 250
    assert set(created.values_list("actor_id", "source")) == {(member.user.id, "web")}


@pytest.mark.postgres(reason="the fault is a PL/pgSQL trigger")
@pytest.mark.django_db(transaction=True)
def test_a_row_that_breaks_unexpectedly_is_refused_and_the_rest_imported(member, tech, broker):
    """A database error mid-row (a trigger here): the row's savepoint is rolled back and
    the row refused, so one bad row never blocks the job on every retry."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION ql_test_boom() RETURNS trigger AS $$ BEGIN "
            "IF NEW.text = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END "
            "$$ LANGUAGE plpgsql;"
            "CREATE TRIGGER ql_test_boom BEFORE INSERT ON posts_post "
            "FOR EACH ROW EXECUTE FUNCTION ql_test_boom();"
        )
    try:
        data = csv_bytes([[t, "", "tech", "", "", ""] for t in ("before", "boom", "after")])
        job = imports.import_preview(
            workspace=member.workspace, user=member.user, filename="a.csv", data=data
        )
        imports.import_start(job=job)
        imports.import_chunk_run(job_id=job.id, first_line=2, last_line=4)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER ql_test_boom ON posts_post; DROP FUNCTION ql_test_boom();")
    job.refresh_from_db()
    assert (job.status, job.imported, job.errors) == ("done", 2, 1)
    assert sorted(Post.objects.values_list("text", flat=True)) == ["after", "before"]
    assert "internal error" in imports.import_report(job=job)["error_lines"][0]["errors"][0]


@pytest.mark.django_db(transaction=True)
def test_lost_chunk_messages_are_sent_again_for_the_rows_left(member, tech, broker):
    data = csv_bytes([[f"Post {i}", "", "tech", "", "", ""] for i in range(150)])
    job = imports.import_preview(
        workspace=member.workspace, user=member.user, filename="a.csv", data=data
    )
    imports.import_start(job=job, chunk_size=100)
    imports.import_chunk_run(job_id=job.id, first_line=2, last_line=101)
    broker.purge()  # the broker lost the second chunk's message
    assert imports.import_resume(job=job, chunk_size=100) == 1
    [message] = [m for m in broker.messages() if m["task"] == "bulk.import_chunk"]
    assert message["args"] == [job.id, 102, 151]
    imports.import_chunk_run(job_id=job.id, first_line=102, last_line=151)
    job.refresh_from_db()
    assert (job.status, job.imported) == ("done", 150) and Post.objects.count() == 150
    assert imports.import_resume(job=job) == 0  # a finished job has nothing to resend


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_chunk_run_twice_at_once_creates_each_post_once(member, tech, broker):
    """A redelivered message while the first run is still going: the row locks make the
    second run wait, then skip what the first did."""
    data = csv_bytes([[f"Post {i}", "", "tech", "", "", ""] for i in range(60)])
    job = imports.import_preview(
        workspace=member.workspace, user=member.user, filename="a.csv", data=data
    )
    imports.import_start(job=job)
    results = race(
        lambda: imports.import_chunk_run(job_id=job.id, first_line=2, last_line=61),
        lambda: imports.import_chunk_run(job_id=job.id, first_line=2, last_line=61),
    )
    assert sum(r.created for r in results) == 60
    assert Post.objects.count() == 60 == QueueEntry.objects.count()
    job.refresh_from_db()
    assert (job.status, job.imported) == ("done", 60)


@pytest.mark.django_db(transaction=True)
def test_a_row_whose_channel_went_away_is_reported_at_import(member, tech, broker):
    data = csv_bytes([["fine", "", "", "", "", ""], ["queued", "", "tech", "", "", ""]])
    job = imports.import_preview(
        workspace=member.workspace, user=member.user, filename="a.csv", data=data
    )
    imports.import_start(job=job)
    tech.delete()
    imports.import_chunk_run(job_id=job.id, first_line=2, last_line=3)
    job.refresh_from_db()
    assert (job.status, job.imported, job.errors) == ("done", 1, 1)
    [row] = imports.import_report(job=job)["error_lines"]
    assert row["line"] == 3 and "deleted since the preview" in row["errors"][0]
    assert list(Post.objects.values_list("text", flat=True)) == ["fine"]


# --- With a real worker ------------------------------------------------------------------------


def _poll_until_done(web, job_id: int) -> list[int]:
    seen: list[int] = []

    def done():
        status = web.get(reverse("import_status", args=[job_id])).json()
        seen.append(status["done"])
        return status["status"] == "done"

    wait_for(done, timeout=120, interval=0.05, what="the import to finish")
    return seen


@pytest.mark.worker
def test_2000_rows_import_in_chunks_with_progress_going_up(worker, client, member, tech):
    client.force_login(member.user)
    data = csv_bytes([[f"Evergreen {i}", f"Again {i}", "tech", "", "", ""] for i in range(2000)])
    response = upload(client, data, "big.csv")
    job = ImportJob.objects.get()
    assert job.total == 2000 and job.errors == 0
    assert client.post(reverse("import_start", args=[job.id])).status_code == 302
    page = client.get(reverse("import_detail", args=[job.id])).content.decode()
    assert 'role="progressbar"' in page and "aria-valuenow" in page and "hx-trigger" in page

    seen = _poll_until_done(client, job.id)
    assert seen == sorted(seen), "progress never goes back"
    assert any(0 < s < 2000 for s in seen), f"no intermediate progress seen: {sorted(set(seen))}"
    job.refresh_from_db()
    assert (job.done, job.imported, job.errors) == (2000, 2000, 0)
    assert Post.objects.count() == 2000 == QueueEntry.objects.filter(channel=tech).count()
    assert Variation.objects.count() == 2000
    # The queue keeps distinct positions under concurrent chunks.
    positions = list(QueueEntry.objects.values_list("position", flat=True))
    assert len(set(positions)) == 2000
    report = client.get(reverse("import_progress", args=[job.id]), {"said": "x"})
    assert report.status_code == 286  # htmx stops polling
    assert "Done: 2000 posts imported" in report.content.decode()
    assert "Import done: 2000 post(s) imported." in report.content.decode()  # the live region
    assert response.status_code == 302


@pytest.mark.worker
def test_a_worker_killed_mid_import_leaves_no_duplicate(transactional_db, broker, member, tech):
    """The killed worker had done the first chunk and part of the second, but acknowledged
    neither (acks_late): both messages are still in the broker when a worker comes back."""
    from celery.contrib.testing.worker import start_worker
    from django.db import connection

    from queueloop.celery import app

    data = csv_bytes([[f"Post {i}", "", "tech", "", "", ""] for i in range(300)])
    job = imports.import_preview(
        workspace=member.workspace, user=member.user, filename="a.csv", data=data
    )
    assert imports.import_start(job=job, chunk_size=100) == 3
    # What the dead worker managed: chunk 1, and 30 rows of chunk 2.
    imports.import_chunk_run(job_id=job.id, first_line=2, last_line=101)
    imports.import_chunk_run(job_id=job.id, first_line=102, last_line=131)
    assert Post.objects.count() == 130
    assert len([m for m in broker.messages() if m["task"] == "bulk.import_chunk"]) == 3

    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"
    ):
        wait_for(
            lambda: ImportJob.objects.get(pk=job.pk).status == "done",
            timeout=60,
            what="the restarted worker to finish the import",
        )
    connection.close()
    job.refresh_from_db()
    assert (job.done, job.imported) == (300, 300)
    assert Post.objects.count() == 300
    assert sorted(Post.objects.values_list("text", flat=True)) == sorted(
        f"Post {i}" for i in range(300)
    )
    assert ImportRow.objects.filter(post__isnull=True).count() == 0
    assert QueueEntry.objects.count() == 300


def test_the_progress_poll_tells_a_screen_reader_only_new_milestones(web, member, tech):
    job = imports.import_preview(
        workspace=member.workspace, user=member.user, filename="a.csv", data=b"text\nhi\n"
    )
    ImportJob.objects.filter(pk=job.pk).update(status="running", total=10, done=3)
    url = reverse("import_progress", args=[job.id])
    first = web.get(url, {"said": "Importing: 0 % done."})
    assert first.status_code == 200
    assert 'hx-swap-oob="innerHTML">Importing: 30 % done.' in first.content.decode()
    again = web.get(url, {"said": "Importing: 30 % done."})
    assert "hx-swap-oob" not in again.content.decode()
    assert 'aria-valuenow="3"' in again.content.decode()

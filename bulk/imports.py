"""CSV import as a background job: preview, confirm, chunks on the workers, report.

- `import_preview` reads and checks the whole file (bulk.import_rows) and stores the job
  with one row per data line, in status `preview`: no post exists yet, and
  `import_cancel` deletes it all.
- `import_start` sends one `bulk.import_chunk` task per CHUNK_SIZE lines, after commit.
- `import_chunk_run` creates each row's post under a lock on the row and links the row to
  it in the same transaction (COMMIT_EVERY rows per transaction, a savepoint per row), so
  a chunk that runs again (a worker killed mid-chunk whose message is redelivered,
  `import_resume`) skips what is done and redoes what was rolled back.
- Fan-in without a chord, as the planner does (scheduling.planner): each chunk commits its
  rows before it looks, so the last one to finish sees none left; a conditional UPDATE lets
  exactly one of them finish the job.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.activity import activity_context
from accounts.models import ActivitySource, EventType, Workspace
from accounts.outbox import record_event
from bulk import import_rows
from bulk.models import ImportJob, ImportRow
from channels.models import Channel, QueueEntry
from channels.services import queue_entry_set_max
from editor import services as compose
from ground.validation import error_messages
from queueloop.celery import send_many
from scheduling.rules import localize

log = logging.getLogger(__name__)

CHUNK_TASK = "bulk.import_chunk"
CHUNK_SIZE = 100
# A preview nobody confirmed or canceled is deleted after this long.
PREVIEW_TTL = dt.timedelta(days=1)
# Rows per transaction inside a chunk: the progress moves at each commit.
COMMIT_EVERY = 20


def import_preview(
    *, workspace: Workspace, user, filename: str, data: bytes, now: dt.datetime | None = None
) -> ImportJob:
    """Check every line and store the preview (raises import_rows.FileRefused)."""
    now = now or timezone.now()
    parsed = import_rows.parse_file(workspace=workspace, data=data, now=now)
    with transaction.atomic():
        ImportJob.objects.filter(
            status=ImportJob.Status.PREVIEW, created_at__lt=now - PREVIEW_TTL
        ).delete()
        job = ImportJob.objects.create(
            workspace=workspace,
            user=user,
            filename=filename[:200],
            total=sum(not r.errors for r in parsed.rows),
            errors=sum(bool(r.errors) for r in parsed.rows),
        )
        ImportRow.objects.bulk_create(
            [
                ImportRow(
                    job=job,
                    line=r.line,
                    data=r.data,
                    valid=not r.errors,
                    errors=r.errors,
                    image_url=r.image_url,
                )
                for r in parsed.rows
            ],
            batch_size=500,
        )
    job.ignored_columns = parsed.ignored_columns
    return job


def import_cancel(*, job: ImportJob) -> bool:
    """Drop a preview and its rows: nothing of the file stays. False once it was started."""
    deleted, _ = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PREVIEW).delete()
    return bool(deleted)


def _line_ranges(job: ImportJob, chunk_size: int) -> list[tuple[int, int]]:
    lines = list(
        job.rows.filter(valid=True, processed_at__isnull=True)
        .order_by("line")
        .values_list("line", flat=True)
    )
    return [
        (lines[i], lines[min(i + chunk_size, len(lines)) - 1])
        for i in range(0, len(lines), chunk_size)
    ]


def _send_chunks(job_id: int, ranges: list[tuple[int, int]]) -> None:
    try:
        send_many(CHUNK_TASK, [((job_id, a, b), None) for a, b in ranges], what="import chunk")
    except Exception:
        # The job stays queued; `import_resume` (the progress page offers it) sends again.
        log.exception("broker refused import %s's chunk messages", job_id)


def import_start(*, job: ImportJob, chunk_size: int = CHUNK_SIZE) -> int:
    """Confirm a preview: send its chunks after commit; returns how many (0: not started,
    because it was started already or has no valid row)."""
    if not job.total:
        return 0
    with transaction.atomic():
        started = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PREVIEW).update(
            status=ImportJob.Status.QUEUED, started_at=timezone.now()
        )
        if not started:
            return 0
        ranges = _line_ranges(job, chunk_size)
        transaction.on_commit(lambda: _send_chunks(job.pk, ranges))
    job.refresh_from_db()
    return len(ranges)


def import_resume(*, job: ImportJob, chunk_size: int = CHUNK_SIZE) -> int:
    """Send chunks again for the rows not handled yet (lost messages). Safe to repeat: a
    row that is done is skipped, one in progress is waited for."""
    if job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
        return 0
    ranges = _line_ranges(job, chunk_size)
    if not ranges:
        _finish_if_last(job.pk)
        return 0
    transaction.on_commit(lambda: _send_chunks(job.pk, ranges))
    return len(ranges)


@dataclass
class ChunkResult:
    created: int = 0
    refused: int = 0
    skipped: int = 0


def _publish_at_by_channel(data: dict, channels: list[Channel]) -> dict | None:
    if not data.get("publish_at"):
        return None
    value = dt.datetime.fromisoformat(data["publish_at"])
    if timezone.is_aware(value):
        return {c.id: value for c in channels}
    return {c.id: localize(value, c.tz) for c in channels}


@dataclass(frozen=True)
class PinTime:
    """Where a previewed row will be pinned: one channel, the instant, the channel's zone."""

    channel: str
    at: dt.datetime
    zone: str


def import_preview_pins(*, job: ImportJob, rows: list[ImportRow]) -> dict[int, list[PinTime]]:
    """Each pinned row's time per channel, by row id, for the preview: a wall-clock
    publish_at is read in each channel's own zone, so the preview names the zone and offset
    rather than showing a bare 2027-03-10T13:30:00. One query."""
    ids = {cid for row in rows if row.data.get("publish_at") for cid in row.data["channels"]}
    if not ids:
        return {}
    channels = {c.id: c for c in Channel.objects.filter(workspace_id=job.workspace_id, id__in=ids)}
    pins: dict[int, list[PinTime]] = {}
    for row in rows:
        if not row.data.get("publish_at"):
            continue
        picked = [channels[cid] for cid in row.data["channels"] if cid in channels]
        by_channel = _publish_at_by_channel(row.data, picked)
        pins[row.id] = [PinTime(c.name, by_channel[c.id], c.timezone) for c in picked]
    return pins


def _create_post(job: ImportJob, row: ImportRow) -> None:
    data = row.data
    by_id = {
        c.id: c
        for c in Channel.objects.filter(workspace_id=job.workspace_id, id__in=data["channels"])
    }
    missing = [
        name
        for cid, name in zip(data["channels"], data["channel_names"], strict=True)
        if cid not in by_id
    ]
    if missing:
        raise ValidationError(f"Channel(s) deleted since the preview: {', '.join(missing)}.")
    channels = [by_id[cid] for cid in data["channels"]]
    post = compose.post_create(
        workspace=job.workspace,
        text=data["text"],
        channels=channels,
        author=job.user,
        variations=data["variations"],
        publish_at_by_channel=_publish_at_by_channel(data, channels),
    )
    if data.get("max_publications"):
        for entry in QueueEntry.objects.filter(post=post).select_related("channel"):
            queue_entry_set_max(entry=entry, max_publications=data["max_publications"])
    row.post = post


def _import_rows(job: ImportJob, row_ids: list[int], result: ChunkResult) -> None:
    """A few rows in one transaction (one commit, not one per row), each row all or
    nothing in its own savepoint. The rows are locked first, in line order: a second run
    of the same chunk waits here, and PostgreSQL then re-reads `processed_at IS NULL`, so
    it finds the rows done and skips them."""
    with transaction.atomic():
        rows = list(
            ImportRow.objects.select_for_update()
            .filter(id__in=row_ids, processed_at__isnull=True)
            .order_by("line")
        )
        result.skipped += len(row_ids) - len(rows)
        for row in rows:
            fields = ["post", "processed_at"]
            try:
                with transaction.atomic():
                    _create_post(job, row)
                result.created += 1
            except ValidationError as exc:
                # Something changed since the preview (a channel deleted, an account with
                # a shorter limit added, a pinned time now past): nothing of it was saved.
                row.post, row.valid, row.errors = None, False, error_messages(exc)
                fields += ["valid", "errors"]
                result.refused += 1
            except SoftTimeLimitExceeded:
                raise  # the chunk stops here; its rows left are done by the next run
            except Exception:
                # A row that breaks something unexpected must not block the whole job on
                # every retry: it is refused (its savepoint rolled back), the rest goes on.
                log.exception("import %s line %s failed", job.pk, row.line)
                row.post, row.valid = None, False
                row.errors = ["This row could not be imported (an internal error, logged)."]
                fields += ["valid", "errors"]
                result.refused += 1
            row.processed_at = timezone.now()
            row.save(update_fields=fields)


def _update_progress(job_id: int) -> None:
    handled = ImportRow.objects.filter(job_id=job_id, processed_at__isnull=False).count()
    # Greatest: a chunk that counted earlier never moves the bar back.
    ImportJob.objects.filter(pk=job_id).update(done=Greatest(F("done"), handled))


def import_chunk_run(*, job_id: int, first_line: int, last_line: int) -> ChunkResult | None:
    job = ImportJob.objects.select_related("workspace", "user").filter(pk=job_id).first()
    if job is None or job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
        return None
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING
    )
    row_ids = list(
        job.rows.filter(
            line__gte=first_line, line__lte=last_line, valid=True, processed_at__isnull=True
        )
        .order_by("line")
        .values_list("id", flat=True)
    )
    result = ChunkResult()
    # The worker writes on behalf of the person who started the import on the web page:
    # the activity log names them, not the engine.
    with activity_context(source=ActivitySource.WEB, user=job.user):
        for i in range(0, len(row_ids), COMMIT_EVERY):
            _import_rows(job, row_ids[i : i + COMMIT_EVERY], result)
            _update_progress(job.pk)
    _finish_if_last(job.pk)
    return result


def _finish_if_last(job_id: int) -> bool:
    """Fan-in: the chunk that finds no row left to handle finishes the job, once."""
    if ImportRow.objects.filter(job_id=job_id, valid=True, processed_at__isnull=True).exists():
        return False
    rows = ImportRow.objects.filter(job_id=job_id)
    with transaction.atomic():  # finished with its event, or neither
        finished = ImportJob.objects.filter(
            pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
        ).update(
            status=ImportJob.Status.DONE,
            finished_at=timezone.now(),
            done=F("total"),
            imported=rows.filter(post__isnull=False).count(),
            errors=rows.filter(valid=False).count(),
        )
        if finished:
            job = ImportJob.objects.get(pk=job_id)
            record_event(
                workspace_id=job.workspace_id,
                type=EventType.IMPORT_FINISHED,
                payload={
                    "import_id": job.pk,
                    "filename": job.filename,
                    "status": str(job.status),
                    "total": job.total,
                    "imported": job.imported,
                    "errors": job.errors,
                    "finished_at": job.finished_at.isoformat(),
                },
            )
    return bool(finished)


def import_milestone(*, job: ImportJob) -> str:
    """What a screen reader is told about the progress: it changes at each 10 % only."""
    if job.status == ImportJob.Status.DONE:
        refused = f", {job.errors} row(s) not imported" if job.errors else ""
        return f"Import done: {job.imported} post(s) imported{refused}."
    return f"Importing: {job.percent // 10 * 10} % done."


def import_report(*, job: ImportJob) -> dict:
    """What the progress page and the status endpoint show."""
    errors = list(
        job.rows.filter(valid=False).order_by("line").values("line", "errors")
        if job.status in (ImportJob.Status.PREVIEW, ImportJob.Status.DONE)
        else []
    )
    return {
        "id": job.pk,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "percent": job.percent,
        "imported": job.imported,
        "errors": job.errors,
        "error_lines": errors,
    }

"""The sandbox network: posts land on an in-app timeline per account (demos, staging)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from networks import thread
from networks.base import PlainTextProvider, Rejected
from networks.contract import (
    Capabilities,
    Counts,
    Deleted,
    FoundPost,
    LengthCounting,
    NotFound,
    PostMetrics,
    Published,
    ReadBack,
)

THREAD_SEPARATOR = "\n\n---\n\n"


class SandboxProvider(PlainTextProvider):
    label = "The sandbox"
    name = "sandbox"
    max_length = 500
    # The timeline row is unique per delivery, so a repeated call cannot post twice.
    idempotent = True
    # A row in our own database, no network wait: a delivery chunk calls it in the task's
    # own thread (publishing/delivery.py) instead of its pool of network lanes.
    inline = True
    capabilities = Capabilities(
        threads=True,
        # The timeline shows text only.
        images=False,
        max_images=0,
        video=False,
        # A reply shown under the post on its timeline row.
        first_comment=True,
        idempotent=True,
        read_back=True,
        length_counting=LengthCounting.CHARACTERS,
    )

    def publish(self, delivery) -> Published:
        errors = thread.validate_parts(self, delivery)
        if errors:
            raise Rejected(" ".join(errors))
        # One timeline row per delivery (that is what makes it idempotent): a thread's
        # parts are shown in it one after another.
        text = THREAD_SEPARATOR.join(thread.texts_of(delivery))
        # The timeline's model (publishing.SandboxPost) is reached through the delivery's
        # model: publishing sits above networks, so it is not imported.
        timeline = delivery._meta.get_field("sandbox_post").related_model._default_manager
        try:
            with transaction.atomic():
                row = timeline.create(account_id=delivery.account_id, delivery=delivery, text=text)
        except IntegrityError:
            row = timeline.get(delivery=delivery)
        url = reverse("sandbox_timeline", args=[delivery.account_id]) + f"#post-{row.id}"
        return Published(external_id=f"sandbox-{row.id}", url=url)

    def find_published(self, delivery, *, since) -> ReadBack:
        # Exact: the timeline row is unique per delivery and holds the whole thread.
        timeline = delivery._meta.get_field("sandbox_post").related_model._default_manager
        row = timeline.filter(delivery_id=delivery.id).first()
        if row is None:
            return NotFound(searched="the sandbox timeline has no row for this delivery")
        url = reverse("sandbox_timeline", args=[delivery.account_id]) + f"#post-{row.id}"
        return FoundPost(ref={"id": f"sandbox-{row.id}", "url": url})

    def publish_comment(self, delivery, text: str, *, on: dict) -> dict:
        """The first comment: stored on the post's timeline row, shown as its reply. Only
        an empty comment is written, so a repeated call cannot make a second."""
        errors = self.validate(text)
        if errors:
            raise Rejected("The first comment: " + " ".join(errors))
        timeline = delivery._meta.get_field("sandbox_post").related_model._default_manager
        row = timeline.filter(delivery=delivery).only("id", "comment").first()
        if row is None:
            raise Rejected("The post the first comment replies to is not on the timeline.")
        timeline.filter(id=row.id, comment="").update(comment=text)
        url = reverse("sandbox_timeline", args=[delivery.account_id]) + f"#comment-{row.id}"
        return {"id": f"sandbox-{row.id}-comment", "url": url}

    def metrics(self, account, external_ids: list[str]) -> dict[str, PostMetrics]:
        """Made-up counts, the same for the same post at the same age, growing with its
        age (so the demo's results page has data to draw): one query for the whole batch.
        A timeline row that no longer exists is a deleted post."""
        timeline = self._timeline()
        wanted = {}
        for external_id in external_ids:
            number = external_id.removeprefix("sandbox-")
            if number.isdigit():
                wanted[int(number)] = external_id
        rows = timeline.filter(id__in=list(wanted), account_id=account.id).values_list(
            "id", "created_at"
        )
        found: dict[str, PostMetrics] = {}
        now = timezone.now()
        for row_id, created_at in rows:
            hours = max(0, int((now - created_at).total_seconds() // 3600))
            found[wanted[row_id]] = sandbox_counts(row_id, hours)
        for external_id in external_ids:
            found.setdefault(external_id, Deleted("the sandbox timeline has no such post"))
        return found

    def _timeline(self):
        from django.apps import apps

        return apps.get_model("publishing", "SandboxPost")._default_manager

    def check(self, account) -> str:
        return "The sandbox is always reachable."


def sandbox_counts(row_id: int, hours: int) -> Counts:
    """The sandbox's counts for post `row_id` at `hours` old: deterministic, growing fast in
    the first day and slowly after, each post with its own appeal (1 to 5)."""
    appeal = row_id % 5 + 1
    grown = min(hours, 24) + max(0, min(hours, 24 * 7) - 24) // 12
    return Counts(
        likes=appeal * (2 + grown),
        reposts=appeal * (1 + grown // 3),
        replies=appeal * grown // 6,
        quotes=appeal * grown // 12,
        impressions=appeal * 40 * (1 + grown),
    )


network = SandboxProvider()
# The name the code used before networks/ had a contract.
provider = network

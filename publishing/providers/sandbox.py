"""The sandbox network: posts land on an in-app timeline per account (demos, staging)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.urls import reverse

from publishing.providers import PlainTextProvider, Published, Rejected, thread

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

    def publish(self, delivery) -> Published:
        from publishing.models import SandboxPost

        errors = thread.validate_parts(self, delivery)
        if errors:
            raise Rejected(" ".join(errors))
        # One timeline row per delivery (that is what makes it idempotent): a thread's
        # parts are shown in it one after another.
        text = THREAD_SEPARATOR.join(thread.texts_of(delivery))
        try:
            with transaction.atomic():
                row = SandboxPost.objects.create(
                    account_id=delivery.account_id, delivery=delivery, text=text
                )
        except IntegrityError:
            row = SandboxPost.objects.get(delivery=delivery)
        url = reverse("sandbox_timeline", args=[delivery.account_id]) + f"#post-{row.id}"
        return Published(external_id=f"sandbox-{row.id}", url=url)

    def check(self, account) -> str:
        return "The sandbox is always reachable."


provider = SandboxProvider()

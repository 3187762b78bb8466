"""Give every stored reason its code (issue 25, item 4): existing rows carry only the text.

The texts are the ones the code wrote up to this migration, frozen here: later rewording
in scheduling/reasons.py must not change what this step recognises. Each pattern is one
UPDATE, so a year of slots costs a few statements, not a pass over every row in Python.
"""

from django.db import migrations

# Exact texts, as written before reasons had codes.
EXACT = {
    "Canceled: the schedule no longer has this time.": "schedule_changed",
    "Canceled: the schedule was turned off.": "schedule_off",
    "Canceled: the channel was paused.": "channel_paused",
    "Canceled by a user.": "user_canceled",
    "Canceled: the post was archived.": "post_archived",
    "Skipped: the channel was paused.": "paused",
    "Skipped: queue empty (no active, unexpired post to publish).": "queue_empty",
    "Skipped: the pinned post was archived or has expired.": "post_gone",
    "Failed: the channel has no active accounts.": "no_accounts",
    "Failed: the pinned post belongs to another workspace than the channel.": "foreign_post",
}
# Texts with details in them: how they began.
PREFIXES = {
    "Missed: not published within ": "workers_down",
    "Missed: the planner (celery beat) was not running from ": "planner_down",
}
# A slot over its channel's bound (scheduling/spacing.py): "Skipped: <conflict>." where
# the conflict names the setting it broke.
OVER_LIMIT_ENDINGS = ("(CHANNEL_MIN_INTERVAL).", "(CHANNEL_MAX_SLOTS_PER_HOUR).")


def codes_from_texts(apps, schema_editor):
    Timeslot = apps.get_model("scheduling", "Timeslot")
    untold = Timeslot.objects.filter(reason_code="").exclude(reason="")
    for text, code in EXACT.items():
        untold.filter(reason=text).update(reason_code=code)
    for start, code in PREFIXES.items():
        untold.filter(reason__startswith=start).update(reason_code=code)
    for ending in OVER_LIMIT_ENDINGS:
        untold.filter(reason__startswith="Skipped: ", reason__endswith=ending).update(
            reason_code="over_limit"
        )
    # A slot settled failed or partial lists its deliveries that were not sent.
    untold.filter(status__in=["failed", "partial"]).update(reason_code="deliveries")
    untold.update(reason_code="other")


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0005_timeslot_reason_code"),
    ]

    operations = [
        # Backwards: nothing to undo (the texts stay; the previous step drops the codes).
        migrations.RunPython(codes_from_texts, migrations.RunPython.noop, elidable=True),
    ]

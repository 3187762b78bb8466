"""Give the planner's "queue will be empty" warnings their subject (issue 25, item 4).

The planner used to find the warnings it had already sent by their words; it now finds
them by subject (scheduling.planner.empty_queue_warning_subject). Warnings written before
carry no subject: each gets its channel's, found by the name in its text, so a channel
warned just before the upgrade is not warned twice in a day.
"""

from collections import defaultdict

from django.db import migrations

# The warning's words up to this migration, frozen here.
SUFFIX = " will have nothing to publish at its next slot: its queue is empty."


def subjects_from_texts(apps, schema_editor):
    Notice = apps.get_model("accounts", "Notice")
    Channel = apps.get_model("channels", "Channel")
    warnings = Notice.objects.filter(kind="queue_empty", subject="", message__endswith=SUFFIX)
    by_key = defaultdict(list)
    for notice_id, workspace_id, message in warnings.values_list(
        "id", "workspace_id", "message"
    ).iterator():
        by_key[(workspace_id, message[: -len(SUFFIX)])].append(notice_id)
    if not by_key:
        return
    channels = Channel.objects.filter(workspace_id__in={w for w, _ in by_key})
    ids = {(c.workspace_id, c.name): c.id for c in channels.only("id", "workspace_id", "name")}
    for key, notice_ids in by_key.items():
        channel_id = ids.get(key)
        if channel_id is not None:
            Notice.objects.filter(id__in=notice_ids).update(
                subject=f"channel:{channel_id}:empty-ahead"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_api_token_hashes"),
        ("channels", "0003_channel_name_unique_ignoring_case"),
    ]

    operations = [
        # Backwards: nothing to undo (a subject is harmless to the code before this).
        migrations.RunPython(subjects_from_texts, migrations.RunPython.noop, elidable=True),
    ]

"""Channel names unique per workspace ignoring case (issue 23): existing clashes get a suffix
first ("dtstart" next to an older "DTSTART" becomes "dtstart (2)"), the oldest channel
keeping its name; then the case-sensitive constraint is replaced by one on Lower(name)."""

from django.db import migrations, models
from django.db.models.functions import Lower

MAX_NAME = 100


def _free_name(name: str, taken: set[str]) -> str:
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = name[: MAX_NAME - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
        n += 1


def rename_case_clashes(apps, schema_editor):
    Channel = apps.get_model("channels", "Channel")
    clashing = (
        Channel.objects.annotate(lower_name=Lower("name"))
        .values("workspace_id", "lower_name")
        .annotate(n=models.Count("id"))
        .filter(n__gt=1)
        .values_list("workspace_id", flat=True)
    )
    for workspace_id in sorted(set(clashing)):
        channels = list(Channel.objects.filter(workspace_id=workspace_id).order_by("id"))
        # Every name of the workspace, so a new name never takes a later channel's.
        taken = {c.name.lower() for c in channels}
        kept: set[str] = set()
        for channel in channels:
            if channel.name.lower() not in kept:
                kept.add(channel.name.lower())
                continue
            channel.name = _free_name(channel.name, taken)
            taken.add(channel.name.lower())
            kept.add(channel.name.lower())
            channel.save(update_fields=["name"])


class Migration(migrations.Migration):
    dependencies = [("channels", "0002_channel_unique_name")]

    operations = [
        migrations.RunPython(rename_case_clashes, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="channel", name="channel_unique_name"),
        migrations.AddConstraint(
            model_name="channel",
            constraint=models.UniqueConstraint(
                Lower("name"),
                models.F("workspace"),
                name="channel_unique_name_ci",
                violation_error_message=(
                    "This workspace already has a channel with this name (case does not count)."
                ),
            ),
        ),
    ]

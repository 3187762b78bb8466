"""Channel names unique per workspace (issue 10): existing duplicates get a suffix first."""

from django.db import migrations, models


def rename_duplicates(apps, schema_editor):
    Channel = apps.get_model("channels", "Channel")
    seen: set[tuple[int, str]] = set()
    for channel in Channel.objects.order_by("workspace_id", "name", "id"):
        key = (channel.workspace_id, channel.name)
        if key not in seen:
            seen.add(key)
            continue
        n = 2
        while (channel.workspace_id, f"{channel.name} ({n})") in seen or Channel.objects.filter(
            workspace_id=channel.workspace_id, name=f"{channel.name} ({n})"
        ).exists():
            n += 1
        channel.name = f"{channel.name} ({n})"
        seen.add((channel.workspace_id, channel.name))
        channel.save(update_fields=["name"])


class Migration(migrations.Migration):
    dependencies = [("channels", "0001_initial")]

    operations = [
        migrations.RunPython(rename_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="channel",
            constraint=models.UniqueConstraint(
                fields=("workspace", "name"),
                name="channel_unique_name",
                violation_error_message="This workspace already has a channel with this name.",
            ),
        ),
    ]

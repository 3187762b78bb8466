"""Post images are re-encoded by a worker: a status (processing / ready / failed, with the
reason of a failure) and the upload kept until then. Existing images were re-encoded when
they were uploaded, so they are `ready`; new rows start `processing`."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("posts", "0003_post_thread_parts"),
    ]

    operations = [
        migrations.AddField(
            model_name="postimage",
            name="status",
            field=models.CharField(
                choices=[("processing", "Processing"), ("ready", "Ready"), ("failed", "Failed")],
                default="ready",
                max_length=12,
            ),
        ),
        migrations.AlterField(
            model_name="postimage",
            name="status",
            field=models.CharField(
                choices=[("processing", "Processing"), ("ready", "Ready"), ("failed", "Failed")],
                default="processing",
                max_length=12,
            ),
        ),
        migrations.AddField(
            model_name="postimage",
            name="failure_code",
            field=models.CharField(
                blank=True,
                choices=[
                    ("refused", "The image is beyond the limits or damaged"),
                    ("worker_lost", "The worker stopped while processing it"),
                    ("error", "An unexpected error"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="postimage",
            name="failure_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="postimage",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="postimage",
            name="queued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="postimage",
            name="original",
            field=models.FileField(blank=True, max_length=300, upload_to="posts/uploads/%Y/%m/"),
        ),
        migrations.AddField(
            model_name="postimage",
            name="upload_name",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AlterField(
            model_name="postimage",
            name="file",
            field=models.FileField(blank=True, max_length=300, upload_to="posts/%Y/%m/"),
        ),
    ]

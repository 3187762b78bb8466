"""Channel settings and queue forms. Channel writes go through scheduling.services.channel_save
(which re-plans on a time-zone change or a resume)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.text import slugify

from accounts.models import SocialAccount, Workspace
from channels.models import Channel, QueueEntry
from scheduling.services import channel_save


def timezone_choices() -> list[tuple[str, str]]:
    from accounts.views import timezone_names

    return [(name, name.replace("_", " ")) for name in sorted(timezone_names())]


def error_messages(exc: ValidationError) -> list[str]:
    """All messages of a ValidationError (dict or list), for a form's non-field errors."""
    if hasattr(exc, "error_dict"):
        return [
            m if field == "__all__" else f"{field.replace('_', ' ').capitalize()}: {m}"
            for field, errors in exc.message_dict.items()
            for m in errors
        ]
    return exc.messages


class ChannelForm(forms.ModelForm):
    timezone = forms.ChoiceField(
        choices=timezone_choices, help_text="Schedules run, and times show, in this zone."
    )
    accounts = forms.ModelMultipleChoiceField(
        queryset=SocialAccount.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each slot publishes to every active account ticked here.",
    )

    class Meta:
        model = Channel
        fields = ["name", "timezone", "mode", "accounts", "is_paused"]
        widgets = {"mode": forms.RadioSelect}
        labels = {"is_paused": "Paused (no slots are planned or published)"}

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["accounts"].queryset = SocialAccount.objects.filter(
            workspace=workspace
        ).order_by("provider", "handle")
        if not self.instance.pk:
            self.fields.pop("is_paused")

    def _slug(self) -> str:
        if self.instance.pk:
            return self.instance.slug
        base = slugify(self.cleaned_data["name"]) or "channel"
        taken = set(
            Channel.objects.filter(workspace=self.workspace, slug__startswith=base).values_list(
                "slug", flat=True
            )
        )
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        return slug

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        clash = Channel.objects.filter(workspace=self.workspace, name__iexact=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError("This workspace already has a channel with that name.")
        return name

    def save(self, commit: bool = True) -> Channel:
        """Save through channel_save; a ValidationError leaves the form with the errors."""
        channel = super().save(commit=False)
        channel.workspace = self.workspace
        channel.slug = self._slug()
        try:
            with transaction.atomic():
                channel_save(channel=channel)
                channel.accounts.set(self.cleaned_data["accounts"])
        except ValidationError as exc:
            for message in error_messages(exc):
                self.add_error(None, message)
            raise
        return channel


class QueueMaxForm(forms.Form):
    max_publications = forms.IntegerField(
        min_value=1, max_value=10_000, required=False, help_text="Empty: forever."
    )

    def save(self, entry: QueueEntry) -> QueueEntry:
        entry.max_publications = self.cleaned_data["max_publications"]
        # Raising the limit above what was already published brings a spent entry back;
        # `once` mode deactivates by use, so leave those alone.
        reactivate = entry.channel.mode == Channel.Mode.LOOP and (
            entry.max_publications is None or entry.times_published < entry.max_publications
        )
        QueueEntry.objects.filter(pk=entry.pk).update(
            max_publications=entry.max_publications,
            is_active=F("is_active") if not reactivate else True,
        )
        entry.refresh_from_db()
        return entry


class QueueMoveForm(forms.Form):
    direction = forms.ChoiceField(choices=[("up", "Up"), ("down", "Down")])

    @transaction.atomic
    def save(self, entry: QueueEntry) -> None:
        """Swap the entry with its neighbour, renumbering the queue 1..n (ties had ids)."""
        entries = list(
            QueueEntry.objects.select_for_update()
            .filter(channel_id=entry.channel_id)
            .order_by("position", "id")
        )
        index = next(i for i, e in enumerate(entries) if e.pk == entry.pk)
        other = index - 1 if self.cleaned_data["direction"] == "up" else index + 1
        if 0 <= other < len(entries):
            entries[index], entries[other] = entries[other], entries[index]
        changed = []
        for position, row in enumerate(entries, start=1):
            if row.position != position:
                row.position = position
                changed.append(row)
        QueueEntry.objects.bulk_update(changed, ["position"])

"""Channel settings and queue forms. Channel writes go through scheduling.services.channel_save
(which re-plans on a time-zone change or a resume)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import SocialAccount, Workspace
from channels.models import NAME_TAKEN, Channel, channel_name_taken
from channels.services import DIRECTIONS, channel_unique_slug
from ground.validation import error_messages
from ground.zone_field import ZoneField
from scheduling.services import channel_save


class ChannelForm(forms.ModelForm):
    timezone = ZoneField(help_text="Schedules run, and times show, in this zone.")
    accounts = forms.ModelMultipleChoiceField(
        queryset=SocialAccount.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each slot publishes to every active account ticked here.",
    )

    class Meta:
        model = Channel
        fields = [
            "name",
            "timezone",
            "mode",
            "hygiene_lookback",
            "accounts",
            "is_paused",
            "count_clicks",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_content",
        ]
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
        return channel_unique_slug(workspace_id=self.workspace.id, name=self.cleaned_data["name"])

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if channel_name_taken(
            workspace_id=self.workspace.id, name=name, exclude_id=self.instance.pk
        ):
            raise ValidationError(NAME_TAKEN)
        return name

    def save(self, commit: bool = True) -> Channel:
        """Save through channel_save; a ValidationError leaves the form with the errors."""
        channel = super().save(commit=False)
        channel.workspace = self.workspace
        channel.slug = self._slug()
        try:
            channel_save(channel=channel, accounts=self.cleaned_data["accounts"])
        except ValidationError as exc:
            for message in error_messages(exc):
                self.add_error(None, message)
            raise
        return channel


class QueueMaxForm(forms.Form):
    """Validates the cap; the view saves it with channels.services.queue_entry_set_max."""

    max_publications = forms.IntegerField(
        min_value=1, max_value=10_000, required=False, help_text="Empty: forever."
    )


class QueueMoveForm(forms.Form):
    """Validates the direction; the view moves with channels.services.queue_entry_move."""

    direction = forms.ChoiceField(choices=[(d, d.capitalize()) for d in DIRECTIONS])

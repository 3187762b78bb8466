"""The time-zone picker of every form (channel settings, profile): one field, one widget.

It offers the canonical zones (ground.zones), each labelled with its countries and its
offset right now, the person's own zone (the active display zone) first. A search box,
shown by static/js/zone.js, filters the list by city, country, offset or old name; without
JavaScript the select still works (type-ahead by name). On input it accepts any IANA name,
as the API does, and stores an alias as the zone it means (Asia/Calcutta → Asia/Kolkata).
"""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.html import format_html

from ground import zones


class ZoneSelect(forms.Select):
    def get_context(self, name, value, attrs):
        current = zones.canonical_name(value) if value else None
        choices = zones.zone_choices(first=timezone.get_current_timezone_name())
        if current and current not in zones.canonical_names():
            # A value stored before (Etc/GMT+1): kept selectable, so saving the form
            # unchanged does not move the channel to another zone.
            choices.insert(0, (current, f"{current} (current setting)"))
        self.choices = choices
        self._search = {z.name: z for z in zones.canonical_zones()}
        context = super().get_context(name, current or value, attrs)
        context["widget"]["attrs"]["data-zone-picker"] = ""
        return context

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        zone = self._search.get(value)
        if zone is not None:
            option["attrs"]["data-search"] = zone.search_text
            if zone.aliases:
                option["attrs"]["data-aliases"] = " ".join(zone.aliases)
        return option

    def render(self, name, value, attrs=None, renderer=None):
        select = super().render(name, value, attrs, renderer)
        widget_id = (attrs or {}).get("id") or self.attrs.get("id") or f"id_{name}"
        # Hidden until zone.js wires it: without the script it would do nothing.
        return format_html(
            '<div class="zone-picker"><input type="search" id="{}_search" class="zone-search"'
            ' placeholder="Search: city, country or UTC+05:30" aria-label="Search time zones"'
            ' aria-controls="{}" autocomplete="off" hidden>{}'
            '<span class="zone-count muted small" role="status" aria-live="polite"></span>'
            "</div>",
            widget_id,
            widget_id,
            select,
        )


class ZoneField(forms.CharField):
    widget = ZoneSelect
    default_error_messages = {"invalid": zones.INVALID_ZONE}

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        name = zones.canonical_name(value)
        if name is None:
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            )
        return name

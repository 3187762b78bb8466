"""Everything a marketer does in the web UI has its API call (issue 29, item 1): each web
action (its URL name) beside the operation of the OpenAPI schema that does the same, so a
removed or renamed endpoint fails here. The web pages that are not in the API, and why, are
listed at the end (NOT_IN_API)."""

from __future__ import annotations

import json

import pytest
from django.urls import get_resolver

pytestmark = pytest.mark.django_db

V1 = "/api/v1"

# web URL name -> (method, API path) doing the same through the same service.
PARITY = {
    "channel_list": ("get", "/channels/"),
    "channel_detail": ("get", "/channels/{id}/"),
    "channel_create": ("post", "/channels/"),
    "channel_settings": ("patch", "/channels/{id}/"),
    "channel_pause": ("post", "/channels/{id}/pause/"),
    "channel_delete": ("delete", "/channels/{id}/"),
    "queue_move": ("post", "/channels/{id}/queue/order/"),
    "queue_remove": ("delete", "/channels/{id}/queue/{entry_id}/"),
    "queue_requeue": ("patch", "/channels/{id}/queue/{entry_id}/"),
    "queue_max": ("patch", "/channels/{id}/queue/{entry_id}/"),
    "post_list": ("get", "/posts/"),
    "post_create": ("post", "/posts/"),
    "post_edit": ("patch", "/posts/{id}/"),
    "post_share": ("post", "/posts/{id}/share/"),
    "post_delete": ("post", "/posts/{id}/delete/"),
    "post_images": ("post", "/posts/{id}/images/"),
    "post_image_alt": ("patch", "/posts/{id}/images/{image_id}/"),
    "post_image_remove": ("delete", "/posts/{id}/images/{image_id}/"),
    "schedule_create": ("post", "/schedules/"),
    "schedule_edit": ("patch", "/schedules/{id}/"),
    "schedule_toggle": ("patch", "/schedules/{id}/"),
    "schedule_preview": ("post", "/schedules/rule-preview/"),
    "timeslot_move": ("patch", "/timeslots/{id}/"),
    "timeslot_cancel": ("post", "/timeslots/{id}/cancel/"),
    "calendar": ("get", "/calendar/"),
    "calendar_slot_move": ("post", "/calendar/{key}/plan/"),  # then PATCH the timeslot
    "calendar_slot_cancel": ("post", "/timeslots/{id}/cancel/"),
    "calendar_slot_post": ("post", "/timeslots/{id}/post/"),
    "account_list": ("get", "/accounts/"),
    "account_add_sandbox": ("post", "/accounts/connect/sandbox/"),
    "account_add_webhook": ("post", "/accounts/connect/webhook/"),
    "account_disable": ("post", "/accounts/{id}/disable/"),
    "account_enable": ("post", "/accounts/{id}/enable/"),
    "telegram_connect": ("post", "/accounts/connect/telegram/"),
    "discord_connect": ("post", "/accounts/connect/discord/"),
    "mastodon_connect": ("post", "/accounts/connect/mastodon/"),
    "bluesky_connect": ("post", "/accounts/connect/bluesky/"),
    "x_connect_start": ("post", "/accounts/connect/start/"),
    "notice_dismiss": ("post", "/notices/{id}/dismiss/"),
    "notices_dismiss_all": ("post", "/notices/dismiss_all/"),
    "dashboard": ("get", "/problems/"),
    "delivery_retry_now": ("post", "/deliveries/{id}/retry_now/"),
    "delivery_give_up": ("post", "/deliveries/{id}/give_up/"),
    "delivery_mark_sent": ("post", "/deliveries/{id}/mark_sent/"),
    "delivery_mark_failed": ("post", "/deliveries/{id}/mark_failed/"),
    "delivery_retry": ("post", "/deliveries/{id}/retry/"),
}

# Web pages with no API call, each with the reason.
NOT_IN_API = {
    "post_length": "the composer's live counter; a create or edit answers the same 400",
    "post_preview": "the composer's live preview (HTML)",
    "calendar_slot": "the calendar's slot panel (HTML); GET /timeslots/{id}/",
    "sandbox_timeline": "the sandbox's page; GET /deliveries/ has each post's url",
    "channel_feeds": "feeds (bulk app): not in the API yet",
    "import_upload": "CSV import (bulk app): not in the API yet",
    "mastodon_connect_callback": "OAuth callback, in the browser",
    "x_connect_callback": "OAuth callback, in the browser",
    "x_connect_keys": "pasting X keys: in the browser (the API starts X's OAuth)",
}


def test_every_web_action_has_its_api_operation(client):
    schema = json.loads(client.get(f"{V1}/schema/", {"format": "json"}).content)
    names = set(get_resolver().reverse_dict.keys())
    missing = {}
    for name, (method, path) in PARITY.items():
        assert name in names, f"no web URL named {name}: update PARITY"
        if method not in schema["paths"].get(V1 + path, {}):
            missing[name] = f"{method.upper()} {V1}{path}"
    assert missing == {}
    for name in NOT_IN_API:
        assert name in names, f"no web URL named {name}: update NOT_IN_API"

"""The time-zone picker (ground/zones.py, ground/zone_field.py): canonical zones only,
each with its countries and its offset now (DST-aware), the person's own zone first,
searchable by city and country; legacy aliases still accepted on input and stored as the
zone they mean. Through the web pages, and in a browser for the search."""

from __future__ import annotations

import datetime as dt
import html
import re
import zoneinfo

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Profile
from ground import zones
from tests.factories import ChannelFactory
from tests.system.test_table_layout_browser import browser as browser  # the Chromium fixture

pytestmark = pytest.mark.django_db
LEGACY = ["US/Eastern", "Asia/Calcutta", "Etc/GMT+1", "Europe/Kiev", "GB", "EST5EDT", "Zulu"]


def options(page: str, name: str = "timezone") -> list[tuple[str, str, str]]:
    """(value, data-search, label) of the picker's options, in order."""
    select = re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)
    return [
        (m["value"], html.unescape(m["search"] or ""), html.unescape(m["label"]).strip())
        for m in re.finditer(
            r'<option value="(?P<value>[^"]*)"(?:[^>]*?data-search="(?P<search>[^"]*)")?'
            r"[^>]*>(?P<label>[^<]*)</option>",
            select,
        )
    ]


def test_the_offered_list_has_canonical_zones_only():
    names = zones.canonical_names()
    assert 380 < len(names) < 460  # zone.tab's zones, plus UTC
    assert not set(LEGACY) & names
    assert "UTC" in names and "Asia/Kolkata" in names and "Europe/Kyiv" in names
    # No Etc/ fixed offsets, no old country or rule names (GB, EST5EDT): places only.
    assert all("/" in n for n in names - {"UTC"}) and not [n for n in names if "Etc/" in n]
    for name in names:
        zoneinfo.ZoneInfo(name)  # each one opens


def test_an_alias_means_the_zone_it_links_to():
    assert zones.canonical_name("Asia/Calcutta") == "Asia/Kolkata"
    assert zones.canonical_name("US/Eastern") == "America/New_York"
    assert zones.canonical_name("Europe/Kiev") == "Europe/Kyiv"
    assert zones.canonical_name("Etc/UTC") == "UTC"
    assert zones.canonical_name("Etc/GMT+1") == "Etc/GMT+1"  # accepted, kept, not offered
    assert zones.canonical_name("Mars/Olympus") is None
    assert zones.canonical_name("localtime") is None


def test_the_offset_follows_daylight_saving_time():
    [new_york] = [z for z in zones.canonical_zones() if z.name == "America/New_York"]
    january = dt.datetime(2027, 1, 15, 12, tzinfo=dt.UTC)
    july = dt.datetime(2027, 7, 15, 12, tzinfo=dt.UTC)
    assert new_york.offset(january) == "UTC-05:00" and new_york.offset(july) == "UTC-04:00"


def test_the_channel_form_offers_canonical_zones_with_country_and_offset_now(client, member):
    ChannelFactory(workspace=member.workspace)
    with time_machine.travel(dt.datetime(2027, 7, 15, 12, tzinfo=dt.UTC), tick=False):
        client.force_login(member.user)  # the session starts at the travelled time
        page = client.get(reverse("channel_create")).content.decode()
    found = options(page)
    values = [v for v, _, _ in found]
    assert not set(LEGACY) & set(values)
    assert len(values) == len(zones.canonical_names())
    by_value = {v: (search, label) for v, search, label in found}
    search, label = by_value["Asia/Kolkata"]
    assert label == "Asia/Kolkata — India (UTC+05:30)"
    assert "india" in search and "kolkata" in search and "asia/calcutta" in search
    assert by_value["America/New_York"][1].endswith("(UTC-04:00)")  # July: daylight time
    assert by_value["Europe/Berlin"][1] == "Europe/Berlin — Germany: most of Germany (UTC+02:00)"


def test_the_persons_own_zone_comes_first(web, member):
    Profile.objects.create(user=member.user, timezone="Asia/Calcutta")  # as a browser said
    ChannelFactory(workspace=member.workspace)
    found = options(web.get(reverse("channel_create")).content.decode())
    assert found[0][0] == "Asia/Kolkata"
    assert found[1][0] == "Africa/Abidjan"  # then the rest, by name
    profile_page = web.get(reverse("profile")).content.decode()
    assert re.search(r'<option value="Asia/Kolkata"[^>]*selected', profile_page)


def test_a_legacy_alias_is_accepted_on_input_and_stored_as_its_zone(web, member):
    response = web.post(
        reverse("channel_create"), {"name": "#us", "timezone": "US/Eastern", "mode": "loop"}
    )
    assert response.status_code == 302
    assert member.workspace.channels.get(name="#us").timezone == "America/New_York"
    response = web.post(reverse("profile"), {"timezone": "Asia/Calcutta"})
    assert response.status_code == 302
    assert Profile.objects.get(user=member.user).timezone == "Asia/Kolkata"
    response = web.post(
        reverse("channel_create"), {"name": "#mars", "timezone": "Mars/Olympus", "mode": "loop"}
    )
    assert response.status_code == 400
    assert "Mars/Olympus is not an IANA time zone" in html.unescape(response.content.decode())
    assert not member.workspace.channels.filter(name="#mars").exists()


def test_a_stored_zone_that_is_not_offered_stays_selected(web, member):
    channel = ChannelFactory(workspace=member.workspace, name="#fixed", timezone="Etc/GMT+1")
    page = web.get(reverse("channel_settings", args=[channel.id])).content.decode()
    assert re.search(r'<option value="Etc/GMT\+1"[^>]*selected[^>]*>Etc/GMT\+1 \(current', page)
    response = web.post(
        reverse("channel_settings", args=[channel.id]),
        {"name": "#fixed", "timezone": "Etc/GMT+1", "mode": "loop"},
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.timezone == "Etc/GMT+1"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_searching_india_finds_kolkata_in_the_browser(browser):
    from tests.factories import MembershipFactory, UserFactory

    user = UserFactory(username="ravi")
    MembershipFactory(user=user)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    page.goto(browser.base_url + "/login/")
    page.fill("#id_username", "ravi")
    page.fill("#id_password", "correct horse battery staple")
    page.click("button[type=submit]")
    page.wait_for_url(browser.base_url + "/")
    page.goto(browser.base_url + "/profile/")
    search = page.locator("#id_timezone_search")
    assert search.is_visible()  # shown by zone.js
    search.fill("india")
    page.wait_for_function(
        "() => document.querySelector('.zone-count').textContent.includes('match')"
    )
    shown = page.evaluate(
        """() => [...document.querySelectorAll('#id_timezone option')]
              .filter(o => !o.hidden && !o.selected).map(o => o.value)"""
    )
    assert shown == ["Asia/Kolkata"]  # not the Indiana zones: "india" is a whole word here
    search.fill("indi")
    page.wait_for_function(
        "() => !document.querySelector('#id_timezone option[value$=\"/Knox\"]').hidden"
    )
    assert page.locator('#id_timezone option[value="Asia/Kolkata"]').evaluate("o => !o.hidden")
    # Two words narrow by both; an old name finds its zone too.
    search.fill("united states eastern")
    page.wait_for_function("() => document.querySelector('.zone-count').textContent !== ''")
    search.fill("calcutta")
    page.wait_for_function(
        "() => document.querySelector('.zone-count').textContent === '1 zone matches'"
    )
    search.press("Enter")  # picks the first match, does not submit
    assert page.locator("#id_timezone").input_value() == "Asia/Kolkata"
    page.click("text=Save time zone")
    page.wait_for_url(browser.base_url + "/profile/")
    context.close()
    assert Profile.objects.get(user=user).timezone == "Asia/Kolkata"

"""The composer counts a counting channel's text as it will be sent (short links), and the
post's page and the API show each delivery's clicks."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from editor.services import network_counts, text_errors
from links.rewrite import CODE_LENGTH
from links.services import click_record
from publishing import services as publishing
from publishing.models import Delivery
from tests.api.test_endpoints import API, client_for
from tests.factories import ChannelFactory, MembershipFactory, PostFactory
from tests.publishing.slots import due_slot

LONG = "Read https://docs.example/" + "a" * 520 + " today"  # 551 characters; the sandbox: 500
CHROME = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36"


@pytest.fixture(autouse=True)
def base(settings):
    settings.PUBLIC_BASE_URL = "https://ql.example"


@pytest.mark.django_db
def test_a_long_link_fits_when_the_channel_sends_it_as_a_short_link():
    plain = ChannelFactory()
    counting = ChannelFactory(count_clicks=True)
    assert text_errors(text=LONG, channels=[plain])  # 551 > 500
    assert text_errors(text=LONG, channels=[counting]) == []
    # As sent: "Read " + the short link + " today".
    short = len("https://ql.example/l/") + CODE_LENGTH
    [net] = network_counts(texts=[LONG], channels=[counting])
    assert net.parts[0].count == len("Read ") + short + len(" today")
    # Both kinds ticked: the text must fit either way, counted at its longest.
    [net] = network_counts(texts=[LONG], channels=[plain, counting])
    assert net.parts[0].count == len(LONG) and net.over
    assert text_errors(text=LONG, channels=[plain, counting])


def _published(channel, text):
    post = PostFactory(workspace=channel.workspace, text=text)
    now = timezone.now()
    slot = due_slot(channel, now, post=post)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    return Delivery.objects.get(timeslot=slot)


@pytest.mark.django_db
def test_the_posts_page_and_the_api_show_clicks_per_delivery(web, member):
    channel = ChannelFactory(workspace=member.workspace, count_clicks=True)
    delivery = _published(channel, "go https://a.example/")
    for _ in range(3):
        click_record(link_id=delivery.short_links.get().id, referrer="", user_agent=CHROME)

    page = web.get(reverse("post_edit", args=[delivery.post_id])).content.decode()
    assert 'id="clicks"' in page
    assert f'<tr id="clicks-{delivery.id}">' in page and '<td class="num clicks">3</td>' in page

    api = client_for(member.user)
    listed = api.get(f"{API}/deliveries/", {"post": delivery.post_id}).json()
    assert [d["clicks"] for d in listed["results"]] == [3]
    assert api.get(f"{API}/deliveries/{delivery.id}/").json()["clicks"] == 3
    # Another workspace's member sees neither the delivery nor its clicks.
    stranger = client_for(MembershipFactory().user)
    assert stranger.get(f"{API}/deliveries/{delivery.id}/").status_code == 404


@pytest.mark.django_db
def test_a_post_without_short_links_has_no_clicks_section(web, member):
    channel = ChannelFactory(workspace=member.workspace)
    delivery = _published(channel, "go https://a.example/")
    page = web.get(reverse("post_edit", args=[delivery.post_id])).content.decode()
    assert 'id="clicks"' not in page


@pytest.mark.django_db
def test_the_api_sets_a_channels_click_counting_and_utm_templates(member):
    channel = ChannelFactory(workspace=member.workspace)
    api = client_for(member.user)
    got = api.get(f"{API}/channels/{channel.id}/").json()
    assert got["count_clicks"] is False and got["utm_campaign"] == "{channel}"
    response = api.patch(
        f"{API}/channels/{channel.id}/",
        {"count_clicks": True, "utm_medium": "", "utm_campaign": "spring-{channel}"},
        format="json",
    )
    assert response.status_code == 200, response.content
    channel.refresh_from_db()
    assert channel.count_clicks and channel.utm_medium == ""
    assert channel.utm_campaign == "spring-{channel}"
    bad = api.patch(f"{API}/channels/{channel.id}/", {"utm_source": "x" * 101}, format="json")
    assert bad.status_code == 400 and "utm_source" in bad.json()


@pytest.mark.django_db
def test_the_channel_settings_form_turns_click_counting_on(web, member):
    from accounts.models import Membership

    member.role = Membership.Role.OWNER
    member.save()
    channel = ChannelFactory(workspace=member.workspace, name="#tech")
    url = reverse("channel_settings", args=[channel.id])
    form = web.get(url).content.decode()
    assert 'name="count_clicks"' in form and 'value="{channel}"' in form
    response = web.post(
        url,
        {
            "name": "#tech",
            "timezone": "UTC",
            "mode": "loop",
            "count_clicks": "on",
            "utm_source": "{network}",
            "utm_medium": "social",
            "utm_campaign": "{channel}-q",
            "utm_content": "{post}",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    channel.refresh_from_db()
    assert channel.count_clicks and channel.utm_campaign == "{channel}-q"

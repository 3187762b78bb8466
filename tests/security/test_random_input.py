"""Property tests: hostile or random input fails with a clear message or behaves correctly."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import dateutil.rrule
import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from networks import get_provider
from scheduling import rules

UTC = dt.UTC
ZONES = sorted(
    {
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "Australia/Lord_Howe",  # a 30-minute DST shift
        "Pacific/Chatham",  # +12:45 / +13:45
        "America/St_Johns",  # -03:30
        "Asia/Kathmandu",  # +05:45
        "America/Santiago",
        "Europe/London",
    }
)
FREQS = ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def rule_texts(draw) -> str:
    parts = [f"FREQ={draw(st.sampled_from(FREQS))}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 90))}")
    if draw(st.booleans()):
        parts.append(
            "BYDAY="
            + ",".join(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True)))
        )
    if draw(st.booleans()):
        parts.append(
            "BYHOUR="
            + ",".join(
                map(str, draw(st.lists(st.integers(0, 25), min_size=1, max_size=3, unique=True)))
            )
        )
    if draw(st.booleans()):
        parts.append(
            "BYMINUTE="
            + ",".join(
                map(str, draw(st.lists(st.integers(0, 61), min_size=1, max_size=2, unique=True)))
            )
        )
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(0, 50))}")
    return "RRULE:" + ";".join(parts)


ANCHOR = dt.date(2020, 1, 6)


def expected_instants(text: str, tz, start: dt.datetime, end: dt.datetime) -> set[dt.datetime]:
    """An independent expansion: dateutil's own parser on the raw text, then zoneinfo."""
    anchor = dt.datetime.combine(ANCHOR, dt.time())
    ruleset = dateutil.rrule.rrulestr(text, dtstart=anchor, forceset=True)
    lo = start.astimezone(tz).replace(tzinfo=None) - dt.timedelta(hours=3)
    hi = end.astimezone(tz).replace(tzinfo=None) + dt.timedelta(hours=3)
    out = set()
    for local in ruleset.between(lo, hi, inc=True):
        instant = local.replace(tzinfo=tz).astimezone(UTC)
        if start <= instant < end:
            out.add(instant)
    return out


# 80 examples (each expands up to ~3,000 minutely instants twice) stay well inside the
# timeout on a loaded 2-core machine; the random seed changes every run.
@pytest.mark.timeout(600)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(rule_texts(), st.text(max_size=80)),
    zone=st.sampled_from(ZONES),
    day=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2030, 12, 31)),
)
def test_random_rules_fail_clearly_or_plan_exactly_their_local_times(text, zone, day):
    try:
        value = rules.parse(text)
    except ValidationError as exc:
        message = " ".join(exc.messages)
        assert message and "Traceback" not in message
        event("refused")
        return
    event("valid")
    tz = zoneinfo.ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(UTC)
    end = start + dt.timedelta(days=1)
    got = rules.occurrences(value, tz=tz, starts_on=ANCHOR, start=start, end=end)
    assert got == sorted(set(got)), "no repeats, sorted"
    assert set(got) == expected_instants(text, tz, start, end)
    for instant in got:
        assert instant.tzinfo is not None and start <= instant < end


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=600))
def test_random_texts_never_crash_validation(text):
    for name in ("x", "webhook", "sandbox"):
        provider = get_provider(name)
        errors = provider.validate(text)
        assert isinstance(errors, list)
        assert all(isinstance(e, str) and e for e in errors)
        assert provider.text_length(text) >= 0


@pytest.mark.django_db
@pytest.mark.timeout(600)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# No lone surrogates (category Cs): they cannot reach us (requests are decoded as UTF-8) and
# cannot be stored; the factory would fail before any page is rendered.
@given(
    text=st.text(
        alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=400,
    )
)
def test_random_post_texts_never_crash_rendering(text):
    from django.test import Client
    from django.utils.html import escape

    from tests.factories import ChannelFactory, MembershipFactory, PostFactory, QueueEntryFactory

    member = MembershipFactory()
    channel = ChannelFactory(workspace=member.workspace)
    post = PostFactory(workspace=member.workspace, text=text)
    QueueEntryFactory(channel=channel, post=post)
    client = Client()
    client.force_login(member.user)
    for url in ("/", "/posts/", f"/posts/{post.id}/", f"/channels/{channel.id}/", "/calendar/"):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get("/posts/").content.decode()
    first_line = text.strip().splitlines()[0][:30] if text.strip() else ""
    if first_line:
        assert escape(first_line) in page or first_line not in page

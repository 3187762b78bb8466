"""`manage.py check_accounts`: credentials checked with each network (X through the fake)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from accounts.models import Notice, SocialAccount
from tests.factories import SocialAccountFactory, XAccountFactory
from tests.networks import fake_x as fakes

fake_x = fakes.fake_x
secrets_never_logged = fakes.secrets_never_logged

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("secrets_never_logged")]

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def x_account(fake_x, **kwargs) -> SocialAccount:
    tokens = fake_x.issue_tokens("1001")
    credentials = {
        "auth": "oauth2",
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "expires_at": int(T0.timestamp()) + 7200,
    }
    return XAccountFactory(
        handle="queueloop", external_id="1001", credentials=credentials, **kwargs
    )


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("check_accounts", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args) -> tuple[str, str, CommandError]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("check_accounts", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), excinfo.value


def test_all_good_prints_one_line_per_account_and_exits_zero(fake_x):
    x = x_account(fake_x)
    sandbox = SocialAccountFactory(provider="sandbox", handle="demo")
    disabled = SocialAccountFactory(provider="sandbox", status=SocialAccount.Status.DISABLED)

    out, _ = run()

    lines = out.strip().splitlines()
    assert len(lines) == 3  # two accounts and the summary
    assert lines[0].startswith(f"OK    #{x.id} @queueloop")
    assert "Signed in to X as @queueloop (user id 1001)." in lines[0]
    assert lines[1].startswith(f"OK    #{sandbox.id} @demo")
    assert "2 of 2 account(s) passed" in lines[2]
    x.refresh_from_db()
    assert x.last_checked_at == T0 and x.last_error == ""
    disabled.refresh_from_db()
    assert disabled.last_checked_at is None
    [call] = fake_x.calls_to("GET", "/2/users/me")
    assert call.bearer == x.credentials["access_token"]


def test_refused_credentials_mark_needs_reconnect_once_and_exit_non_zero(fake_x):
    x = x_account(fake_x)
    fake_x.revoke(x.credentials["access_token"])
    fake_x.revoke(x.credentials["refresh_token"])

    _, err, error = run_failing()

    assert "1 failed" in str(error)
    assert f"FAIL  #{x.id} @queueloop" in err
    assert "needs reconnect" in err
    x.refresh_from_db()
    assert x.status == SocialAccount.Status.NEEDS_RECONNECT
    assert x.last_checked_at == T0
    assert "reconnect" in x.last_error
    assert x.reconnect_notified_at == T0

    run_failing()  # still broken: no second notice for the same incident
    assert Notice.objects.filter(kind=Notice.Kind.ACCOUNT_RECONNECT).count() == 1


def test_a_needs_reconnect_account_that_passes_is_active_again(fake_x, clock):
    x = x_account(
        fake_x,
        status=SocialAccount.Status.NEEDS_RECONNECT,
        last_error="X refused the access token",
        reconnect_notified_at=T0 - dt.timedelta(days=1),
    )

    out, _ = run("--account", str(x.id))

    assert "was needs reconnect: active again" in out
    x.refresh_from_db()
    assert x.status == SocialAccount.Status.ACTIVE
    assert x.reconnect_notified_at is None
    assert x.last_error == ""


def test_a_needs_reconnect_account_that_still_fails_stays_so(fake_x):
    x = x_account(
        fake_x,
        status=SocialAccount.Status.NEEDS_RECONNECT,
        reconnect_notified_at=T0 - dt.timedelta(days=1),
    )
    fake_x.script("GET", "/2/users/me", 503, {"title": "Service Unavailable"})

    _, err, _ = run_failing()

    assert "503" in err
    x.refresh_from_db()
    assert x.status == SocialAccount.Status.NEEDS_RECONNECT
    assert x.reconnect_notified_at == T0 - dt.timedelta(days=1)


def test_x_down_is_a_failure_that_leaves_the_status_alone(fake_x):
    x = x_account(fake_x)
    fake_x.script("GET", "/2/users/me", 503, {"title": "Service Unavailable"})

    _, err, error = run_failing()

    assert "503" in err and "1 failed" in str(error)
    x.refresh_from_db()
    assert x.status == SocialAccount.Status.ACTIVE
    assert x.last_checked_at == T0
    assert "503" in x.last_error
    assert Notice.objects.count() == 0


def test_an_expired_token_is_refreshed_by_the_check(fake_x, clock):
    x = x_account(fake_x)
    old = x.credentials
    clock.move_to(T0 + dt.timedelta(hours=3))

    run()

    assert [c.path for c in fake_x.calls] == ["/2/oauth2/token", "/2/users/me"]
    x.refresh_from_db()
    assert x.credentials["access_token"] != old["access_token"]


def test_a_webhook_without_url_fails_the_check():
    hook = SocialAccountFactory(provider="webhook", handle="hook", credentials={})

    _, err, _ = run_failing()

    assert f"FAIL  #{hook.id} @hook" in err
    hook.refresh_from_db()
    assert hook.status == SocialAccount.Status.ACTIVE
    assert "no URL or secret" in hook.last_error


def test_one_account_only(fake_x):
    first = SocialAccountFactory(provider="sandbox", handle="one")
    SocialAccountFactory(provider="webhook", handle="broken", credentials={})

    out, _ = run("--account", str(first.id))

    assert "@one" in out and "@broken" not in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("999999", "There is no account with id 999999."),
        ("abc", "--account takes an account id (a number), not 'abc'."),
    ],
)
def test_a_bad_account_option_is_a_clear_error(value, message):
    _, _, error = run_failing("--account", value)
    assert str(error) == message


def test_a_disabled_account_is_refused_by_id():
    disabled = SocialAccountFactory(provider="sandbox", status=SocialAccount.Status.DISABLED)

    _, _, error = run_failing("--account", str(disabled.id))

    assert "is disabled" in str(error)
    disabled.refresh_from_db()
    assert disabled.status == SocialAccount.Status.DISABLED


def test_no_accounts_is_not_an_error():
    out, _ = run()
    assert out.strip() == "No accounts to check."

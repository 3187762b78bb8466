"""Connecting a Telegram account through the web UI (a bot token and a chat), against the
fake Bot API on 127.0.0.1 (tests/networks/fake_telegram.py): the bot's rights are checked
before anything is stored, and the token is stored encrypted and never logged."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, SocialAccount
from networks.telegram.forms import TelegramConnectForm
from tests.factories import MembershipFactory, SocialAccountFactory
from tests.networks import fake_telegram as fakes
from tests.networks.test_telegram import assert_never_logged

fake_telegram = fakes.fake_telegram
pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def web(owner):
    client = Client()
    client.force_login(owner.user)
    return client


def test_connect_checks_the_rights_and_stores_the_token_encrypted(
    web, owner, fake_telegram, bot, logs
):
    token, chat_id = bot

    response = web.post(
        reverse("telegram_connect"), {"bot_token": token, "chat": "@queueloop_news"}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    account = SocialAccount.objects.get(provider="telegram")
    assert account.workspace == owner.workspace
    assert account.handle == "queueloop_news"
    assert account.external_id == str(chat_id)
    assert account.credentials == {"bot_token": token}
    assert account.options["chat_id"] == str(chat_id)
    assert account.options["chat_type"] == "channel"
    assert account.options["bot_username"] == "queueloop_bot"
    assert [c.path.rsplit("/", 1)[-1] for c in fake_telegram.calls] == [
        "getMe",
        "getChat",
        "getChatMember",
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount")
        assert token not in cursor.fetchone()[0]
    assert_never_logged(logs, [token])


def test_connect_again_updates_the_account_of_that_chat(web, fake_telegram, bot):
    token, chat_id = bot
    web.post(reverse("telegram_connect"), {"bot_token": token, "chat": str(chat_id)})
    SocialAccount.objects.update(status=SocialAccount.Status.NEEDS_RECONNECT)
    new_token = fake_telegram.add_bot("queueloop_bot")
    fake_telegram.set_member(chat_id, new_token)

    response = web.post(
        reverse("telegram_connect"), {"bot_token": new_token, "chat": "https://t.me/queueloop_news"}
    )

    assert response.status_code == 302
    [account] = SocialAccount.objects.filter(provider="telegram")
    assert account.credentials == {"bot_token": new_token}
    assert account.status == SocialAccount.Status.ACTIVE


@pytest.mark.parametrize(
    ("rights", "said"),
    [
        ({"status": "member"}, "not an administrator of @queueloop_news"),
        ({"status": "left"}, "its status there: not a member"),
        ({"status": "administrator", "can_post_messages": False}, "may not post messages"),
    ],
)
def test_connect_refuses_a_bot_that_may_not_post(web, fake_telegram, bot, rights, said):
    token, chat_id = bot
    fake_telegram.set_member(chat_id, token, **rights)

    response = web.post(
        reverse("telegram_connect"), {"bot_token": token, "chat": "@queueloop_news"}
    )

    assert response.status_code == 400
    assert said in response.content.decode()
    assert not SocialAccount.objects.filter(provider="telegram").exists()


def test_connect_shows_telegrams_refusals(web, fake_telegram, bot, logs):
    token, _ = bot
    wrong = token[:-3] + "zzz"

    bad_token = web.post(
        reverse("telegram_connect"), {"bot_token": wrong, "chat": "@queueloop_news"}
    )
    unknown_chat = web.post(
        reverse("telegram_connect"), {"bot_token": token, "chat": "@nobody_here"}
    )

    assert bad_token.status_code == 400
    assert "Telegram refused the bot token (401: Unauthorized)" in bad_token.content.decode()
    assert unknown_chat.status_code == 400
    assert "Bad Request: chat not found" in unknown_chat.content.decode()
    assert_never_logged(logs, [token, wrong])


def test_connect_refuses_a_private_chat(web, fake_telegram, bot):
    token, _ = bot
    user_chat = fake_telegram.add_channel(None, kind="private")

    response = web.post(reverse("telegram_connect"), {"bot_token": token, "chat": str(user_chat)})

    assert response.status_code == 400
    assert "posts to channels and groups" in response.content.decode()


@pytest.mark.parametrize(
    ("chat", "cleaned"),
    [
        ("@queueloop_news", "@queueloop_news"),
        ("queueloop_news", "@queueloop_news"),
        ("https://t.me/queueloop_news", "@queueloop_news"),
        ("-1001234567890", "-1001234567890"),
    ],
)
def test_the_form_takes_a_name_a_link_or_an_id(chat, cleaned):
    form = TelegramConnectForm({"bot_token": "123456:" + "A" * 35, "chat": chat})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["chat"] == cleaned


def test_the_form_refuses_what_is_not_a_token_or_a_chat_without_calling_telegram(
    web, fake_telegram
):
    response = web.post(reverse("telegram_connect"), {"bot_token": "hunter2", "chat": "@a b"})

    assert response.status_code == 400
    body = response.content.decode()
    assert "does not look like a bot token" in body
    assert "Enter the channel" in body
    assert fake_telegram.calls == []


def test_an_account_that_needs_reconnecting_links_to_the_connect_page(web, owner, bot):
    token, chat_id = bot
    SocialAccountFactory(
        workspace=owner.workspace,
        provider="telegram",
        handle="queueloop_news",
        credentials={"bot_token": token},
        options={"chat_id": str(chat_id)},
        status=SocialAccount.Status.NEEDS_RECONNECT,
    )

    body = web.get(reverse("account_list")).content.decode()

    assert f'href="{reverse("telegram_connect")}" title="Connect @queueloop_news again"' in body

"""Fixtures the Telegram tests share (test_telegram.py and test_telegram_connect.py). Each
test module brings its own `fake_telegram` (tests/networks/fake_telegram.py)."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def logs(caplog):
    """Everything at DEBUG (urllib3's request lines included); the test scans it."""
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def bot(fake_telegram):
    """A bot that administers the channel @queueloop_news on the fake: (token, chat id)."""
    token = fake_telegram.add_bot("queueloop_bot")
    chat_id = fake_telegram.add_channel("queueloop_news")
    fake_telegram.set_member(chat_id, token)
    return token, chat_id

"""Which browser family a user agent is, and whether it is a bot (bots are not counted).

Link previews fetch every link a post holds as soon as it is published: counting them would
count the networks, not people. The list (documented in README "Links that count clicks"):
the networks' preview fetchers by name, then anything calling itself a bot, crawler or
spider, and the usual HTTP libraries. An empty user agent is not counted either (every
browser sends one)."""

from __future__ import annotations

import re

from links.models import AgentFamily

KNOWN_BOTS = (
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "slackbot",
    "slack-imgproxy",
    "discordbot",
    "telegrambot",
    "linkedinbot",
    "whatsapp",
    "skypeuripreview",
    "pinterest",
    "redditbot",
    "applebot",
    "googlebot",
    "bingbot",
    "yandex",
    "embedly",
    "mastodon",  # each Mastodon instance fetches a link's preview card
    "bluesky",  # Bluesky's card fetcher (Cardyb)
    "cardyb",
    "curl",
    "wget",
    "python-requests",
    "python-urllib",
    "go-http-client",
)
_BOT_PATTERN = re.compile(r"bot\b|bot/|crawler|spider|crawl|preview|fetcher|scraper", re.I)


def is_bot(user_agent: str) -> bool:
    ua = user_agent.strip().lower()
    if not ua:
        return True
    return any(name in ua for name in KNOWN_BOTS) or bool(_BOT_PATTERN.search(ua))


def family(user_agent: str) -> AgentFamily:
    """The browser family, the order mattering: Edge and Opera say Chrome too, Chrome says
    Safari too."""
    ua = user_agent.lower()
    if "edg/" in ua or "edge/" in ua:
        return AgentFamily.EDGE
    if "opr/" in ua or "opera" in ua:
        return AgentFamily.OPERA
    if "chrome/" in ua or "crios/" in ua or "chromium/" in ua:
        return AgentFamily.CHROME
    if "firefox/" in ua or "fxios/" in ua:
        return AgentFamily.FIREFOX
    if "safari/" in ua:
        return AgentFamily.SAFARI
    return AgentFamily.OTHER

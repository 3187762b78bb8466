"""Log formats: one JSON object per line (LOG_FORMAT=json) or plain text (the default).

Both formats pass every message, extra field and traceback through `redact()`: secrets are
never logged on purpose (DESIGN §7.5), and this is the net under that rule for the ones a
library or a provider's error text might echo (an Authorization header, a token in a URL).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

REDACTED = "[redacted]"

# key=value, key: value and "key": "value" where the key names a secret.
_SENSITIVE_NAMES = (
    r"(?:access[_-]?token|refresh[_-]?token|id[_-]?token|token|secret|client[_-]?secret|"
    r"password|passwd|api[_-]?key|authorization|x-hub-signature|signature|credentials)"
)
_SECRET_PAIR = re.compile(
    rf"""(?ix)
    (?P<key>["']?\b[\w-]*{_SENSITIVE_NAMES}["']?\s*[=:]\s*)   # the key and its = or :
    (?P<quote>["']?)                                    # an optional opening quote
    (?:(?:bearer|basic|token)\s+)?                      # an auth scheme, part of the secret
    (?P<value>[^\s"'&,;}}]+)                            # the value itself
    """
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
# user:password@ in a URL (redis://:pw@host, smtp://user:pw@host).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@")


def redact(text: str) -> str:
    """The text with anything that looks like a secret value replaced by [redacted]."""
    if not text:
        return text
    text = _SECRET_PAIR.sub(lambda m: f"{m['key']}{m['quote']}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m[1]} {REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    return value


class JsonFormatter(_LibraryJsonFormatter):
    """{"time", "level", "logger", "message", ...extra fields} on one line, redacted."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: _redact_value(value) for key, value in log_data.items()}


class TextFormatter(logging.Formatter):
    """The plain "time level logger message" line, redacted the same way."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class NoClientAddress(logging.Filter):
    """Drops the client's address from log records. Django's development server hands its
    socket (its repr holds the peer's address) to every access line as `request`, which
    the JSON format writes out; no log line of ours names a client address (the short
    links count clicks without storing one, links/)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None and not hasattr(request, "META"):
            record.request = None  # a socket, not an HttpRequest (whose repr is its path)
        return True

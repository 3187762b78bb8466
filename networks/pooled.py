"""What the networks that call their HTTP API with plain `requests` share (Telegram, LinkedIn,
Threads, Facebook and Instagram): one pooled session per process, and a secret kept out of
urllib3's log.

`PooledSession`: one guarded session (ground.http_transport.sdk: connects only where the
networks' address policy allows, follows no redirect) shared by a worker's threads, opened
on first use and closed by `reset()` (tests, between fakes: a pooled connection must not
outlive its fake, since a later fake may get the same port).

`mask_urllib3_log(mask)`: urllib3 logs each request line at DEBUG (`"POST /bot<token>/...`,
`"GET /me?access_token=..."`); a filter on its logger passes every record's message and
arguments through `mask` before any handler sees them (DESIGN §7.5: secrets never logged).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests

from ground import address_policy as netpolicy
from ground.http_transport import sdk as netclients


class PooledSession:
    def __init__(self, timeout: Callable[[], float]):
        # Read when the session opens: a setting, or a module constant tests change.
        self._timeout = timeout
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        with self._lock:
            if self._session is None:
                self._session = netclients.requests_session(
                    netpolicy.NETWORKS, timeout=self._timeout(), refuse_redirects=True
                )
            return self._session

    def reset(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
            self._session = None


class _Masking(logging.Filter):
    def __init__(self, mask: Callable[[str], str]):
        super().__init__()
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.mask(a) if isinstance(a, str) else a for a in record.args)
        return True


def mask_urllib3_log(mask: Callable[[str], str]) -> None:
    """Put `mask` on urllib3's request-line log (once per mask function)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _Masking) and f.mask is mask for f in logger.filters):
        logger.addFilter(_Masking(mask))

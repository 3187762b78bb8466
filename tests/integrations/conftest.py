"""A loopback receiver for outbound events, and the receiver's documented verification.

`verify` is the Python snippet printed in docs/events.md, executed from there: if the docs
and the signatures ever disagree, these tests fail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from accounts.models import EventType
from integrations import services
from tests.factories import MembershipFactory
from tests.networks.fake_http import FakeServer, Reply

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
PATH = "/events"


def documented_verify():
    [snippet] = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    scope: dict = {}
    exec(compile(snippet, str(DOC), "exec"), scope)  # noqa: S102 - our own docs' code
    return scope["verify"]


class EventReceiver(FakeServer):
    """Answers 200 {"ok": true} unless scripted (tests.networks.fake_http.Scripted)."""

    def handle(self, request):
        return Reply(200, {"ok": True})

    @property
    def hook(self) -> str:
        return self.url + PATH

    def events(self) -> list:
        return self.calls_to("POST", PATH)


@pytest.fixture
def receiver():
    server = EventReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def owner():
    return MembershipFactory(role="owner")


def endpoint_for(workspace, url: str, *types: EventType):
    return services.endpoint_create(workspace=workspace, url=url, event_types=list(types))

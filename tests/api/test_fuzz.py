"""The API under schemathesis: generated requests against the live schema, in process
(Django's WSGI app, no socket), must never get a 5xx and every answer must match the
schema (status codes, content types, bodies, headers).

`make test` runs FUZZ_EXAMPLES examples per operation (default 10); `make fuzz` runs the
same test with many more (README, "Fuzzing the API").
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import ApiToken, Membership
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
    TimeslotFactory,
)
from tests.networks.netfakes import fake_dns

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def wsgi_keeps_the_test_transaction():
    # The WSGI app closes the database connection after each request, which would end the
    # test's transaction: keep it open, as Django's own test client does.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(db):
    """An editor of a workspace with one of everything, and a foreign workspace beside it."""
    member = MembershipFactory(role=Membership.Role.EDITOR, workspace__slug="acme")
    channel = ChannelFactory(workspace=member.workspace, slug="tech")
    ScheduleFactory(channel=channel)
    QueueEntryFactory(channel=channel)
    DeliveryFactory(timeslot=TimeslotFactory(channel=channel))
    # The sandbox network stores a path on this site; the API must still answer a `uri`.
    DeliveryFactory(timeslot=TimeslotFactory(channel=channel), url="/sandbox/1/#post-4")
    QueueEntryFactory()  # another workspace's
    return ApiToken.objects.create(user=member.user).key


def _operations():
    # Loaded at collection from the app itself (the schema view needs no database).
    # schemathesis' own pytest loader does not run under pytest 9, hence this loop.
    from queueloop.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    return [result.ok() for result in schema.get_all_operations()]


OPERATIONS = _operations()


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_the_api_never_errors_and_keeps_to_its_schema(
    operation, token, wsgi_keeps_the_test_transaction, monkeypatch
):
    headers = {"Authorization": f"Token {token}"}
    # Generated webhook, image, instance and Discord URLs name random hosts: every name
    # answers "no such host" (as a real resolver would) instead of asking the real DNS.
    fake_dns(monkeypatch, {})

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=os.environ.get("FUZZ_RANDOM") != "1",
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy())
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()

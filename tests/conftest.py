from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from queueloop.celery import app as celery_app

# --- The network rule, enforced for the whole run ---------------------------------------------
# Tests send traffic only to loopback. Every socket connect() and every real DNS lookup is
# checked: a connect to another address is refused before the packet leaves, a lookup of a
# name that is not local is refused (no query reaches a resolver), and either fails the run
# at the end even if a test swallowed the error. Tests that need names fake the DNS answer
# (tests/networks/netfakes.py) on top of this.

_NETWORK_VIOLATIONS: list[str] = []
_LOCAL_NAMES = {"localhost", "testserver", None, ""}


def _is_loopback(host) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _install_network_guard() -> None:
    import socket

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock, address):
        if sock.family == socket.AF_UNIX:  # the embedded Redis: a file, not a network
            return
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host) and host not in ("localhost",):
            _NETWORK_VIOLATIONS.append(f"connect to {host}")
            raise OSError(f"network rule: a test tried to connect to {host}")

    def connect(self, address):
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOCAL_NAMES and not _is_loopback(name):
            try:
                import ipaddress

                ipaddress.ip_address(name)  # a literal needs no resolver; connect decides
            except ValueError:
                _NETWORK_VIOLATIONS.append(f"DNS lookup of {name}")
                raise socket.gaierror(
                    socket.EAI_NONAME, f"network rule: no real DNS ({name})"
                ) from None
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo


_install_network_guard()


def pytest_sessionfinish(session, exitstatus):
    if _NETWORK_VIOLATIONS:
        print("\nnetwork rule broken:", sorted(set(_NETWORK_VIOLATIONS)))
        session.exitstatus = 1


def pytest_report_header(config):
    from tests.settings import SERVICES

    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    lines = [f"queueloop: database={db} broker={settings.CELERY_BROKER_URL.split('://')[0]}"]
    lines += [f"queueloop: {why}" for why in SERVICES.values()]
    return lines


def pytest_collection_modifyitems(config, items):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        default = "needs PostgreSQL (row locks and real concurrency); SQLite serialises writers"
        for item in items:
            marker = item.get_closest_marker("postgres")
            if marker is not None:
                item.add_marker(pytest.mark.skip(reason=marker.kwargs.get("reason", default)))


@pytest.fixture(scope="session", autouse=True)
def _no_email_inside_a_request(django_test_environment):
    """Every test's email goes to mail.outbox through tests/locmem.py, which fails a test
    that sends one inside a request (issue 27: emails are background jobs)."""
    settings.EMAIL_BACKEND = "tests.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _each_test_starts_outside_a_request():
    from tests import locmem

    locmem.reset()


class Broker:
    """The real Redis queue our publish messages go to, inspected directly."""

    queue = settings.CELERY_TASK_DEFAULT_QUEUE

    def _client(self, conn):
        return conn.default_channel.client

    def purge(self) -> None:
        with celery_app.connection_for_write() as conn:
            self._client(conn).delete(self.queue)

    def messages(self) -> list[dict]:
        import base64
        import json

        with celery_app.connection_for_write() as conn:
            raw = self._client(conn).lrange(self.queue, 0, -1)
        out = []
        for item in reversed(raw):  # kombu LPUSHes and consumers BRPOP: oldest is last
            envelope = json.loads(item)
            body = json.loads(base64.b64decode(envelope["body"]))
            out.append(
                {
                    "task": envelope["headers"]["task"],
                    "args": body[0],
                    "eta": envelope["headers"].get("eta"),
                }
            )
        return out

    def publish_batches(self) -> list[dict]:
        return [m for m in self.messages() if m["task"] == "publishing.publish_timeslots"]

    def publish_messages(self) -> list[dict]:
        """One entry per (timeslot, token) pair, whichever message carried it (a batch of
        the current engine, or a first-engine single)."""
        out = []
        for m in self.messages():
            if m["task"] == "publishing.publish_timeslots":
                out += [{**m, "args": pair} for pair in m["args"][0]]
            elif m["task"] == "publishing.publish_timeslot":
                out.append(m)
        return out


@pytest.fixture
def broker():
    b = Broker()
    b.purge()
    yield b
    b.purge()


@pytest.fixture
def worker(transactional_db, broker):
    """A real Celery worker (threads) consuming the real broker, in this process."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        celery_app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=20,
    ) as w:
        yield w
    connection.close()


EMAIL_TASKS = (
    "accounts.send_invitation_email",
    "accounts.send_password_reset_email",
    "accounts.send_unlock_email",
)


@pytest.fixture
def mail_jobs(broker, django_capture_on_commit_callbacks):
    """`with mail_jobs(): client.post(...)` runs what the requests queued after commit, then
    the email tasks they sent to the (real) broker, outside any request, as a worker would
    (called in this thread, inside the test's transaction). The emails are in mail.outbox
    after."""
    import contextlib

    import accounts.tasks  # noqa: F401  (registers the tasks, as a worker's start does)

    @contextlib.contextmanager
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            yield
        for message in broker.messages():
            if message["task"] in EMAIL_TASKS:
                celery_app.tasks[message["task"]](*message["args"])
        broker.purge()

    return run


def wait_for(predicate, *, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy; fail with a message after timeout (no blind sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def race(*calls):
    """Run the calls in threads (each with its own database connection) released at once."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


# --- A signed-in member, for page and form tests -----------------------------------------------
# A module that needs another role or workspace defines its own `member`; `web` follows it.


@pytest.fixture
def member(db):
    from tests.factories import MembershipFactory

    return MembershipFactory()


@pytest.fixture
def web(client, member):
    client.force_login(member.user)
    return client


# --- An API client signed in with a token (the API's own auth) ----------------------------------


def token_client(user):
    """A DRF test client that sends a fresh API token of `user`."""
    from rest_framework.test import APIClient

    from accounts.models import ApiToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return client


@pytest.fixture
def api(member):
    """The signed-in member's API client; a module that needs another user defines its own."""
    return token_client(member.user)

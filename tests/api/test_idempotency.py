"""Idempotency-Key on the REST API's POST, PUT, PATCH and DELETE (accounts.idempotency,
accounts.api_idempotency): a retry gets the first answer and does nothing again; the key
with another request is a 422, while the first still runs a 409; a 5xx is not kept (and
left nothing behind); keys belong to a token and live 24 hours; a bad key is a 400."""

from __future__ import annotations

import datetime as dt
import json
import threading
from unittest import mock

import pytest
import time_machine
from django.db import connection, connections
from rest_framework.exceptions import APIException
from rest_framework.test import APIClient

from accounts import idempotency
from accounts import services as account_services
from accounts.idempotency import KEY_LIFETIME
from accounts.models import ApiToken, IdempotencyKey, Membership
from accounts.tasks import purge_idempotency_keys
from editor import services as editor_services
from posts.models import Post
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, WorkspaceFactory

API = "/api/v1"
POSTS = f"{API}/posts/"
BODY = {"text": "Hello loop", "channels": ["tech"]}
KEY = "7f1c2a4e-9b1d-4c55-8a0e-1f2d3c4b5a69"
# Events in the concurrent tests wait at most this long: a safety net that fails the test
# if the other side never arrives, not a guess at how long something takes.
WAIT = 30


def client_for(user, **kwargs) -> APIClient:
    client = APIClient(**kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return client


def post(client, body=BODY, key=KEY, path=POSTS):
    return client.post(path, body, format="json", headers={"Idempotency-Key": key})


@pytest.fixture
def ws(db):
    workspace = WorkspaceFactory(slug="acme")
    ChannelFactory(workspace=workspace, slug="tech", name="#tech")
    return workspace


@pytest.fixture
def user(ws):
    return MembershipFactory(workspace=ws, role=Membership.Role.EDITOR).user


@pytest.fixture
def api(user):
    return client_for(user)


def same_answer(first, second) -> bool:
    return (
        first.status_code == second.status_code
        and first.content == second.content
        and first["Content-Type"] == second["Content-Type"]
    )


# --- Replay ----------------------------------------------------------------------------------


def test_the_same_post_twice_creates_one_post_and_answers_twice_the_same(api):
    first = post(api)
    second = post(api)
    assert first.status_code == 201, first.content
    assert same_answer(first, second)
    assert Post.objects.count() == 1
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"


def test_the_same_body_in_another_key_order_and_spacing_is_the_same_request(api):
    first = api.post(
        POSTS,
        '{"text": "Hello loop", "channels": ["tech"]}',
        content_type="application/json",
        headers={"Idempotency-Key": KEY},
    )
    second = api.post(
        POSTS,
        '{"channels":["tech"],\n "text":"Hello loop"}',
        content_type="application/json",
        headers={"Idempotency-Key": KEY},
    )
    assert first.status_code == 201 and same_answer(first, second)
    assert second["Idempotent-Replayed"] == "true"
    assert Post.objects.count() == 1


def test_without_a_key_each_post_runs(api):
    assert api.post(POSTS, BODY, format="json").status_code == 201
    assert api.post(POSTS, BODY, format="json").status_code == 201
    assert Post.objects.count() == 2
    assert not IdempotencyKey.objects.exists()


def test_a_patch_and_a_delete_are_replayed_too(api, ws):
    target = PostFactory(workspace=ws, text="old")
    path = f"{POSTS}{target.pk}/"
    with mock.patch.object(
        editor_services, "post_update", wraps=editor_services.post_update
    ) as update:
        first = api.patch(path, {"text": "new"}, format="json", headers={"Idempotency-Key": "p"})
        second = api.patch(path, {"text": "new"}, format="json", headers={"Idempotency-Key": "p"})
    assert first.status_code == 200 and same_answer(first, second)
    assert update.call_count == 1
    gone = api.delete(path, headers={"Idempotency-Key": "d"})
    again = api.delete(path, headers={"Idempotency-Key": "d"})
    assert gone.status_code == 204 and again.status_code == 204
    assert again["Idempotent-Replayed"] == "true"
    target.refresh_from_db()
    assert target.status == Post.Status.ARCHIVED


def test_a_validation_error_is_kept_and_a_corrected_body_needs_a_new_key(api):
    bad = {"text": "", "channels": ["tech"]}
    first = post(api, bad)
    assert first.status_code == 400
    second = post(api, bad)
    assert same_answer(first, second) and second["Idempotent-Replayed"] == "true"
    assert post(api, BODY).status_code == 422
    assert post(api, BODY, key="a-new-key").status_code == 201


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_what_is_refused_before_the_endpoint_runs_is_not_kept(ws, user, role):
    viewer = MembershipFactory(workspace=ws, role=role)
    client = client_for(viewer.user)
    assert post(client).status_code == 403
    assert not IdempotencyKey.objects.exists()
    Membership.objects.filter(pk=viewer.pk).update(role=Membership.Role.EDITOR)
    assert post(client).status_code == 201
    assert Post.objects.count() == 1


# --- Another request under the same key -----------------------------------------------------


def test_the_same_key_with_a_changed_body_is_a_422_and_does_nothing(api):
    assert post(api).status_code == 201
    changed = post(api, {"text": "Something else", "channels": ["tech"]})
    assert changed.status_code == 422
    assert "Idempotency-Key" in changed.json()["detail"]
    assert list(Post.objects.values_list("text", flat=True)) == ["Hello loop"]


def test_the_same_key_on_another_path_is_a_422(api, ws):
    target = PostFactory(workspace=ws, text="old")
    assert post(api).status_code == 201
    other_path = api.patch(
        f"{POSTS}{target.pk}/", BODY, format="json", headers={"Idempotency-Key": KEY}
    )
    assert other_path.status_code == 422
    assert f"POST {POSTS}" in other_path.json()["detail"]
    target.refresh_from_db()
    assert target.text == "old"


# --- 5xx -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("boom"), APIException("upstream broke")],
    ids=["a-crash", "an-answered-500"],
)
def test_a_5xx_is_not_kept_leaves_nothing_behind_and_the_key_can_be_retried(user, failure):
    client = client_for(user, raise_request_exception=False)
    real_create = editor_services.post_create

    def create_then_fail(**kwargs):
        real_create(**kwargs)  # the post is written, then something breaks
        raise failure

    with mock.patch.object(editor_services, "post_create", create_then_fail):
        failed = post(client)
    assert failed.status_code == 500
    assert not Post.objects.exists()  # the endpoint's transaction was rolled back
    assert not IdempotencyKey.objects.exists()
    retried = post(client)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Post.objects.count() == 1


def test_a_key_whose_request_died_is_taken_over_on_postgresql(user):
    # The request dies mid-way (the process is killed): its work is rolled back with its
    # transaction and nothing releases the key. Simulated by a failure whose release is
    # lost.
    client = client_for(user, raise_request_exception=False)
    with (
        mock.patch.object(editor_services, "post_create", side_effect=RuntimeError("killed")),
        mock.patch.object(idempotency, "idempotency_release"),
    ):
        assert post(client).status_code == 500
    assert IdempotencyKey.objects.get().status_code is None
    retried = post(client)
    if connection.vendor == "postgresql":  # nobody holds the row: its request is gone
        assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
        assert Post.objects.count() == 1
        assert IdempotencyKey.objects.get().status_code == 201
    else:  # SQLite cannot tell, so the key stays busy until it expires
        assert retried.status_code == 409
        assert not Post.objects.exists()


# --- Scope and lifetime ----------------------------------------------------------------------


def test_keys_belong_to_a_token_another_tokens_same_key_runs_anew(api, ws, user):
    colleague = client_for(MembershipFactory(workspace=ws, role=Membership.Role.EDITOR).user)
    assert post(api).status_code == 201
    theirs = post(colleague)
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs
    # A new token of the same person starts afresh as well (the old one is gone).
    renewed = APIClient()
    renewed.credentials(HTTP_AUTHORIZATION=f"Token {account_services.api_token_create(user=user)}")
    again = post(renewed)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Post.objects.count() == 3


def test_a_key_lives_24_hours_then_runs_anew_and_is_purged(api):
    start = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        assert post(api).status_code == 201
    with time_machine.travel(start + KEY_LIFETIME - dt.timedelta(seconds=1), tick=False):
        assert post(api)["Idempotent-Replayed"] == "true"
        assert purge_idempotency_keys() == 0
    with time_machine.travel(start + KEY_LIFETIME, tick=False):
        later = post(api)
        assert later.status_code == 201 and "Idempotent-Replayed" not in later
        # Reused when seen: the expired row made way for the new one.
        assert IdempotencyKey.objects.get().created_at == start + KEY_LIFETIME
    assert Post.objects.count() == 2
    with time_machine.travel(start + 2 * KEY_LIFETIME, tick=False):
        assert purge_idempotency_keys() == 1
    assert not IdempotencyKey.objects.exists()


# --- Bad keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", " ", "x" * 256, "clé", " padded", "padded ", "tab\there"],
    ids=["empty", "blank", "too-long", "not-ascii", "leading-space", "trailing-space", "tab"],
)
def test_a_bad_key_is_a_400_that_says_what_a_key_is(api, key):
    response = post(api, key=key)
    assert response.status_code == 400
    assert "Idempotency-Key is 1 to 255 printable ASCII characters" in response.json()["detail"]
    assert not Post.objects.exists() and not IdempotencyKey.objects.exists()


def test_the_longest_key_and_inner_spaces_are_fine(api):
    assert post(api, key="k" * 255).status_code == 201
    assert post(api, key="order 42 / try {1}").status_code == 201


# --- Docs ------------------------------------------------------------------------------------


def test_the_schema_offers_the_key_on_every_unsafe_operation_with_its_409_and_422(api):
    schema = api.get(f"{API}/schema/", {"format": "json"}).json()
    unsafe = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            names = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "header"}
            if method in {"post", "put", "patch", "delete"} and path != f"{API}/auth/token/":
                unsafe += 1
                assert "Idempotency-Key" in names, (method, path)
                assert {"409", "422"} <= set(operation["responses"]), (method, path)
            else:
                assert "Idempotency-Key" not in names, (method, path)
    assert unsafe >= 10


# --- Concurrency (real transactions, two threads) --------------------------------------------


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL (SQLite serialises every writer)")


def _in_thread(target, results, name):
    def run():
        try:
            results[name] = target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_repeat_while_the_first_still_runs_is_a_409_then_gets_the_stored_answer(
    postgresql, ws, user
):
    token = ApiToken.objects.create(user=user).key
    started, finish = threading.Event(), threading.Event()
    real_create = editor_services.post_create

    def slow_create(**kwargs):
        started.set()
        assert finish.wait(WAIT)
        return real_create(**kwargs)

    def client():
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return c

    results: dict = {}
    with mock.patch.object(editor_services, "post_create", slow_create):
        first = _in_thread(lambda: post(client()), results, "first")
        try:
            assert started.wait(WAIT)
            during = post(client())
        finally:
            finish.set()
            first.join(WAIT)
    assert not first.is_alive()
    assert during.status_code == 409
    assert "still running" in during.json()["detail"]
    assert results["first"].status_code == 201
    after = post(client())
    assert same_answer(results["first"], after) and after["Idempotent-Replayed"] == "true"
    assert Post.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_with_one_key_make_one_post(postgresql, ws, user):
    token = ApiToken.objects.create(user=user).key
    barrier = threading.Barrier(2, timeout=WAIT)

    def send():
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        barrier.wait()
        return post(c)

    results: dict = {}
    threads = [_in_thread(send, results, name) for name in ("a", "b")]
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    assert Post.objects.count() == 1
    answers = sorted(results.values(), key=lambda r: (r.status_code, "Idempotent-Replayed" in r))
    ran, other = answers
    assert ran.status_code == 201 and "Idempotent-Replayed" not in ran
    assert other.status_code == 409 or (
        same_answer(ran, other) and other["Idempotent-Replayed"] == "true"
    )
    assert json.loads(ran.content)["text"] == "Hello loop"

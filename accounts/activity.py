"""The activity log's one way in: `activity_record(...)`, called by the services that make
a change, in their transaction (a rollback takes the entry with it).

Who did it and from where reach the services through a context variable, not through their
arguments. Each entry point says it once: the web and the API by a middleware
(accounts.activity_middleware: the person signed in, or the API token's person; the admin
by its URL), a command by `activity_context(source=COMMAND)`. Code with no context is the
engine (planner, publisher, watchdog: Celery tasks). Why a context and not keyword
arguments: a change is made by nested services (post_update archives through post_archive,
post_create pins through timeslot_pin, the CSV import creates through post_create), called
from views, forms, the API, the admin, commands, the import and feeds; threading `actor=` and
`source=` through every one of those signatures and call sites would change dozens of
functions for a fact that is the same for the whole request. A service may still pass
`actor_id=`/`source=` explicitly (the email-link approval does: no signed-in person).

The context is reset when the request or the command ends, so a worker thread never carries
one request's person into the next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import ActivityAction, ActivityEntry, ActivitySource


@dataclass(frozen=True)
class Actor:
    """Who and from where. `resolve` is called only when an entry is written (the web's
    person is read from the request lazily: a page that records nothing pays nothing)."""

    resolve: Callable[[], tuple[int | None, str, ActivitySource]]


_ENGINE = Actor(lambda: (None, "", ActivitySource.ENGINE))
_current: ContextVar[Actor] = ContextVar("queueloop_activity_actor", default=_ENGINE)


def display_name(user) -> str:
    if user is None:
        return ""
    return (user.get_full_name() or user.get_username())[:150]


@contextlib.contextmanager
def activity_context(*, source: ActivitySource, user=None) -> Iterator[None]:
    """Everything recorded inside is by `user` (None: nobody in particular) from `source`."""
    uid, name = (user.pk, display_name(user)) if user is not None else (None, "")
    token = _current.set(Actor(lambda: (uid, name, ActivitySource(source))))
    try:
        yield
    finally:
        _current.reset(token)


def activity_context_lazy(resolve: Callable[[], tuple[int | None, str, ActivitySource]]):
    """Set a lazily resolved actor; returns the token for `activity_context_reset`."""
    return _current.set(Actor(resolve))


def activity_context_reset(token) -> None:
    _current.reset(token)


def current_actor() -> tuple[int | None, str, ActivitySource]:
    return _current.get().resolve()


_UNSET = object()


def activity_record(
    *,
    workspace_id: int,
    action: ActivityAction,
    post=None,
    channel=None,
    target: str = "",
    details: dict | None = None,
    actor_id: int | object | None = _UNSET,
    source: ActivitySource | None = None,
) -> ActivityEntry:
    """Append one entry. `post`/`channel`: the objects it is about (their ids are kept, and
    the post's first words or the channel's name as `target` unless one is given).
    `actor_id`/`source` default to the current context (see the module's docstring)."""
    uid, name, ctx_source = current_actor()
    if actor_id is not _UNSET and actor_id != uid:
        # Someone other than the context's person (an approval by a signed email link).
        uid, name = actor_id, display_name(get_user_model().objects.filter(pk=actor_id).first())
    if not target:
        if post is not None:
            target = " ".join(post.text.split())[:80]
        elif channel is not None:
            target = channel.name
    return ActivityEntry.objects.create(
        workspace_id=workspace_id,
        at=timezone.now(),
        actor_id=uid,
        actor_name=name,
        source=ActivitySource(source or ctx_source),
        action=ActivityAction(action),
        post_id=post.pk if post is not None else None,
        channel_id=channel.pk if channel is not None else None,
        target=target[:200],
        details=details or {},
    )

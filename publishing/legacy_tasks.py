"""The first engine's task names, and whether a message with one is still on the broker.

The first engine sent `publishing.publish_timeslot(timeslot_id, token)` once per slot (with
`eta=` its publish time) and `publishing.deliver(delivery_id)` once per delivery; engine v2
sends `publishing.publish_timeslots` and `publishing.deliver_batch` instead, and no code path
sends the old names any more. A message sent before an upgrade can still be on the broker
after it, though: an ETA message waits up to PLANNER_HORIZON, and a message whose worker died
comes back only after CELERY_VISIBILITY_TIMEOUT. A worker without the old task would discard
such a message as unregistered; the watchdog would then re-enqueue its slot, but late, and a
`deliver` message's delivery only when recovery picks it up. So the two tasks stay registered
for one more release (`publishing/tasks.py`), and this module lets an operator check before
upgrading past it:

    python manage.py legacy_tasks

**Removal plan.** The release after this one deletes the two tasks, the two one-item service
wrappers kept for them (`claim.timeslot_publish`, `delivery.delivery_send`: tests call them
too and would switch to the batch forms), this module and its command. Upgrade to that
release only after `legacy_tasks` answers "none" (exit status 0).

How the broker is read, without taking anything off it. Consuming a message to look at it
(a kombu `SimpleQueue.get`, a channel's `basic_get`) is not a peek on Redis: with `no_ack`
the message is gone; without, it leaves its list for the unacked hash and is put back only
when the channel closes (marked redelivered), or, if the reading process dies first, after
the visibility timeout (3 h), which would delay the very slots we want to protect. Instead
this reads the Redis keys the kombu Redis transport keeps, with the redis client and
read-only commands, in one MULTI/EXEC so that a message moving between them is seen once:

- each queue is a Redis list named after the queue (Celery's monitoring guide reads its
  length with `LLEN <queue>`), plus one list per priority step (`<queue><sep><step>`;
  `sep` and `priority_steps` are kombu's documented transport options): `LRANGE 0 -1`;
- messages a worker holds and has not acknowledged (every ETA message a running worker has
  fetched, since tasks ack late) are in the hash named by the `unacked_key` transport option
  (default `unacked`), each value `[message, exchange, routing_key]` (kombu's own layout,
  not a documented one: hence the rule for unreadable entries below): `HVALS`. That hash is
  shared by every app on the Redis database, so only entries routed to one of our queues
  are counted.

A message's task name is its `task` header (Celery's message protocol 2). An entry that
cannot be read that way is counted as unreadable, and then the answer is "cannot tell",
never "none". A message a worker takes at the very instant of the read (between its BRPOP
and its write to the unacked hash) is invisible to it: run the command again before acting
on a "none".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from kombu.transport.redis import Channel as RedisChannel

from queueloop.celery import app as celery_app

# Kept in sync with the names registered in publishing/tasks.py (a test checks it).
LEGACY_TASK_NAMES = ("publishing.publish_timeslot", "publishing.deliver")


@dataclass(frozen=True)
class LegacyMessage:
    task: str
    place: str  # "queue <name>" or "held by a worker (unacked)"
    eta: str | None  # the message's eta header (ISO 8601), if it has one


@dataclass
class BrokerScan:
    queues: list[str]
    messages_read: int = 0
    found: list[LegacyMessage] = field(default_factory=list)
    unreadable: int = 0


def _client(url: str) -> redis.Redis:
    # kombu's socket scheme is redis-py's unix:// (the embedded Redis of `make run`).
    url = url.replace("redis+socket://", "unix://", 1)
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=60)


def _task_and_eta(message: object) -> tuple[str, str | None] | None:
    if not isinstance(message, dict) or not isinstance(message.get("headers"), dict):
        return None
    task = message["headers"].get("task")
    if not isinstance(task, str):
        return None
    return task, message["headers"].get("eta")


def broker_legacy_messages(*, queues: Sequence[str] | None = None) -> BrokerScan:
    """Every message with a first-engine task name on the broker: waiting in one of `queues`
    (default: every queue this app's Celery configuration declares) or held unacknowledged
    by a worker. Reads only; raises what the broker raised (unreachable, not Redis)."""
    url = celery_app.conf.broker_url
    if not url.startswith(("redis://", "rediss://", "redis+socket://")):
        raise ValueError(
            f"only the Redis transport can be read (the broker is {url.split(':')[0]})"
        )
    options = celery_app.conf.broker_transport_options or {}
    sep = options.get("sep", RedisChannel.sep)
    steps = options.get("priority_steps", RedisChannel.priority_steps)
    prefix = options.get("global_keyprefix", RedisChannel.global_keyprefix)
    unacked_key = prefix + options.get("unacked_key", RedisChannel.unacked_key)

    declared = celery_app.amqp.queues
    names = list(queues) if queues else list(declared)
    # The (exchange, routing key) pairs a message of ours is sent with: the default exchange
    # ("") routes by the queue's name, a declared queue also has its own binding.
    routes = {("", name) for name in names}
    for name in names:
        if (queue := declared.get(name)) is not None:
            routes.add((queue.exchange.name, queue.routing_key))
    keys = [
        (name, prefix + (f"{name}{sep}{step}" if step else name))
        for name in names
        for step in steps
    ]

    with _client(url) as client, client.pipeline(transaction=True) as pipe:
        for _, key in keys:
            pipe.lrange(key, 0, -1)
        pipe.hvals(unacked_key)
        *lists, unacked = pipe.execute()

    scan = BrokerScan(queues=names)
    for (name, _), items in zip(keys, lists, strict=True):
        for raw in items:
            scan.messages_read += 1
            try:
                read = _task_and_eta(json.loads(raw))
            except ValueError:
                read = None
            if read is None:
                scan.unreadable += 1
            elif read[0] in LEGACY_TASK_NAMES:
                scan.found.append(LegacyMessage(task=read[0], place=f"queue {name}", eta=read[1]))
    for raw in unacked:
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        if not (isinstance(entry, list) and len(entry) == 3):
            scan.messages_read += 1
            scan.unreadable += 1
            continue
        message, exchange, routing_key = entry
        route = (exchange, routing_key)
        if not all(isinstance(part, str) for part in route) or route not in routes:
            continue  # another app's (or another test run's) queue
        scan.messages_read += 1
        read = _task_and_eta(message)
        if read is None:
            scan.unreadable += 1
        elif read[0] in LEGACY_TASK_NAMES:
            scan.found.append(
                LegacyMessage(task=read[0], place="held by a worker (unacked)", eta=read[1])
            )
    return scan

"""Where a hot slot's CPU goes: the worker's path in one process, profiled."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from bench import networks_mix
from bench.data import make_channels, make_publishable, make_schedules, make_workspace
from bench.harness import UTC, Receiver, database_create, database_drop, redis_cleanup

# --- Profile: where a hot slot's CPU goes ------------------------------------------------


class _InlineExecutor:
    """Runs a delivery chunk's lanes one after another in the calling thread, so that the
    profilers (which follow one thread) see the provider calls too."""

    def submit(self, fn, *args, **kwargs):
        from concurrent.futures import Future

        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller, as a pool does
            future.set_exception(exc)
        return future


def profile_publish(args) -> None:
    """In one process, no broker: M slots through the worker's path, profiled.

    As the worker runs them: one `timeslots_publish` per publish message (ETA second and
    chunk of PUBLISH_BATCH_SIZE), then `deliveries_send` per deliver_batch chunk of
    DELIVER_BATCH_SIZE (`publishing.delivery.dispatch` is replaced by a list). The receiver
    answers at once here, so the figures are our bookkeeping's cost per slot (plus one local
    HTTP round trip each), the CPU that a worker spends in a hot minute.
    """
    import django

    database_create()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections
    from django.db.backends.signals import connection_created
    from pyinstrument import Profiler

    from publishing import delivery as delivery_module
    from publishing import lanes as lanes_module
    from publishing import services
    from scheduling import enqueue
    from scheduling.models import Timeslot
    from scheduling.services import planner_run

    call_command("migrate", verbosity=0)
    receiver = Receiver(Path(tempfile.mkdtemp(prefix="ql-bench-prof-")), delay=0)
    # --mix: the hot second's channels mixing every network (bench/networks_mix.py), each
    # network's fake in this process (its CPU counts in `cpu_ms_per_slot`, not in the
    # profile of this thread).
    mix = networks_mix.start() if args.mix else None
    if mix is not None:
        networks_mix.route_this_process(mix)
    try:
        ws = make_workspace("profile")
        channels = make_channels(ws, args.m)
        make_publishable(ws, channels, receiver.url)
        if mix is not None:
            networks_mix.add_accounts(mix, ws, channels)
        now = dt.datetime.now(UTC).replace(microsecond=0)
        make_schedules(channels, lambda i: [now + dt.timedelta(minutes=20)])
        planner_run(now=now, until=now + dt.timedelta(minutes=21))
        redis_cleanup()
        slots = list(Timeslot.objects.values_list("id", "token", "publish_at"))
        messages = enqueue.batches(
            [enqueue.Message(*row) for row in slots], size=settings.PUBLISH_BATCH_SIZE
        )
        dispatched: list[list[int]] = []
        # No broker in the profile: dispatch_on_commit calls this after each batch commits.
        delivery_module.dispatch = lambda ids, eta=None: dispatched.append(list(ids))
        if args.lanes == "inline":
            lanes_module._executor = _InlineExecutor
        queries, opened = [0], [0]

        def count(execute, sql, params, many, context):
            queries[0] += 1
            return execute(sql, params, many, context)

        def on_connect(sender, connection, **kwargs):
            opened[0] += 1

        connection_created.connect(on_connect)

        def task_boundary():
            # What Celery 5.7's Django fixup does before and after every task (with
            # CELERY_DB_REUSE_MAX unset): close the connections, whatever CONN_MAX_AGE says,
            # so each task connects anew.
            if not args.reuse_connections:
                connections.close_all()

        from networks import get_provider

        t = time.perf_counter()
        get_provider("webhook")  # imports every provider module (x: twitter_text)
        provider_import = time.perf_counter() - t
        # The URLconf, loaded at the worker's start (queueloop/celery.py).
        from django.urls import reverse

        reverse("dashboard")
        profiler = Profiler(interval=0.001)
        cprofile = None
        if args.cprofile:
            import cProfile

            cprofile = cProfile.Profile(time.process_time)
        tasks = {"publish": 0, "deliver": 0}
        publish_cpu = deliver_cpu = 0.0
        size = settings.DELIVER_BATCH_SIZE
        with connection.execute_wrapper(count):
            if cprofile:
                cprofile.enable()
            elif not args.no_profiler:
                profiler.start()
            started, cpu = time.perf_counter(), time.process_time()
            for eta, pairs in messages:
                task_boundary()
                c = time.process_time()
                services.timeslots_publish(pairs=pairs, now=eta)
                publish_cpu += time.process_time() - c
                tasks["publish"] += 1
                task_boundary()
                while dispatched:
                    ids = dispatched.pop(0)
                    for i in range(0, len(ids), size):
                        c = time.process_time()
                        services.deliveries_send(delivery_ids=ids[i : i + size], now=eta)
                        deliver_cpu += time.process_time() - c
                        tasks["deliver"] += 1
                        task_boundary()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            if cprofile:
                import pstats

                cprofile.disable()
                pstats.Stats(cprofile).sort_stats("cumulative").print_stats(45)
                if args.cprofile_out:
                    cprofile.dump_stats(args.cprofile_out)
            elif not args.no_profiler:
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=False))
        connection_created.disconnect(on_connect)
        statuses: dict[str, int] = {}
        for status in Timeslot.objects.values_list("status", flat=True):
            statuses[status] = statuses.get(status, 0) + 1
        n = len(slots)
        summary = {
            "slots": n,
            "publish_tasks": tasks["publish"],
            "deliver_tasks": tasks["deliver"],
            "lanes": args.lanes,
            "seconds": round(elapsed, 3),
            "ms_per_slot": round(elapsed * 1000 / n, 2),
            "cpu_ms_per_slot": round(cpu * 1000 / n, 2),
            "publish_cpu_ms_per_slot": round(publish_cpu * 1000 / n, 2),
            "deliver_cpu_ms_per_slot": round(deliver_cpu * 1000 / n, 2),
            "first_get_provider_seconds": round(provider_import, 3),
            "queries_per_slot": round(queries[0] / n, 2),
            "queries_per_task": round(queries[0] / max(1, sum(tasks.values())), 1),
            "connections_opened": opened[0],
            "statuses": statuses,
        }
        print(json.dumps(summary))
    finally:
        receiver.stop()
        if mix is not None:
            mix.stop()
        database_drop()

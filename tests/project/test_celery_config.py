"""Celery's configuration is part of the at-most-once design: check it, not just hope."""

from __future__ import annotations

from celery.schedules import crontab
from django.conf import settings

from queueloop.celery import app


def test_broker_settings_keep_eta_messages_safe():
    conf = app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    # ETA messages wait unacknowledged in the worker: Redis must not re-deliver them
    # before their time, or every slot would run twice.
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert visibility > 2 * settings.PLANNER_HORIZON.total_seconds()
    assert conf.worker_soft_shutdown_timeout > 0


def test_every_task_of_ours_has_time_limits():
    app.loader.import_default_modules()
    ours = [t for name, t in app.tasks.items() if not name.startswith("celery.")]
    assert {t.name for t in ours} >= {
        "publishing.publish_timeslot",
        "publishing.deliver",
        "scheduling.plan_upcoming",
        "scheduling.watchdog",
        "accounts.send_notice_email",
    }
    for task in ours:
        assert task.soft_time_limit and task.time_limit, task.name
        assert task.soft_time_limit < task.time_limit, task.name


def test_beat_plans_hourly_at_minute_zero_and_runs_the_watchdog_every_minute():
    schedule = app.conf.beat_schedule
    assert schedule["plan-upcoming"]["task"] == "scheduling.plan_upcoming"
    assert schedule["plan-upcoming"]["schedule"] == crontab(minute=0)
    assert schedule["watchdog"]["task"] == "scheduling.watchdog"
    assert schedule["watchdog"]["schedule"] == 60.0
    # Its twins: deliveries stuck or unsent, and notice emails SMTP refused.
    assert schedule["recover-deliveries"]["task"] == "publishing.recover_deliveries"
    assert schedule["retry-notice-emails"]["task"] == "accounts.retry_notice_emails"
    assert {"publishing.recover_deliveries", "accounts.retry_notice_emails"} <= set(app.tasks)


def test_a_started_worker_puts_its_startup_objects_out_of_the_collectors_reach():
    # A full collection walked every start-up object (~250,000) in a hot second: 139 ms
    # with every thread stopped. The worker freezes them once it is ready.
    import gc

    from celery.signals import worker_process_init, worker_ready

    for signal in (worker_ready, worker_process_init):
        gc.unfreeze()
        assert gc.get_freeze_count() == 0
        try:
            signal.send(sender=None)
            assert gc.get_freeze_count() > 1000
        finally:
            gc.unfreeze()


def test_a_started_worker_builds_the_url_table_before_the_freeze():
    """A delivery's link comes from reverse() (the sandbox's timeline); the first reverse()
    in a process imports every view and builds the whole table, which after each worker
    start fell inside the hot second, outside the freeze. The worker builds it at start."""
    import gc

    from celery.signals import worker_ready
    from django.urls import clear_url_caches, get_resolver

    clear_url_caches()
    gc.unfreeze()
    try:
        worker_ready.send(sender=None)
        table = get_resolver().reverse_dict
        assert table  # built: every URL name is in it
        # Made before the freeze: frozen objects are in no generation the collector walks.
        assert id(table) not in {id(o) for o in gc.get_objects()}
    finally:
        gc.unfreeze()

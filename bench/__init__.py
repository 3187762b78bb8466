"""Benchmarks: planner scale and hot-minute lateness against raw Celery ETA and peers."""

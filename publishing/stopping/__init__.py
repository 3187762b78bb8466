"""The emergency stop's and blackout dates' web pages (views) and REST API (api); the
stop itself is scheduling/stops.py, its answer publishing/stop_answer.py."""

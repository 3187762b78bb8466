# Queue Loop: one image for web (gunicorn), Celery worker and Celery beat.
# docker-compose.yml picks the process with `command:`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    QUEUELOOP_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# Dependencies first, so code changes do not reinstall them (every version is pinned).
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code belongs to root and is read-only for the app; the app user may write only its
# runtime directory (Celery beat's schedule file, the post images' volume) and the
# collected static files.
COPY . .
RUN groupadd --system --gid 10001 queueloop \
    && useradd --system --uid 10001 --gid queueloop --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin queueloop \
    && mkdir -p /app/var/media /app/staticfiles \
    && chown queueloop:queueloop /app/var /app/var/media /app/staticfiles

USER queueloop

EXPOSE 8000
CMD ["gunicorn", "queueloop.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]

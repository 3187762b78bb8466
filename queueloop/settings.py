"""Queue Loop settings: everything that differs between machines comes from the environment.

With nothing set, the app runs in its zero-setup shape: a SQLite file under var/ and the
embedded Redis that `make run` starts on a Unix socket under var/. Set DATABASE_URL and
REDIS_URL to use real servers (production, CI).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from queueloop.env import env_bool, env_int, env_list, env_seconds, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("QUEUELOOP_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _dev_secret_key() -> str:
    # Development only: a random key kept in var/ so sessions survive restarts,
    # and nothing secret is ever committed.
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
    SECRET_KEY = _dev_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc files served by us, not a CDN
    "recurrence",
    "axes",
    "ground",
    "accounts",
    "networks",
    "channels",
    "posts",
    "scheduling",
    "links",
    "publishing",
    "bulk",
    "editor",
    "integrations",
    "results",
    "ops",
    "queueloop.apps.QueueLoopConfig",
]

MIDDLEWARE = [
    # /healthz and /metrics first: they answer container probes and scrapers by internal
    # host names over plain HTTP (see the module for why that is safe).
    "ops.middleware.OpsEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "ground.middleware.RejectNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in person's display zone, active for the whole request (one clock).
    "accounts.zone_middleware.DisplayZoneMiddleware",
    # Who is acting and from where, for the activity log (accounts.activity).
    "accounts.activity_middleware.ActivityActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login (any of them) into a 429 (accounts.auth).
    "axes.middleware.AxesMiddleware",
]

# axes first: it refuses a locked-out username or address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "accounts.auth.ThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "queueloop.urls"
WSGI_APPLICATION = "queueloop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'queueloop.sqlite3'}"
# Read before the try: a bad DB_CONN_MAX_AGE must be reported as itself, not as a bad URL.
# Connections are kept for a minute by default (web and workers): a new PostgreSQL
# connection costs a fork on the server and time in every task (bench/README.md, "Where the
# time goes"). Celery's Django fixup honours this (it closes only unusable or expired
# connections after a task), and CONN_HEALTH_CHECKS replaces a connection the database
# dropped.
_conn_max_age = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=_conn_max_age)
except Exception as exc:  # dj-database-url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
_db["CONN_HEALTH_CHECKS"] = _conn_max_age > 0
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite as a real multi-process database (web + worker + beat share the file):
    # WAL lets readers run beside the one writer, the busy timeout makes a writer wait
    # instead of failing, and IMMEDIATE transactions take the write lock up front so two
    # writers cannot deadlock upgrading read locks.
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Storage and the ORM work in UTC; each channel has its own IANA zone for display and
# for expanding its rules. django-recurrence (de)serialises with the current zone, so
# it must stay UTC: see scheduling/rules.py.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
RECURRENCE_USE_TZ = False

STATIC_URL = "static/"
# Post images: the filesystem under var/media by default; set STORAGES["default"] to a
# django-storages backend (S3, GCS...) in production.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = env_str("MEDIA_URL", "/media/")
SERVE_MEDIA = env_bool("SERVE_MEDIA", True)
# Post images are served only through signed URLs that expire (posts.signed_media): a page
# gets URLs valid MEDIA_URL_MAX_AGE seconds (then reload it); a webhook receiver, which
# fetches later, gets MEDIA_FETCH_URL_MAX_AGE. A removed member's copied URL dies with it.
MEDIA_URL_MAX_AGE = env_int("MEDIA_URL_MAX_AGE", 3600, minimum=60)
MEDIA_FETCH_URL_MAX_AGE = env_int("MEDIA_FETCH_URL_MAX_AGE", 24 * 3600, minimum=60)
STORAGES = {
    "default": {"BACKEND": "posts.signed_media.SignedFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Where this site is reached from outside (https://queueloop.example.com): image URLs sent
# to webhooks are made absolute with it (a worker has no request to take the host from).
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "").rstrip("/")
if PUBLIC_BASE_URL and not PUBLIC_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"PUBLIC_BASE_URL={PUBLIC_BASE_URL!r} must start with http:// or https://"
    )
# Image limits (posts/media.py), checked from the file's header before any pixel is decoded:
# pixels of one frame, frames, and pixels over all frames (what decoding an animation costs).
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 40_000_000, minimum=1)
IMAGE_MAX_FRAMES = env_int("IMAGE_MAX_FRAMES", 350, minimum=1)
IMAGE_MAX_TOTAL_PIXELS = env_int("IMAGE_MAX_TOTAL_PIXELS", 100_000_000, minimum=1)
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Security (production defaults; DEBUG relaxes them for http://localhost) -----------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies in front of the app append to X-Forwarded-For: the client address for
# login locks and API throttles is the one the outermost of them saw. 0 = REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if BEHIND_TLS_PROXY else 0, minimum=0)

# --- Login throttle (django-axes): web login, admin login and the API token endpoint ----
# A username is locked for one client address only, after LOGIN_FAILURE_LIMIT failures from
# that address (axes' nested list = the combination): a stranger's wrong passwords never lock
# the owner out from their own address. An address that fails LOGIN_ADDRESS_FAILURE_LIMIT
# times over any usernames (spraying) is locked for every username (accounts.auth). Both
# last LOGIN_LOCKOUT_SECONDS after the last failure; a locked person can unlock themselves
# with an emailed link (LOGIN_UNLOCK_LINK_SECONDS, single use).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 50, minimum=1)
if LOGIN_ADDRESS_FAILURE_LIMIT < AXES_FAILURE_LIMIT:
    raise ImproperlyConfigured("LOGIN_ADDRESS_FAILURE_LIMIT must be >= LOGIN_FAILURE_LIMIT")
AXES_COOLOFF_TIME = dt.timedelta(seconds=env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "accounts.auth.LoginThrottleHandler"
AXES_USERNAME_CALLABLE = "accounts.auth.lock_username"
AXES_CLIENT_IP_CALLABLE = "accounts.auth.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.auth.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # the counters live in the cache, not in admin-visible tables
AXES_VERBOSE = False
LOGIN_UNLOCK_LINK_AGE = env_seconds("LOGIN_UNLOCK_LINK_SECONDS", 3600, minimum=60)
# Password-reset and unlock emails: at most one of each kind per account per interval
# (more requests get the same answer and no email), and at most ACCOUNT_EMAIL_ADDRESS_LIMIT
# such requests per client address per LOGIN_LOCKOUT_SECONDS.
ACCOUNT_EMAIL_INTERVAL = env_seconds("ACCOUNT_EMAIL_INTERVAL", 15 * 60, minimum=1)
ACCOUNT_EMAIL_ADDRESS_LIMIT = env_int("ACCOUNT_EMAIL_ADDRESS_LIMIT", 10, minimum=1)

# --- Secrets at rest ------------------------------------------------------------------
# Comma-separated Fernet keys, newest first: the first encrypts, all decrypt, so a key can
# be rotated without downtime (see README, "Rotating the encryption key").
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEY", [])
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be set when DEBUG is false "
            '(make one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())")'
        )
    # Development only: derived from the (uncommitted, random) dev SECRET_KEY.
    FIELD_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
    ]
# Check the keys now: a malformed key must stop start-up, not the first credentials read.
for _index, _key in enumerate(FIELD_ENCRYPTION_KEYS, start=1):
    try:
        Fernet(_key.encode())
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEY: key {_index} of {len(FIELD_ENCRYPTION_KEYS)} is not a Fernet "
            "key (32 url-safe base64-encoded bytes)"
        ) from None

# --- Redis / Celery -------------------------------------------------------------------
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis" / "redis.sock"
REDIS_URL = env_str("REDIS_URL") or f"redis+socket://{EMBEDDED_REDIS_SOCKET}"
if not REDIS_URL.startswith(("redis://", "rediss://", "redis+socket://")):
    raise ImproperlyConfigured(
        f"REDIS_URL={REDIS_URL!r} must start with redis://, rediss:// or redis+socket://"
    )

# The cache holds short-lived counters (login throttling) shared by every web process.
_cache_url = REDIS_URL.replace("redis+socket://", "unix://", 1)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _cache_url,
        "KEY_PREFIX": "queueloop-cache",
        "TIMEOUT": 900,
    }
}

PLANNER_HORIZON = env_seconds("PLANNER_HORIZON", 75 * 60, minimum=60)
MISSED_AFTER = env_seconds("MISSED_AFTER", 30 * 60, minimum=60)
WATCHDOG_GRACE = env_seconds("WATCHDOG_GRACE", 60, minimum=1)
SEND_TIMEOUT = env_seconds("SEND_TIMEOUT", 120, minimum=5)
# How long an emergency stop waits for the calls already under way to be answered before
# it states its cutoff (publishing/stopping/services.py).
STOP_DRAIN = env_seconds("STOP_DRAIN", 20, minimum=0)
# Approval (posts.review, editor.review_mail): approvers are told (a notice and an email
# with a one-time link) when a post in review is due within REVIEW_LEAD_TIME; the link
# works for REVIEW_LINK_MAX_AGE.
REVIEW_LEAD_TIME = env_seconds("REVIEW_LEAD_TIME", 24 * 3600, minimum=60)
REVIEW_LINK_MAX_AGE = env_seconds("REVIEW_LINK_MAX_AGE", 3 * 24 * 3600, minimum=60)
PLANNER_BATCH_SIZE = env_int("PLANNER_BATCH_SIZE", 500, minimum=1)
# Engine v2 (DESIGN §3-§4): slots per publish message (all due in one second), deliveries
# per deliver_batch message, and SDK provider calls one chunk makes at once (a chunk's
# webhook calls all run at once from its own thread: publishing/delivery.py).
PUBLISH_BATCH_SIZE = env_int("PUBLISH_BATCH_SIZE", 200, minimum=1)
# Publish batches one worker process claims at once (publishing/tasks.py says why).
PUBLISH_CLAIMS_AT_ONCE = env_int("PUBLISH_CLAIMS_AT_ONCE", 1, minimum=1)
DELIVER_BATCH_SIZE = env_int("DELIVER_BATCH_SIZE", 50, minimum=1)
DELIVER_CONCURRENCY = env_int("DELIVER_CONCURRENCY", 16, minimum=1)
# SDK provider calls (X, Mastodon, Bluesky) one worker process makes at once, over all
# its delivery tasks: the threads of its pool.
DELIVER_POOL_SIZE = env_int("DELIVER_POOL_SIZE", 64, minimum=1)
# Schedules per planner chunk task: plan_upcoming fans a run out over the workers.
PLANNER_CHUNK_SIZE = env_int("PLANNER_CHUNK_SIZE", 2000, minimum=1)
# The fan-in sends the window's publish messages as up to this many tasks (time ranges).
PLANNER_ENQUEUE_RANGES = env_int("PLANNER_ENQUEUE_RANGES", 8, minimum=1)
# A channel's publishing bound (DESIGN §7 invariant 7), over all its schedules and pins:
# at most this many slots in any 60 minutes, and never two slots closer than this many
# seconds. Refused on save, enforced again by the planner (scheduling/spacing.py).
CHANNEL_MAX_SLOTS_PER_HOUR = env_int("CHANNEL_MAX_SLOTS_PER_HOUR", 12, minimum=1)
CHANNEL_MIN_INTERVAL = env_int("CHANNEL_MIN_INTERVAL", 60, minimum=0)
# Problems ahead (scheduling/lint.py): coming slots are checked this far ahead. Each
# network's cap on posts per account in any 24 hours (X: the Basic plan's 100 per user on
# POST /2/tweets; Threads 250 and Instagram 100 as Meta documents them), and the window in
# which a network refuses the same text twice from one account (X: 24 h).
LINT_AHEAD = env_seconds("LINT_AHEAD", 24 * 3600, minimum=3600)
X_DAILY_POST_CAP = env_int("X_DAILY_POST_CAP", 100, minimum=1)
POSTS_PER_24H_CAP = {"x": X_DAILY_POST_CAP, "threads": 250, "instagram": 100}
DUPLICATE_WINDOW_HOURS = {"x": 24}
# Read-back of unconfirmed deliveries (publishing/read_back.py): the first look this long
# after the call began (a network's listing may lag a post), then with backoff up to the
# max interval, until the horizon after the delivery was made. The window searched starts
# the margin before the delivery was made (clock skew).
READ_BACK_FIRST_AFTER = env_seconds("READ_BACK_FIRST_AFTER", 120, minimum=0)
READ_BACK_MAX_INTERVAL = env_seconds("READ_BACK_MAX_INTERVAL", 3600, minimum=1)
READ_BACK_HORIZON = env_seconds("READ_BACK_HORIZON", 24 * 3600, minimum=60)
READ_BACK_MARGIN = env_seconds("READ_BACK_MARGIN", 120, minimum=0)
if MISSED_AFTER <= WATCHDOG_GRACE:
    raise ImproperlyConfigured("MISSED_AFTER must be longer than WATCHDOG_GRACE")

# --- Operations: /healthz and /metrics (ops/health_views.py, metrics_views.py) ------
# /healthz fails when the planner (hourly) has not run for this long, when no worker sent
# a heartbeat for this long, or when a slot is still scheduled this long past its time.
HEALTH_PLANNER_MAX_AGE = env_seconds("HEALTH_PLANNER_MAX_AGE", 2 * 3600, minimum=60)
HEALTH_WORKER_MAX_AGE = env_seconds("HEALTH_WORKER_MAX_AGE", 120, minimum=30)
HEALTH_OVERDUE_AFTER = env_seconds("HEALTH_OVERDUE_AFTER", 5 * 60, minimum=60)
# /metrics answers a scraper that sends "Authorization: Bearer <METRICS_TOKEN>" or connects
# from METRICS_ALLOWED_IPS (addresses or networks, e.g. 10.0.0.0/8); with neither, 403.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = []
for _network in env_list("METRICS_ALLOWED_IPS", []):
    try:
        METRICS_ALLOWED_NETWORKS.append(ipaddress.ip_network(_network, strict=False))
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_IPS: {_network!r} is not an IP address or network"
        ) from None
# The lateness histogram covers the deliveries sent in this window.
METRICS_WINDOW = env_seconds("METRICS_WINDOW", 3600, minimum=60)

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, so a worker that dies mid-task leaves the message
# for another worker; every task is written to be safe to run twice (token + claim).
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# ETA messages stay unacknowledged in the worker until their time. Redis re-delivers an
# unacknowledged message after visibility_timeout, so it must exceed the furthest ETA we
# ever enqueue (the planner horizon) by a wide margin, or every slot would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3 * 3600, minimum=3600),
}
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= PLANNER_HORIZON.total_seconds() * 2:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must exceed twice PLANNER_HORIZON")
# Warm shutdown: a stopping worker gives its ETA messages back to the broker (Celery 5.5+).
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 10.0
CELERY_WORKER_ENABLE_SOFT_SHUTDOWN_ON_IDLE = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 90, minimum=2)
CELERY_TASK_ALWAYS_EAGER = False
# The metrics collector (results/) has its own queue: a backlog of metrics calls never
# waits in front of a publish message. Every worker consumes it too (ops/devrun.py,
# docker-compose.yml: -Q celery,metrics); a big installation may give it its own worker.
CELERY_TASK_DEFAULT_QUEUE = "celery"  # Celery's own default, named for the -Q lists
RESULTS_QUEUE = env_str("RESULTS_QUEUE", "metrics")
CELERY_TASK_ROUTES = {"results.*": {"queue": RESULTS_QUEUE}}
# Due snapshots collected per run (one run a minute), and a failed call's first backoff.
RESULTS_BATCH = env_int("RESULTS_BATCH", 500, minimum=1)
RESULTS_RETRY = env_seconds("RESULTS_RETRY", 600)
# /healthz fails when the oldest due snapshot has waited longer than this.
HEALTH_RESULTS_MAX_LAG = env_seconds("HEALTH_RESULTS_MAX_LAG", 6 * 3600)
# Celery's Django fixup closes every database connection before and after each task (a new
# PostgreSQL connection per task, and a server fork: bench/README.md, "Where the time
# goes"). With DB_CONN_MAX_AGE set, it closes them only every 1000 tasks, and
# queueloop/celery.py closes the unusable or expired ones around each task instead, as
# Django does per request.
CELERY_DB_REUSE_MAX = 1000 if _conn_max_age else None
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Email ----------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Queue Loop <queueloop@localhost>")
EMAIL_URL = env_str("EMAIL_URL")
# Without EMAIL_URL: development prints mail to the console; production sends none (the
# console would put working reset links in the web's logs) and says so (ground.mail).
_CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND", _CONSOLE_EMAIL if DEBUG else "ground.mail.DisabledEmailBackend"
)
if EMAIL_BACKEND == _CONSOLE_EMAIL and not DEBUG and not EMAIL_URL:
    raise ImproperlyConfigured(
        "EMAIL_BACKEND: the console backend prints reset links into the logs; with DEBUG off "
        "set EMAIL_URL, or leave both empty to send no email"
    )
if EMAIL_URL:
    _email = urlparse(EMAIL_URL)
    if _email.scheme not in {"smtp", "smtps"} or not _email.hostname:
        raise ImproperlyConfigured("EMAIL_URL must look like smtp://user:password@host:587")
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname
    EMAIL_PORT = _email.port or (465 if _email.scheme == "smtps" else 587)
    EMAIL_HOST_USER = unquote(_email.username or "")
    EMAIL_HOST_PASSWORD = unquote(_email.password or "")
    EMAIL_USE_SSL = _email.scheme == "smtps"
    EMAIL_USE_TLS = not EMAIL_USE_SSL and parse_qs(_email.query).get("tls", ["1"])[0] == "1"

# --- X (Twitter) ----------------------------------------------------------------------
X_CLIENT_ID = env_str("X_CLIENT_ID")
X_CLIENT_SECRET = env_str("X_CLIENT_SECRET")
X_API_BASE = env_str("X_API_BASE", "https://api.x.com")
X_HTTP_TIMEOUT = env_int("X_HTTP_TIMEOUT", 20, minimum=1)
WEBHOOK_HTTP_TIMEOUT = env_int("WEBHOOK_HTTP_TIMEOUT", 15, minimum=1)
# Hosts (names or IP literals, exactly as in the URL) that webhooks may reach although they
# are on a loopback, private or link-local network. Empty: only public addresses.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", [])

# --- LinkedIn -------------------------------------------------------------------------
# A LinkedIn developer app's OAuth 2.0 client (products "Share on LinkedIn", and
# "Community Management API" for pages); its redirect URL is /connect/linkedin/callback/.
LINKEDIN_CLIENT_ID = env_str("LINKEDIN_CLIENT_ID")
LINKEDIN_CLIENT_SECRET = env_str("LINKEDIN_CLIENT_SECRET")
# The REST API (posts, images, comments, organizations) and the OAuth pages (authorize,
# token); a test's fake instead.
LINKEDIN_API_BASE = env_str("LINKEDIN_API_BASE", "https://api.linkedin.com")
LINKEDIN_AUTH_BASE = env_str("LINKEDIN_AUTH_BASE", "https://www.linkedin.com")
# The `LinkedIn-Version` header (YYYYMM) every /rest call carries. LinkedIn retires a
# version about a year after it ships: move this forward when it warns.
LINKEDIN_VERSION = env_str("LINKEDIN_VERSION", "202609")
if not re.fullmatch(r"20\d\d(0[1-9]|1[0-2])", LINKEDIN_VERSION):
    raise ImproperlyConfigured(f"LINKEDIN_VERSION={LINKEDIN_VERSION!r} is not YYYYMM (e.g. 202609)")
LINKEDIN_HTTP_TIMEOUT = env_int("LINKEDIN_HTTP_TIMEOUT", 20, minimum=1)

# --- Discord --------------------------------------------------------------------------
# The hosts a Discord channel webhook URL may name (networks/discord/address.py). Its
# address is also checked like any webhook's (WEBHOOK_ALLOWED_HOSTS above): an entry here
# does not let a URL reach a private address.
DISCORD_WEBHOOK_HOSTS = env_list(
    "DISCORD_WEBHOOK_HOSTS",
    ["discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"],
)
DISCORD_HTTP_TIMEOUT = env_int("DISCORD_HTTP_TIMEOUT", 15, minimum=1)

# --- Facebook Pages and Instagram (Meta's Graph API) ---------------------------------------
# A Meta app with Facebook Login (README, "Networks"). The Graph version is pinned: Meta
# retires each about two years after the next; move it here when it does.
META_APP_ID = env_str("META_APP_ID")
META_APP_SECRET = env_str("META_APP_SECRET")
META_GRAPH_BASE = env_str("META_GRAPH_BASE", "https://graph.facebook.com/v25.0")
META_AUTH_BASE = env_str("META_AUTH_BASE", "https://www.facebook.com/v25.0/dialog/oauth")

# --- Mastodon and Bluesky -------------------------------------------------------------
MASTODON_HTTP_TIMEOUT = env_int("MASTODON_HTTP_TIMEOUT", 20, minimum=1)
BLUESKY_HTTP_TIMEOUT = env_int("BLUESKY_HTTP_TIMEOUT", 20, minimum=1)
# The Bluesky server (PDS) that handles and app passwords sign in to, unless the user names
# their own.
BLUESKY_SERVICE = env_str("BLUESKY_SERVICE", "https://bsky.social")
# The Telegram Bot API (a local telegram-bot-api server, or a test's fake, instead).
TELEGRAM_API_BASE = env_str("TELEGRAM_API_BASE", "https://api.telegram.org")
# --- Threads (Meta) --------------------------------------------------------------------
# The Threads app's id and secret (Meta app dashboard → the Threads use case → Settings).
THREADS_APP_ID = env_str("THREADS_APP_ID")
THREADS_APP_SECRET = env_str("THREADS_APP_SECRET")
# The Graph API with its version pinned (Meta retires versions: move it here); the token
# endpoints live at the same host's root (/oauth/access_token, /access_token,
# /refresh_access_token). The authorize page is on threads.net.
THREADS_API_BASE = env_str("THREADS_API_BASE", "https://graph.threads.net/v1.0")
THREADS_AUTH_BASE = env_str("THREADS_AUTH_BASE", "https://threads.net")
THREADS_HTTP_TIMEOUT = env_int("THREADS_HTTP_TIMEOUT", 20, minimum=1)
# Mastodon instances / Bluesky servers (and X_API_BASE's or TELEGRAM_API_BASE's host) the
# operator allows although their host is on a loopback, private or link-local network (names
# or IP literals as typed in the URL). Empty: only public addresses (DESIGN invariant 6).
INSTANCE_ALLOWED_HOSTS = env_list("INSTANCE_ALLOWED_HOSTS", [])

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token header, checked against stored digests (API tokens are never stored).
        "accounts.tokens.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # drf-spectacular's, plus the Idempotency-Key header on every unsafe API call.
    "DEFAULT_SCHEMA_CLASS": "accounts.api_idempotency.IdempotentAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Per token (an authenticated user) and, for anonymous calls, per client address.
    "DEFAULT_THROTTLE_CLASSES": [
        "ground.throttles.TokenRateThrottle",
        "ground.throttles.AddressRateThrottle",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
API_THROTTLE_RATE = env_str("API_THROTTLE_RATE", "600/minute")
API_ANON_THROTTLE_RATE = env_str("API_ANON_THROTTLE_RATE", "60/minute")
SPECTACULAR_SETTINGS = {
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "queueloop.schema_hooks.add_error_responses",
        "queueloop.schema_hooks.distinct_form_bodies",
    ],
    "TITLE": "Queue Loop API",
    "DESCRIPTION": (
        "Channels and their queues, posts with their images, schedules, timeslots, the "
        "calendar, deliveries, social accounts, notices and problems of the workspaces you "
        "belong to: what the web UI does, with the same roles. "
        "Authenticate with `Authorization: Token <key>`.\n\n"
        "**Safe retries.** Every POST, PUT, PATCH and DELETE takes an optional "
        "`Idempotency-Key` header (your own id for the request, 1-255 printable ASCII "
        "characters, e.g. a UUID), with Stripe's semantics: for 24 hours per token, the same "
        "request again gets the first answer back (header `Idempotent-Replayed: true`) and "
        "does nothing again; the key with another method, path or body is a 422; while the "
        "first request still runs, a 409. Every answer of the endpoint below 500 is kept, "
        "a 400 on a field too; what is refused before it runs (401, 403, 429, a bad key) and "
        "any 5xx (which changed nothing) is not, so the key can be sent again."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs pages load their JavaScript and CSS from our static files: they work
    # offline, behind a firewall and under a strict Content-Security-Policy.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "accounts.models.SocialAccount.Status",
        "PostStatusEnum": "posts.models.Post.Status",
        "NewPostStatusEnum": ["ready", "draft"],
        "TimeslotStatusEnum": "scheduling.models.Timeslot.Status",
        "TimeslotReasonEnum": "scheduling.reasons.Reason",
        "DeliveryStatusEnum": "publishing.models.Delivery.Status",
    },
}

# LOG_FORMAT=json: one JSON object per line (for a log collector), text otherwise. Both
# redact anything that looks like a secret (ground/logformat.py); the publish steps
# are logged by ground/events.py with their ids and lateness.
LOG_FORMAT = env_str("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be json or text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"()": "ground.logformat.TextFormatter"},
        "json": {"()": "ground.logformat.JsonFormatter"},
    },
    "filters": {"no_client_address": {"()": "ground.logformat.NoClientAddress"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["no_client_address"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
# Celery replaces the root logger's handlers in its worker and beat with its own text
# format unless told not to: with JSON logs, every process must write JSON.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

"""Splice settings. Everything that varies between deployments comes from the environment
(config/env.py); README.md lists each variable and its default."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

from config.env import env_bool, env_float, env_int, env_list, env_str, mandatory_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SPLICE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("SPLICE_DEBUG", False)

SECRET_KEY = mandatory_secret(
    "SPLICE_SECRET_KEY",
    debug=DEBUG,
    debug_default="splice-development-only-secret-key-not-for-production",
    why="It signs sessions and password-reset links.",
)
# Credential master keys, "id:base64key,id:base64key" (newest first), read by connections.vault.
SPLICE_CREDENTIAL_KEYS = mandatory_secret(
    "SPLICE_CREDENTIAL_KEYS",
    debug=DEBUG,
    debug_default="dev:ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMtISE=",
    why="It holds the master keys that seal every credential Splice stores.",
)

ALLOWED_HOSTS = env_list("SPLICE_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("SPLICE_CSRF_TRUSTED_ORIGINS")
# Public address of this deployment: OAuth redirect URIs and links in emails are built from it,
# never from the request.
SPLICE_BASE_URL = env_str("SPLICE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "guardian",
    "django_htmx",
    "django_celery_beat",
    "accounts",
    "connections",
    "recipes",
    "demo",  # above the apps: Demo CRM and the demo loader (load_demo)
    "ninja",  # serves the API docs' own scripts (no CDN)
    "api",  # the REST API at /api/v1/, above the apps it serves
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",  # SECURE_CSP, under "Security" below
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RefuseNulCharactersMiddleware",  # a 400, not a database error, for %00 in parameters
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Custom connectors saved by another process join this one's catalog (one cheap query).
    "connections.custom.CustomConnectorsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Splice's own 404 page in debug too for objects a person cannot access (the debug 404 lists every URL)
    "accounts.middleware.SpliceNotFoundMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.context_processors.navigation",
                "connections.context_processors.health",
            ],
        },
    },
]

# --- Database: PostgreSQL when DATABASE_URL is set, else a SQLite file under var/ ---
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "splice.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            # A file, not shared memory, so the test suite's threads and worker processes share it;
            # one per test run, so runs side by side don't share it.
            "TEST": {"NAME": VAR_DIR / f"test-{os.getpid()}.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, cache and lock store; without it an embedded transport + local cache ---
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # A message not acknowledged within this many seconds is delivered again: every countdown (a job step's retry)
    # stays well below it (SPLICE_JOB_RETRY_MAX_DELAY), so a waiting retry is never run twice.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "results", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # broadcast messages (e.g. a worker's ping)
        "store_processed": False,
        # Look for new messages every 0.1 s, not every second: a task (and each task it starts) begins sooner.
        "polling_interval": 0.1,
    }
    CELERY_RESULT_BACKEND = f"file://{_broker_dir / 'results'}"

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env_int("SPLICE_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("SPLICE_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
# Celery's Django fix-up closes the database connections around every task unless this is set; reconnecting
# to PostgreSQL then costs more than a short task itself. Reuse them, and recycle them every 2 × this many tasks.
CELERY_DB_REUSE_MAX = 500
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# --- Accounts: allauth sign-in with email, guardian object permissions on projects ---
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no database row for anonymous users; they see nothing
GUARDIAN_MONKEY_PATCH_USER = False

ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("SPLICE_EMAIL_VERIFICATION", "optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# Role given to new sign-ups (with mandatory verification: once they verify their email address);
# SPLICE_SIGNUP_OPEN=0 makes the deployment invite-only.
SPLICE_DEFAULT_ROLE = env_str("SPLICE_DEFAULT_ROLE", "Builder")
SPLICE_SIGNUP_OPEN = env_bool("SPLICE_SIGNUP_OPEN", True)
# After this many wrong passwords for one account from one network (accounts.adapter adds the client's address to
# allauth's key), that network waits this many minutes for that account; its owner elsewhere signs in as usual.
SPLICE_LOGIN_ATTEMPTS = env_int("SPLICE_LOGIN_ATTEMPTS", 5)
SPLICE_LOGIN_LOCKOUT_MINUTES = env_int("SPLICE_LOGIN_LOCKOUT_MINUTES", 5)
ACCOUNT_RATE_LIMITS = {"login_failed": f"10/m/ip,{SPLICE_LOGIN_ATTEMPTS}/{SPLICE_LOGIN_LOCKOUT_MINUTES}m/key"}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Email: console backend unless SMTP is configured ---
EMAIL_BACKEND = env_str("SPLICE_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("SPLICE_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("SPLICE_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("SPLICE_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("SPLICE_EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("SPLICE_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("SPLICE_DEFAULT_FROM_EMAIL", "Splice <splice@localhost>")
# Where the file-based backend (django.core.mail.backends.filebased.EmailBackend) writes messages.
EMAIL_FILE_PATH = env_str("SPLICE_EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security: production-safe unless DEBUG ---
SESSION_COOKIE_SECURE = env_bool("SPLICE_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("SPLICE_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Plain http is redirected to https, and https answers tell browsers to use nothing else (HSTS, one year).
SECURE_SSL_REDIRECT = env_bool("SPLICE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SPLICE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 60 * 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SPLICE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SPLICE_HSTS_PRELOAD", False)
# Only the deployment's own scripts, styles and images: no inline code, no eval (htmx is told not to use it,
# templates/base.html), nothing framed, forms posted only here (the Authorize page adds its connection's
# authorization server, where its button's POST is redirected: connections.views).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Static files through whitenoise ---
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from it once collectstatic ran
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("SPLICE_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Outgoing HTTP: every request Splice makes has this timeout (seconds) ---
SPLICE_HTTP_TIMEOUT = env_float("SPLICE_HTTP_TIMEOUT", 15.0)
# How long one worker may hold a connection's token refresh before another may take over.
SPLICE_REFRESH_LEASE_SECONDS = float(env_str("SPLICE_REFRESH_LEASE_SECONDS", "30"))
# Allow http:// app URLs on 127.0.0.1/localhost (the test suite's loopback servers; local development).
SPLICE_ALLOW_INSECURE_LOOPBACK = env_bool("SPLICE_ALLOW_INSECURE_LOOPBACK", DEBUG)
if SPLICE_ALLOW_INSECURE_LOOPBACK:
    # oauthlib refuses http:// outright; the connector catalog still allows it only for loopback hosts.
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
# The egress policy (connections.egress): host names (`*.` wildcards) and CIDR ranges Splice may connect to
# although they are internal (loopback, private, link-local... are refused otherwise), and more to refuse.
SPLICE_EGRESS_ALLOW = env_list("SPLICE_EGRESS_ALLOW")
SPLICE_EGRESS_DENY = env_list("SPLICE_EGRESS_DENY")
# Transient failures (timeouts, 5xx, 429) mark a connection "unreachable" only after this long without success.
SPLICE_UNREACHABLE_AFTER = env_int("SPLICE_UNREACHABLE_AFTER", 30 * 60)

# --- Connection health (connections.health): the periodic sweep, its politeness, notifications ---
# Seconds between sweeps; the migration that creates the beat schedule reads it (later changes: Django admin).
SPLICE_HEALTH_INTERVAL = env_int("SPLICE_HEALTH_INTERVAL", 15 * 60)
# How many connections the sweep reads and enqueues at a time.
SPLICE_HEALTH_BATCH_SIZE = env_int("SPLICE_HEALTH_BATCH_SIZE", 500)
# How many connections one check task checks, one after another (a task costs more than a check).
SPLICE_HEALTH_CHECKS_PER_TASK = env_int("SPLICE_HEALTH_CHECKS_PER_TASK", 50)
# At most this many checks talk to one app host at once, across all workers.
SPLICE_HEALTH_PER_HOST_CONCURRENCY = env_int("SPLICE_HEALTH_PER_HOST_CONCURRENCY", 4)
# Checks start at a random moment within this many seconds of the sweep, not all at once.
SPLICE_HEALTH_JITTER = env_int("SPLICE_HEALTH_JITTER", 30)
# The Celery queue of the health tasks (a worker must consume it: `celery worker -Q celery,<queue>`).
SPLICE_HEALTH_QUEUE = env_str("SPLICE_HEALTH_QUEUE", "celery")
# Notification emails (accounts.tasks) go there too: most notifications come from health checks.
# The Celery queue of recipe jobs and triggers (`celery worker -Q celery,<queue>` when not "celery").
SPLICE_JOBS_QUEUE = env_str("SPLICE_JOBS_QUEUE", "celery")
CELERY_TASK_ROUTES = {"splice.health.*": {"queue": SPLICE_HEALTH_QUEUE},
                      "splice.notifications.*": {"queue": SPLICE_HEALTH_QUEUE},
                      "splice.jobs.*": {"queue": SPLICE_JOBS_QUEUE},
                      "splice.triggers.*": {"queue": SPLICE_JOBS_QUEUE}}
# One check: the test request, a token refresh and the retry after it, plus waiting for another refresh.
SPLICE_HEALTH_CHECK_TIME_LIMIT = int(3 * SPLICE_HTTP_TIMEOUT + SPLICE_REFRESH_LEASE_SECONDS + 30)
# Check history older than this many days is pruned daily.
SPLICE_CHECK_HISTORY_DAYS = env_int("SPLICE_CHECK_HISTORY_DAYS", 30)
# Warn this many days before a refresh token or an OAuth client secret expires.
SPLICE_EXPIRY_WARNING_DAYS = env_int("SPLICE_EXPIRY_WARNING_DAYS", 7)
# At most one "broke" message per connection and reason within this many seconds.
SPLICE_NOTIFY_EVERY = env_int("SPLICE_NOTIFY_EVERY", 60 * 60)
# An authorization started in the browser must come back within this many seconds.
SPLICE_OAUTH_FLOW_TTL = env_int("SPLICE_OAUTH_FLOW_TTL", 600)
# Where custom connector specs (YAML) are loaded from at start, besides the built-in catalog.
SPLICE_CONNECTOR_DIRS = env_list("SPLICE_CONNECTOR_DIRS", sep=":")
# Demo CRM (the demo package): a small app served under /demo-crm/ and its connector, to try Splice offline.
SPLICE_DEMO_APP = env_bool("SPLICE_DEMO_APP", DEBUG)
if SPLICE_DEMO_APP:
    SPLICE_CONNECTOR_DIRS = [*SPLICE_CONNECTOR_DIRS, str(BASE_DIR / "demo" / "connectors")]

# --- Logging: to stderr; secrets never reach it (connections.vault.Secret masks itself) ---
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"capabilities": {"()": "config.logs.RedactCapabilityPaths"},
                "forbidden": {"()": "accounts.log_filters.ForbiddenOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["capabilities"]}},
    "root": {"handlers": ["console"], "level": env_str("SPLICE_LOG_LEVEL", "INFO")},
    "loggers": {
        # Both log request paths, where a webhook's or a connect link's token travels.
        # A 403 is an answer, not a failure: one line with its reason, no traceback.
        "django.request": {"filters": ["forbidden", "capabilities"]},
        "django.server": {"filters": ["capabilities"], "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # Both log whole token requests and responses at DEBUG: never let them below WARNING.
        "oauthlib": {"level": "WARNING"},
        "requests_oauthlib": {"level": "WARNING"},
        # Logs each request line at DEBUG, query string included (where an API key may travel).
        "urllib3": {"level": "WARNING"},
    },
}

# --- Recipes at run time (recipes.runtime) ---
# A step's first retry waits about this many seconds; each next one twice as long (with jitter), at most the max.
SPLICE_JOB_RETRY_BASE_DELAY = env_float("SPLICE_JOB_RETRY_BASE_DELAY", 2.0)
SPLICE_JOB_RETRY_MAX_DELAY = env_float("SPLICE_JOB_RETRY_MAX_DELAY", 300.0)
# A job pending or running this long without word from its worker is handed to another (a lost message, a killed
# worker); its completed steps are not run again.
SPLICE_JOB_RECOVER_AFTER = env_int("SPLICE_JOB_RECOVER_AFTER", 120)
# Jobs older than this many days are pruned daily.
SPLICE_JOB_RETENTION_DAYS = env_int("SPLICE_JOB_RETENTION_DAYS", 30)
# A trigger that fails authentication this many times in a row stops its recipe (and its owner is told why).
SPLICE_TRIGGER_AUTH_FAILURE_LIMIT = env_int("SPLICE_TRIGGER_AUTH_FAILURE_LIMIT", 60)
# Webhook bodies larger than this many bytes are refused (413).
SPLICE_WEBHOOK_MAX_BYTES = env_int("SPLICE_WEBHOOK_MAX_BYTES", 1024 * 1024)
# A synchronous call of a callable recipe answers within this many seconds, else 202 with the job to poll.
SPLICE_CALL_TIMEOUT = env_float("SPLICE_CALL_TIMEOUT", 30.0)

# A connection the wizard made waits this many seconds for its first authorization (hidden from lists meanwhile),
# then it is removed.
SPLICE_WIZARD_PENDING_SECONDS = env_int("SPLICE_WIZARD_PENDING_SECONDS", 3600)

# --- Runtime user connections ---
# A "connect your account" link for one person, one parent connection and one recipe is valid this many hours.
SPLICE_RUNTIME_CONNECT_LINK_HOURS = env_int("SPLICE_RUNTIME_CONNECT_LINK_HOURS", 24)
# Workbot: Slack's signing secret for the chat-command endpoint (empty: the endpoint answers 404).
SPLICE_SLACK_SIGNING_SECRET = env_str("SPLICE_SLACK_SIGNING_SECRET", "")
# Workbot: a chat-account link code (shown on /workbot/link/, posted with a command) is valid this many minutes.
SPLICE_WORKBOT_LINK_CODE_MINUTES = env_int("SPLICE_WORKBOT_LINK_CODE_MINUTES", 10)

# --- REST API (/api/v1/) ---
# Requests per token per minute; past it the API answers 429 with Retry-After (0: no limit).
SPLICE_API_RATE_LIMIT = env_int("SPLICE_API_RATE_LIMIT", 600)
# A retried create with the same Idempotency-Key (per token) gets the first answer again for this many hours.
SPLICE_API_IDEMPOTENCY_HOURS = env_int("SPLICE_API_IDEMPOTENCY_HOURS", 24)

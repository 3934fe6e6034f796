"""Settings of the test authorization server: its own SQLite DB, never Splice's settings.

Configured by environment variables (the pytest fixture sets them):

* ``OAUTH2_SERVER_DB_DIR`` (required): directory for the SQLite database.
* ``OAUTH2_SERVER_ACCESS_TOKEN_SECONDS``: access-token lifetime, default 3600.
* client ids, secrets and redirect URIs: read by ``tests.servers.oauth2.seed``.
"""

import os
import secrets
from pathlib import Path

from tests.servers.oauth2 import state

BASE_DIR = Path(__file__).resolve().parent
DB_DIR = Path(os.environ["OAUTH2_SERVER_DB_DIR"])

SECRET_KEY = os.environ.get("OAUTH2_SERVER_SECRET_KEY") or secrets.token_urlsafe(32)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.servers.oauth2.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
]

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

# Signed-cookie sessions keep logins off the database, leaving SQLite's single writer
# for grants and tokens.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_NAME = "oauth2_test_sessionid"
CSRF_COOKIE_NAME = "oauth2_test_csrftoken"
LOGIN_URL = "/accounts/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]

# WAL lets readers run beside the writer; IMMEDIATE transactions take the write lock up
# front and the timeout makes concurrent writers wait instead of failing "database is locked".
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DB_DIR / "oauth2-server.sqlite3",
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        },
    }
}

# A fresh database per start: creating tables straight from the models (syncdb) takes
# 0.1 s where replaying every migration takes over 2 s.
MIGRATION_MODULES = {"auth": None, "contenttypes": None, "oauth2_provider": None}

# Client secrets are still hashed (DOT's default), just with a fast hasher so a burst of
# token requests is not bound by PBKDF2.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

OAUTH2_PROVIDER = {
    "SCOPES": {"read": "Read your profile and items", "write": "Create items"},
    "DEFAULT_SCOPES": ["read"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": state.access_token_seconds(None),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 120,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "REQUEST_APPROVAL_PROMPT": "force",
    # Read per token so /_control/token-lifetime can change it without a restart.
    "EXTRA_SERVER_KWARGS": {"token_expires_in": state.access_token_seconds},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "oauth2_provider": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}

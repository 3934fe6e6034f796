"""Fixtures shared by the whole suite: people with each built-in role, projects, a real Celery worker.

Django is imported inside the fixtures, so the loopback servers' own tests can run without it."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest

pytest_plugins = ["tests.servers.fixtures", "tests.permissions"]

ROOT = Path(__file__).resolve().parent.parent
_emails = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_content_type_cache(request):
    """A transactional test's flush recreates content types under new ids; the process-wide caches
    (Django's and guardian's) must not keep the old ones for the next test."""
    yield
    if "django_db_setup" in request.fixturenames:
        from django.contrib.contenttypes.models import ContentType
        from guardian.shortcuts import clear_ct_cache

        ContentType.objects.clear_cache()
        clear_ct_cache()


@pytest.fixture
def builtin_roles(db):
    """The built-in roles and their privileges, as the migrations made them: a transactional test before this
    one flushed every table, the roles included."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    from accounts.roles import BUILTIN_ROLES, sync_builtin_roles

    if Group.objects.filter(name__in=BUILTIN_ROLES).count() < len(BUILTIN_ROLES):
        sync_builtin_roles(apps)


@pytest.fixture
def make_user(builtin_roles):
    """make_user(role="Builder") -> a user with that role and their default project."""

    from django.contrib.auth.models import Group

    from accounts.models import User

    def make(role: str | None = "Builder", *, email: str | None = None, password: str = "pw-Splice-123!",
             **extra) -> User:
        user = User.objects.create_user(email=email or f"user{next(_emails)}@example.com", password=password,
                                        **extra)
        if role:
            user.groups.add(Group.objects.get(name=role))
        user.raw_password = password
        return user

    return make


@pytest.fixture
def builder(make_user):
    return make_user("Builder", email="builder@example.com")


@pytest.fixture
def viewer(make_user):
    return make_user("Viewer", email="viewer@example.com")


@pytest.fixture
def operator(make_user):
    return make_user("Operator", email="operator@example.com")


@pytest.fixture
def admin_user(make_user):
    return make_user("Admin", email="admin@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def project(builder):
    from accounts import services

    return services.project_create(name="Sales operations", acting_user=builder)


@pytest.fixture
def client_for(client):
    """client_for(user) -> the test client signed in as that user."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def test_database_url() -> str:
    """A DATABASE_URL for the test database this run created, so processes the tests start share it."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        # The same busy timeout and IMMEDIATE transactions as this process: concurrent writers wait, never fail.
        options = urlencode({k: v for k, v in db["OPTIONS"].items() if k in ("timeout", "transaction_mode")})
        return f"sqlite:///{db['NAME']}" + (f"?{options}" if options else "")
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a process the tests start (worker, server): this run's settings, test database
    and services."""
    env = {**os.environ, "DATABASE_URL": test_database_url(), **extra}
    env.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    env["PYTHONPATH"] = str(ROOT)
    return env


@contextmanager
def celery_worker(queue: str, *, pool: str = "solo", concurrency: int = 1, **env: str):
    """Run a real Celery worker process consuming `queue`, with extra environment `env` (its settings);
    stopped by its pid on exit. Its log is var/<queue>.log. It imports tests.worker_hooks, which keeps it
    right across the tests' table flushes."""
    log = open(ROOT / "var" / f"{queue}.log", "w+")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool", pool,
         "--concurrency", str(concurrency), "--include", "tests.worker_hooks", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=subprocess_env(**env), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class TaskEvents:
    """Word from the Celery workers the tests start (tests.worker_hooks sends a datagram here as each task
    ends), so a test waits for what a task does in another process without polling for it."""

    def __init__(self, folder: Path) -> None:
        self.path = str(folder / "tasks.sock")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(self.path)

    def wait_for(self, condition, what: str, deadline: float = 60):
        """`condition()`'s value once it is truthy, checked again each time a task ends."""
        end = time.monotonic() + deadline
        while not (value := condition()):
            remaining = end - time.monotonic()
            assert remaining > 0, f"timed out waiting for {what}"
            self._socket.settimeout(remaining)
            try:
                self._socket.recv(64)
            except TimeoutError:
                pass  # checked once more, then the assertion above says what never happened
        return value

    def close(self) -> None:
        self._socket.close()


@pytest.fixture(scope="session")
def celery_worker_queue():
    """A real Celery worker in its own process, consuming a queue private to this test session.

    Uses the configured broker: Redis when REDIS_URL is set (CI), the embedded transport otherwise.
    Yields the queue name; the worker is stopped by its pid at the end.
    """
    queue = f"splice-test-{uuid.uuid4().hex[:8]}"
    with celery_worker(queue):
        yield queue

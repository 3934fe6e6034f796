"""Fixtures shared by the whole suite: people with each built-in role, projects, a real Celery worker.

Django is imported inside the fixtures, so the loopback servers' own tests can run without it."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest_plugins = ["tests.servers.fixtures"]

ROOT = Path(__file__).resolve().parent.parent
_emails = itertools.count(1)


@pytest.fixture
def make_user(db):
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
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a process the tests start (worker, server): this run's settings, test database
    and services."""
    env = {**os.environ, "DATABASE_URL": test_database_url(), **extra}
    env.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def celery_worker_queue():
    """A real Celery worker in its own process, consuming a queue private to this test session.

    Uses the configured broker: Redis when REDIS_URL is set (CI), the embedded transport otherwise.
    Yields the queue name; the worker is stopped by its pid at the end.
    """
    queue = f"splice-test-{uuid.uuid4().hex[:8]}"
    log = open(ROOT / "var" / f"{queue}.log", "w+")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool", "solo",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield queue
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

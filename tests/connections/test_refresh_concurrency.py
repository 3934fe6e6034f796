"""Single-flight, crash-safe token refresh: providers rotate refresh tokens, so exactly one refresh may
happen however many callers find the token expired at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection as db_connection

from connections.client import connection_client
from connections.credentials import open_secret
from connections.models import Connection
from connections.problems import ConnectionProblem, Kind
from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def _call_me(pk: int) -> int:
    try:
        return connection_client(Connection.objects.get(pk=pk)).request("GET", "/api/me").status_code
    finally:
        db_connection.close()


def test_twenty_concurrent_callers_cause_exactly_one_refresh(oauth2_connection, authorize_oauth2, oauth2_server):
    connection, _ = authorize_oauth2(oauth2_connection())
    oauth2_server.reset()
    oauth2_server.expire(user="ada@example.com")
    oauth2_server.set_token_delay(300)  # the refresh is slow enough for every caller to pile up behind it

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(_call_me, [connection.pk] * 20))

    assert statuses == [200] * 20
    assert oauth2_server.token_requests("refresh_token") == 1
    connection.refresh_from_db()
    assert connection.token_version == 2
    assert connection.refresh_lease_owner == ""
    # The stored refresh token is the newest: the server accepts it (it rejects rotated-out ones).
    oauth2_server.set_token_delay(0)
    oauth2_server.expire(user="ada@example.com")
    assert _call_me(connection.pk) == 200
    assert oauth2_server.stats()["token_responses"].get("refresh_token 400", 0) == 0


def test_callers_waiting_on_a_refused_refresh_fail_without_asking_again(oauth2_connection, authorize_oauth2,
                                                                       oauth2_server):
    connection, _ = authorize_oauth2(oauth2_connection())
    oauth2_server.reset()
    oauth2_server.revoke(user="ada@example.com")
    oauth2_server.expire(user="ada@example.com")
    oauth2_server.set_token_delay(300)  # every caller piles up behind the one refresh

    def call(pk: int) -> str:
        try:
            _call_me(pk)
        except ConnectionProblem as problem:
            return problem.verdict.kind
        return "ok"

    with ThreadPoolExecutor(max_workers=10) as pool:
        kinds = list(pool.map(call, [connection.pk] * 10))

    assert kinds == [Kind.CREDENTIALS_INVALID] * 10
    assert oauth2_server.token_requests("refresh_token") == 1  # not one per caller
    connection.refresh_from_db()
    assert connection.refresh_lease_owner == ""


_KILLED_WORKER = """
import django, sys
django.setup()
from connections.client import connection_client
from connections.models import Connection
from connections.problems import ConnectionProblem, Kind
connection_client(Connection.objects.get(pk=int(sys.argv[1]))).request("GET", "/api/me")
"""


def test_a_worker_killed_mid_refresh_does_not_leave_the_connection_stuck(
        oauth2_connection, authorize_oauth2, oauth2_server, api_server, settings):
    settings.SPLICE_REFRESH_LEASE_SECONDS = 2
    connection, _ = authorize_oauth2(oauth2_connection())
    real_settings = dict(connection.settings)
    # The worker's token endpoint hangs: it claims the lease, sends the refresh, and dies waiting.
    api_server.set_fault("hang", hang_seconds=30)
    Connection.objects.filter(pk=connection.pk).update(
        settings={**real_settings, "token_url": api_server.url("/api/token")},
        access_token_expires_at="2000-01-01T00:00:00Z",
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WORKER, str(connection.pk)], cwd=ROOT,
        env=subprocess_env(SPLICE_REFRESH_LEASE_SECONDS="2"),
    )
    try:
        api_server.wait_for_requests("/api/token")  # it claimed the lease and is inside the HTTP call
        assert worker.poll() is None, "the worker died before its refresh reached the app"
        assert Connection.objects.filter(pk=connection.pk).exclude(refresh_lease_owner="").exists()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    api_server.clear_fault()
    Connection.objects.filter(pk=connection.pk).update(settings=real_settings)
    oauth2_server.reset()

    started = time.monotonic()
    response = connection_client(Connection.objects.get(pk=connection.pk)).request("GET", "/api/me")

    assert response.status_code == 200
    assert oauth2_server.token_requests("refresh_token") == 1
    assert time.monotonic() - started < 10  # waited for the dead worker's lease to lapse, not forever
    connection.refresh_from_db()
    assert connection.refresh_lease_owner == ""
    assert open_secret(connection, "access_token") is not None

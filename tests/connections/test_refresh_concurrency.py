"""Single-flight, crash-safe token refresh: providers rotate refresh tokens, so exactly one refresh may
happen however many callers find the token expired at once."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections.catalog import origin_of
from connections.client import connection_client
from connections.credentials import open_secret
from connections.models import Connection, OAuthProfile
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
from connections.catalog import origin_of
from connections.client import connection_client
from connections.models import Connection, OAuthProfile
from connections.problems import ConnectionProblem, Kind
connection_client(Connection.objects.get(pk=int(sys.argv[1]))).request("GET", "/api/me")
"""


def test_a_worker_killed_mid_refresh_does_not_leave_the_connection_stuck(
        oauth2_connection, authorize_oauth2, oauth2_server, api_server, settings):
    settings.SPLICE_REFRESH_LEASE_SECONDS = 2
    connection, _ = authorize_oauth2(oauth2_connection())
    real_settings = dict(connection.settings)
    # The worker's token endpoint hangs: it claims the lease, sends the refresh, and dies waiting. (Authorized
    # and registered there, as if it had been the app's token endpoint all along.)
    api_server.set_fault("hang", hang_seconds=30)
    hanging = api_server.url("/api/token")
    Connection.objects.filter(pk=connection.pk).update(
        settings={**real_settings, "token_url": hanging}, access_token_expires_at="2000-01-01T00:00:00Z",
        authorized_origins=[*connection.authorized_origins, origin_of(hanging)],
    )
    OAuthProfile.objects.filter(is_default=True, connector_key="loopback").update(
        endpoints=[*oauth2_server.endpoints, hanging])
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


def _expired_connections(oauth2_connection, authorize_oauth2, count: int) -> list[Connection]:
    connections = [authorize_oauth2(oauth2_connection(name=f"Loopback {n}"))[0] for n in range(count)]
    Connection.objects.filter(pk__in=[c.pk for c in connections]).update(
        access_token_expires_at="2000-01-01T00:00:00Z")
    return connections


def _lease_claims(queries) -> int:
    """Statements that claim refresh leases (set an owner, not clear it)."""
    return sum(1 for query in queries if re.search(r"""SET "refresh_lease_owner" = '[0-9a-f]{32}'""", query["sql"]))


@pytest.mark.parametrize(("lease_seconds", "claims"), [(30, 1), (10, 4)])
def test_a_health_check_claims_its_batchs_refresh_leases_together(
        oauth2_connection, authorize_oauth2, oauth2_server, settings, lease_seconds, claims):
    """One statement claims the leases of every expired token in the batch; a lease with too little time left
    for the token request (shorter than the HTTP timeout) is extended first. Each token is refreshed once and
    no lease stays held."""
    from connections.health import connections_health_check

    settings.SPLICE_REFRESH_LEASE_SECONDS = lease_seconds
    settings.SPLICE_HTTP_TIMEOUT = 15
    connections = _expired_connections(oauth2_connection, authorize_oauth2, 3)
    oauth2_server.reset()

    with CaptureQueriesContext(db_connection) as queries:
        results = connections_health_check(connection_ids=[c.pk for c in connections])

    assert [results[c.pk].ok for c in connections] == [True, True, True]
    assert oauth2_server.token_requests("refresh_token") == 3
    assert _lease_claims(queries.captured_queries) == claims
    rows = Connection.objects.filter(pk__in=[c.pk for c in connections])
    assert {(row.token_version, row.refresh_lease_owner) for row in rows} == {(2, "")}


def test_a_health_check_waits_for_a_refresh_lease_someone_else_holds(
        oauth2_connection, authorize_oauth2, oauth2_server):
    """The batch's claim leaves a lease another caller holds alone: that connection is refreshed only once the
    other lease lapses, never alongside it."""
    from connections.health import connections_health_check

    first, second = _expired_connections(oauth2_connection, authorize_oauth2, 2)
    held_until = timezone.now() + timedelta(milliseconds=500)
    Connection.objects.filter(pk=second.pk).update(refresh_lease_owner="another-worker",
                                                   refresh_lease_expires_at=held_until)
    oauth2_server.reset()

    results = connections_health_check(connection_ids=[first.pk, second.pk])

    assert results[first.pk].ok and results[second.pk].ok
    assert oauth2_server.token_requests("refresh_token") == 2
    second.refresh_from_db()
    assert second.refresh_lease_owner == "" and second.token_version == 2
    assert second.last_checked_at >= held_until


def test_a_deferred_health_check_lets_go_of_the_refresh_leases_it_claimed(
        oauth2_connection, authorize_oauth2, oauth2_server, settings):
    from connections.health import connections_health_check
    from connections.models import HealthHostSlot

    settings.SPLICE_HEALTH_PER_HOST_CONCURRENCY = 1
    connections = _expired_connections(oauth2_connection, authorize_oauth2, 2)
    host = urlsplit(oauth2_server.base_url).netloc
    HealthHostSlot.objects.create(host=host, slot=0, owner="another-check",
                                  expires_at=timezone.now() + timedelta(minutes=5))
    oauth2_server.reset()

    results = connections_health_check(connection_ids=[c.pk for c in connections])

    assert {result.state for result in results.values()} == {"deferred"}
    assert oauth2_server.token_requests() == 0
    assert not Connection.objects.filter(pk__in=[c.pk for c in connections]).exclude(refresh_lease_owner="").exists()


def test_a_token_refreshed_meanwhile_is_not_refreshed_again_by_a_batch(
        oauth2_connection, authorize_oauth2, oauth2_server):
    """A batch read its rows, then another caller refreshed one of the tokens (rotating the refresh token):
    the batch's claim takes no lease at the old token version, and its client uses the new token instead of
    refreshing with the rotated-out one (which the app would refuse, wrongly breaking the connection)."""
    from connections.tokens import refresh_leases_claim

    first, second = _expired_connections(oauth2_connection, authorize_oauth2, 2)
    batch = list(Connection.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk"))
    oauth2_server.reset()
    assert _call_me(second.pk) == 200  # someone else refreshes the second token

    refresh_leases_claim(batch, "a-health-check")

    assert {row.refresh_lease_owner for row in batch} == {""}
    assert not Connection.objects.exclude(refresh_lease_owner="").exists()
    responses = [connection_client(row, fresh=True, refresh_lease="a-health-check").request("GET", "/api/me")
                 for row in batch]
    assert [response.status_code for response in responses] == [200, 200]
    assert oauth2_server.token_requests("refresh_token") == 2  # the other caller's, and the first one's
    assert oauth2_server.stats()["token_responses"].get("refresh_token 400", 0) == 0


_WORKER_USES = """
import django, sys
from concurrent.futures import ThreadPoolExecutor
django.setup()
from django.db import connection as db
from connections.client import connection_client
from connections.models import Connection

def use(pk):
    try:
        return connection_client(Connection.objects.get(pk=pk)).request("GET", "/api/me").status_code
    finally:
        db.close()

with ThreadPoolExecutor(max_workers=int(sys.argv[2])) as pool:
    print(" ".join(str(status) for status in pool.map(use, [int(sys.argv[1])] * int(sys.argv[2]))))
"""


def test_tokens_living_five_seconds_are_refreshed_once_for_fifty_concurrent_uses(
        oauth2_connection, authorize_oauth2, oauth2_server, make_user):
    """A token that lives 5 s is due a quarter of its life before it expires, not a fixed minute before (which
    would make it due at every use), and those who waited for a refresh use the token it produced. Uses come
    from web requests (Test now), this process and another process at once."""
    from django.test import Client

    from accounts.models import ProjectAccess
    from accounts.services import project_share

    oauth2_server.set_access_token_lifetime(5)
    connection, outcome = authorize_oauth2(oauth2_connection())
    assert outcome.ok
    oauth2_server.reset()
    assert _call_me(connection.pk) == 200  # right after authorization: nothing to refresh
    assert oauth2_server.token_requests("refresh_token") == 0

    oauth2_server.set_access_token_lifetime(5)
    oauth2_server.expire(user="ada@example.com")
    Connection.objects.filter(pk=connection.pk).update(access_token_expires_at=timezone.now())
    oauth2_server.set_token_delay(300)  # every use piles up behind the one refresh
    people = [make_user("Operator") for _ in range(2)]
    for person in people:
        project_share(project=connection.project, acting_user=connection.project.created_by,
                      level=ProjectAccess.USE, user=person)

    def test_now(n: int) -> int:
        try:
            client = Client()
            client.force_login(people[n % 2])
            return client.post(f"/connections/{connection.pk}/test/").status_code
        finally:
            db_connection.close()

    worker = subprocess.Popen([sys.executable, "-c", _WORKER_USES, str(connection.pk), "15"], cwd=ROOT,
                              env=subprocess_env(), stdout=subprocess.PIPE, text=True)
    with ThreadPoolExecutor(max_workers=35) as pool:
        web = list(pool.map(test_now, range(15)))
        here = list(pool.map(_call_me, [connection.pk] * 20))
    elsewhere = worker.communicate(timeout=60)[0].split()

    assert web == [302] * 15 and here == [200] * 20 and elsewhere == ["200"] * 15
    assert oauth2_server.token_requests("refresh_token") == 1
    connection.refresh_from_db()
    assert connection.status == "connected" and connection.refresh_lease_owner == ""

"""Basic and API-key connections against the fault-injection API server on 127.0.0.1: where each credential
goes, how every kind of failure is classified, and that new credentials replace the old only once they work."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from connections import services
from connections.catalog import load_specs
from connections.client import connection_client
from connections.credentials import open_secret
from connections.models import AuditEvent, Connection
from connections.services import connection_set_credentials, connection_test
from tests.servers.fixtures import APIServer

pytestmark = pytest.mark.django_db

Status, Reason = Connection.Status, Connection.ErrorReason

HEADER_KEY, HEADER_SECRET = "hdr-key-5d1f0c", "hdr-secret-9a77e2"
# The seed's recommended fixes ("Connection errors"), as the person reads them.
VERIFY_CREDENTIALS = "Verify that the connection's credentials are correct"
VERIFY_PERMISSIONS = "Verify the authorizing user's permissions"
REAUTHORIZE = "Re-authorize the connection"


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def connected(credential_connection) -> Connection:
    """A Basic-auth connection that passed its test."""
    connection, outcome = credential_connection("basic")
    assert outcome.ok, outcome.message
    return connection


def reloaded(connection: Connection) -> Connection:
    return Connection.objects.get(pk=connection.pk)


# --- where the credentials go ------------------------------------------------------------------


@pytest.mark.parametrize(("auth_method", "placement"), [
    ("basic", "basic"), ("bearer", "bearer"), ("query_key", "query"), ("header_key", "header"),
])
def test_each_placement_sends_the_credentials_where_the_app_expects_them(
        auth_method, placement, credential_connection, api_server):
    credentials = {
        "basic": {"username": APIServer.username, "password": APIServer.password},
        "bearer": {"api_key": APIServer.api_key},
        "query_key": {"api_key": APIServer.api_key},
        "header_key": {"api_key": HEADER_KEY, "api_secret": HEADER_SECRET},
    }[auth_method]
    if auth_method == "header_key":
        api_server.set_credentials(api_key=HEADER_KEY, api_secret=HEADER_SECRET)

    connection, outcome = credential_connection(auth_method, credentials)

    assert outcome.ok, outcome.message
    assert outcome.message == "Connected as ada@example.com"
    assert connection.status == Status.CONNECTED
    assert connection.identity == "ada@example.com"
    test_request = api_server.last_request()
    assert (test_request["path"], test_request["auth"], test_request["status"]) == ("/api/me", placement, 200)

    response = connection_client(connection).request("GET", "/api/items")

    assert response.status_code == 200
    assert [item["name"] for item in response.json()["items"]] == ["First item", "Second item"]
    sent = api_server.last_request()
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    assert sent["auth"] == placement
    if auth_method == "basic":
        assert headers["authorization"] == basic_header(APIServer.username, APIServer.password)
    elif auth_method == "bearer":
        assert headers["authorization"] == f"Bearer {APIServer.api_key}"
    elif auth_method == "query_key":
        assert sent["query"] == {"api_key": APIServer.api_key}
        assert "authorization" not in headers
    else:
        assert (headers["x-api-key"], headers["x-api-secret"]) == (HEADER_KEY, HEADER_SECRET)
        assert "authorization" not in headers and sent["query"] == {}


def test_an_api_secret_the_spec_sends_nowhere_is_a_spec_error(tmp_path: Path):
    """A declared secret must reach the app: in `format` or in a `secret_name` of its own."""
    spec = yaml.safe_load((Path(__file__).parents[1] / "connectors" / "loopback.yaml").read_text())
    header_key = next(method for method in spec["auth"] if method.get("key") == "header_key")
    del header_key["secret_name"]
    path = tmp_path / "loopback.yaml"
    path.write_text(yaml.safe_dump(spec))

    _, problems = load_specs([path])

    index = spec["auth"].index(header_key)
    assert [str(p) for p in problems] == [
        f"{path}: auth.{index}.api_secret: is sent nowhere: use {{api_secret}} in format, or name its own secret_name"
    ]


# --- transient failures --------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "429", "hang"])
def test_server_errors_rate_limits_and_hangs_are_transient(fault, connected, api_server, settings):
    settings.SPLICE_HTTP_TIMEOUT = 0.5
    api_server.set_fault(fault, retry_after=7, hang_seconds=2, times=1)
    status_changes = AuditEvent.objects.filter(connection=connected, action="status_changed").count()

    started = time.monotonic()
    outcome = connection_test(connection=connected)
    elapsed = time.monotonic() - started

    assert not outcome.ok
    assert outcome.verdict.transient
    message, retry_after = {
        "500": ("Loopback answered with a server error (HTTP 500).", None),
        "429": ("Loopback is rate limiting requests (HTTP 429).", 7.0),
        "hang": ("Loopback did not answer in time.", None),
    }[fault]
    assert outcome.message == message
    assert outcome.verdict.retry_after == retry_after
    if fault == "hang":
        assert elapsed < 1.5  # the timeout cut it short; the server would have answered after 2 s
    row = reloaded(connected)
    assert (row.status, row.error_reason) == (Status.CONNECTED, "")
    assert row.consecutive_failures == 1
    assert row.failing_since is not None
    assert AuditEvent.objects.filter(connection=connected, action="status_changed").count() == status_changes


def test_repeated_transient_failures_become_unreachable_only_after_the_window(connected, api_server, settings):
    api_server.set_fault("500")
    for attempt in range(1, 4):
        connection_test(connection=connected)
        row = reloaded(connected)
        assert (row.status, row.consecutive_failures) == (Status.CONNECTED, attempt)
    first_failure = row.failing_since

    # The app has now been failing for longer than the window (moved back rather than waited for).
    long_ago = timezone.now() - timedelta(seconds=settings.SPLICE_UNREACHABLE_AFTER + 60)
    assert reloaded(connected).failing_since == first_failure
    Connection.objects.filter(pk=connected.pk).update(failing_since=long_ago)
    outcome = connection_test(connection=connected)

    row = reloaded(connected)
    assert (row.status, row.error_reason) == (Status.ERROR, Reason.UNREACHABLE)
    assert row.error_since == long_ago
    assert row.consecutive_failures == 4
    assert row.error_message == outcome.message == "Loopback answered with a server error (HTTP 500)."
    change = AuditEvent.objects.filter(connection=connected, action="status_changed").first()
    assert change.details == {"from": "connected", "to": "error", "reason": "unreachable", "from_reason": ""}

    api_server.clear_fault()
    outcome = connection_test(connection=connected)

    assert outcome.ok
    row = reloaded(connected)
    assert (row.status, row.error_reason, row.error_message) == (Status.CONNECTED, "", "")
    assert (row.consecutive_failures, row.failing_since, row.error_since) == (0, None, None)
    assert row.last_ok_at >= long_ago


# --- what the app says about the credentials ---------------------------------------------------


@pytest.mark.parametrize(("fault", "reason", "message", "first_fix"), [
    ("401", Reason.CREDENTIALS_INVALID, "Credentials were changed or revoked in the app.", VERIFY_CREDENTIALS),
    ("403", Reason.INSUFFICIENT_PERMISSIONS, "The user who authorized this connection lacks permission.",
     VERIFY_PERMISSIONS),
    ("200_with_invalid_body", Reason.CREDENTIALS_INVALID, "Credentials were changed or revoked in the app.",
     VERIFY_CREDENTIALS),
])
def test_the_apps_verdict_on_the_credentials_sets_the_reason_and_the_fix(
        fault, reason, message, first_fix, connected, api_server):
    api_server.set_fault(fault, times=1)

    outcome = connection_test(connection=connected)

    assert not outcome.ok
    assert outcome.status_code == (200 if fault == "200_with_invalid_body" else int(fault))
    assert outcome.message == message
    assert outcome.recommendations[0].startswith(first_fix)
    assert outcome.recommendations[-1].startswith(REAUTHORIZE)
    row = reloaded(connected)
    assert (row.status, row.error_reason, row.error_message) == (Status.ERROR, reason, message)
    assert row.error_since is not None

    # Fixed in the app (the fault was one-off): the next test reconnects it.
    assert connection_test(connection=connected).ok
    row = reloaded(connected)
    assert (row.status, row.error_reason, row.error_since) == (Status.CONNECTED, "", None)


def test_a_password_changed_in_the_app_is_credentials_invalid(connected, api_server):
    api_server.set_credentials(username=APIServer.username, password="changed-in-the-app")

    outcome = connection_test(connection=connected)

    row = reloaded(connected)
    assert (row.status, row.error_reason) == (Status.ERROR, Reason.CREDENTIALS_INVALID)
    assert outcome.recommendations[0].startswith(VERIFY_CREDENTIALS)


# --- replacing credentials -----------------------------------------------------------------------


@pytest.mark.parametrize(("auth_method", "good", "bad"), [
    ("basic", {"username": APIServer.username, "password": APIServer.password},
     {"username": APIServer.username, "password": "a-wrong-password"}),
    ("bearer", {"api_key": APIServer.api_key}, {"api_key": "a-wrong-api-key"}),
])
def test_wrong_new_credentials_keep_the_previous_good_ones(auth_method, good, bad, credential_connection, api_server,
                                                            builder):
    connection, outcome = credential_connection(auth_method, good)
    assert outcome.ok
    before = reloaded(connection)

    outcome = connection_set_credentials(connection=connection, acting_user=builder, credentials=bad)

    assert not outcome.ok
    assert outcome.verdict.kind == "credentials_invalid"
    assert api_server.last_request()["status"] == 401  # the new credentials were really tried
    after = reloaded(connection)
    assert after.status == Status.CONNECTED
    secret_field = "password" if auth_method == "basic" else "api_key"
    assert getattr(after, secret_field) == getattr(before, secret_field)
    assert open_secret(after, secret_field).reveal() == good[secret_field]
    assert after.token_version == before.token_version
    failed = AuditEvent.objects.filter(connection=connection, action="authorization_failed").get()
    assert failed.actor == builder
    # Credentials someone just typed are "incorrect", not "changed or revoked" (issue 16).
    assert failed.summary == ("The username or password is incorrect." if auth_method == "basic"
                              else "The API key is incorrect.")

    # The connection still works, with the previous credentials.
    assert connection_test(connection=after).ok
    assert connection_client(after).request("GET", "/api/items").status_code == 200
    assert api_server.last_request()["status"] == 200


def test_working_new_credentials_replace_the_old_ones(connected, api_server, builder):
    api_server.set_credentials({"username": "ada", "password": APIServer.password},
                               {"username": "grace", "password": "grace-pass-456"})

    outcome = connection_set_credentials(connection=connected, acting_user=builder,
                                         credentials={"username": "grace", "password": "grace-pass-456"})

    assert outcome.ok
    row = reloaded(connected)
    assert row.username == "grace"
    assert open_secret(row, "password").reveal() == "grace-pass-456"
    assert row.token_version == connected.token_version + 1
    event = AuditEvent.objects.filter(connection=connected, action="reauthorized").get()
    assert event.details["credentials"]["password"] == "••••"
    connection_client(row).request("GET", "/api/me")
    assert api_server.last_request()["headers"]["Authorization"] == basic_header("grace", "grace-pass-456")


def test_wrong_first_credentials_store_nothing(project, builder, api_server):
    connection = services.connection_create(project=project, connector_key="loopback", name="Loopback basic",
                                            acting_user=builder, auth_method="basic",
                                            settings_values={"base_url": api_server.base_url})

    outcome = connection_set_credentials(connection=connection, acting_user=builder,
                                         credentials={"username": "ada", "password": "nope"})

    assert not outcome.ok
    row = reloaded(connection)
    assert (row.status, row.password, row.authorized_at) == (Status.NOT_CONNECTED, "", None)


def test_an_outage_does_not_hide_that_the_credentials_were_revoked(connected, api_server, settings):
    api_server.set_fault("401", times=1)
    connection_test(connection=connected)
    api_server.set_fault("500")
    Connection.objects.filter(pk=connected.pk).update(
        failing_since=timezone.now() - timedelta(seconds=settings.SPLICE_UNREACHABLE_AFTER + 60))

    outcome = connection_test(connection=connected)

    assert outcome.verdict.transient
    row = reloaded(connected)
    # Still "re-authorize", not "the app is unreachable": the outage says nothing about the credentials.
    assert (row.status, row.error_reason) == (Status.ERROR, Reason.CREDENTIALS_INVALID)
    assert row.error_message == "Credentials were changed or revoked in the app."

"""The status machine, table by table: no database, no server, no clock. Each answer, failure or OAuth error
gives a verdict; each verdict, over each current status, gives the new status, reason, the seed's fixes and
when the sweep may check again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from connections.egress import REFUSED_MESSAGE, EgressRefused
from connections.problems import RECOMMENDATIONS, Kind, Verdict
from connections.status import (
    CheckOutcome,
    Current,
    Rules,
    classify_answer,
    classify_exception,
    classify_oauth_error,
    decide,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = Rules(unreachable_after=timedelta(minutes=30), interval=timedelta(minutes=15), max_backoff=timedelta(hours=2))
VERIFY_CREDENTIALS, REAUTHORIZE = RECOMMENDATIONS[Kind.CREDENTIALS_INVALID]
VERIFY_PERMISSIONS = RECOMMENDATIONS[Kind.INSUFFICIENT_PERMISSIONS][0]

# --- HTTP answers ------------------------------------------------------------------------------------------

ANSWERS = [
    # status, headers, spec rule, kind (None: no verdict), retry_after
    (200, {}, None, None, None),
    (201, {}, None, None, None),
    (204, {}, None, None, None),
    (200, {}, "invalid", Kind.CREDENTIALS_INVALID, None),  # the spec's invalid_on (Slack's 200 {"ok": false})
    (200, {}, "refresh", None, None),                      # refresh_on: the client refreshes, not a verdict
    (401, {}, None, Kind.CREDENTIALS_INVALID, None),
    (401, {}, "refresh", Kind.CREDENTIALS_INVALID, None),
    (403, {}, None, Kind.INSUFFICIENT_PERMISSIONS, None),
    (404, {}, None, None, None),                           # the request's own problem
    (408, {}, None, None, None),
    (422, {}, None, None, None),
    (429, {}, None, Kind.TRANSIENT, None),
    (429, {"Retry-After": "120"}, None, Kind.TRANSIENT, 120.0),
    (429, {"Retry-After": "Tue, 01 Dec 2026 12:05:00 GMT"}, None, Kind.TRANSIENT, 300.0),
    (429, {"Retry-After": "whenever"}, None, Kind.TRANSIENT, None),
    (500, {}, None, Kind.TRANSIENT, None),
    (502, {}, None, Kind.TRANSIENT, None),
    (503, {"Retry-After": "30"}, None, Kind.TRANSIENT, 30.0),
    (504, {}, None, Kind.TRANSIENT, None),
]


@pytest.mark.parametrize("status, headers, rule, kind, retry_after", ANSWERS)
def test_each_class_of_http_answer(status, headers, rule, kind, retry_after):
    verdict = classify_answer(status, headers=headers, rule=rule, app="Slack", now=NOW)
    if kind is None:
        assert verdict is None
        return
    assert verdict.kind == kind and verdict.status_code == status and verdict.retry_after == retry_after
    assert verdict.recommendations == RECOMMENDATIONS[kind]
    if kind == Kind.TRANSIENT:
        assert "Slack" in verdict.message and str(status) in verdict.message


# --- failures before or without an answer ------------------------------------------------------------------

FAILURES = [
    (requests.ConnectTimeout("connect"), Kind.TRANSIENT, "did not answer in time"),
    (requests.ReadTimeout("read"), Kind.TRANSIENT, "did not answer in time"),
    (requests.ConnectionError("refused"), Kind.TRANSIENT, "could not be reached"),
    (requests.exceptions.SSLError("bad certificate"), Kind.TRANSIENT, "could not be reached"),
    (requests.TooManyRedirects("loop"), Kind.TRANSIENT, "TooManyRedirects"),
    (EgressRefused("10.0.0.1", "private"), Kind.ADDRESS_REFUSED, REFUSED_MESSAGE),
]


@pytest.mark.parametrize("exc, kind, message", FAILURES)
def test_timeouts_connection_errors_and_refused_addresses(exc, kind, message):
    verdict = classify_exception(exc, app="Jira")
    assert verdict.kind == kind and message in verdict.message
    assert verdict.recommendations == RECOMMENDATIONS[kind]


def test_a_bug_is_not_taken_for_an_apps_failure():
    with pytest.raises(ZeroDivisionError):
        classify_exception(ZeroDivisionError())


OAUTH_ERRORS = [
    ("invalid_grant", 400, Kind.CREDENTIALS_INVALID),
    ("invalid_client", 401, Kind.CREDENTIALS_INVALID),
    ("unauthorized_client", 400, Kind.CREDENTIALS_INVALID),
    ("temporarily_unavailable", None, Kind.TRANSIENT),
    ("server_error", 500, Kind.TRANSIENT),
    ("invalid_request", 403, Kind.INSUFFICIENT_PERMISSIONS),
    ("invalid_scope", 400, Kind.TRANSIENT),
]


@pytest.mark.parametrize("error, status, kind", OAUTH_ERRORS)
def test_oauth_errors(error, status, kind):
    verdict = classify_oauth_error(error, status)
    assert verdict.kind == kind
    assert verdict.recommendations == RECOMMENDATIONS[kind]
    if kind == Kind.CREDENTIALS_INVALID:
        assert error in verdict.message


# --- transitions --------------------------------------------------------------------------------------------


def ok(identity="ada@example.com"):
    return CheckOutcome(ok=True, identity=identity)


def failed(kind: Kind, message="it failed", retry_after=None):
    return CheckOutcome(ok=False, verdict=Verdict(kind, message, retry_after=retry_after,
                                                  recommendations=RECOMMENDATIONS[kind]))


CONNECTED = Current("connected", identity="ada@example.com")
NOT_CONNECTED = Current("not_connected")
REVOKED = Current("error", "credentials_invalid", failing_since=NOW - timedelta(hours=1), consecutive_failures=3)
UNREACHABLE = Current("error", "unreachable", failing_since=NOW - timedelta(hours=2), consecutive_failures=9)


def failing_for(minutes: float, failures: int = 2, status="connected") -> Current:
    return Current(status, failing_since=NOW - timedelta(minutes=minutes), consecutive_failures=failures)


TRANSITIONS = [
    # current, outcome, status, reason, recommendations
    (CONNECTED, ok(), "connected", "", ()),
    (NOT_CONNECTED, ok(), "connected", "", ()),
    (REVOKED, ok(), "connected", "", ()),
    (UNREACHABLE, ok(), "connected", "", ()),
    (CONNECTED, failed(Kind.CREDENTIALS_INVALID), "error", "credentials_invalid",
     (VERIFY_CREDENTIALS, REAUTHORIZE)),
    (CONNECTED, failed(Kind.INSUFFICIENT_PERMISSIONS), "error", "insufficient_permissions",
     (VERIFY_PERMISSIONS, REAUTHORIZE)),
    (REVOKED, failed(Kind.INSUFFICIENT_PERMISSIONS), "error", "insufficient_permissions",
     (VERIFY_PERMISSIONS, REAUTHORIZE)),
    (CONNECTED, failed(Kind.ADDRESS_REFUSED), "error", "address_refused",
     tuple(RECOMMENDATIONS[Kind.ADDRESS_REFUSED])),
    # Transient: nothing changes inside the unreachable window...
    (CONNECTED, failed(Kind.TRANSIENT), "connected", "", tuple(RECOMMENDATIONS[Kind.TRANSIENT])),
    (failing_for(29.99), failed(Kind.TRANSIENT), "connected", "", tuple(RECOMMENDATIONS[Kind.TRANSIENT])),
    # ...and at its edge a working connection becomes unreachable,
    (failing_for(30), failed(Kind.TRANSIENT), "error", "unreachable", tuple(RECOMMENDATIONS["unreachable"])),
    (UNREACHABLE, failed(Kind.TRANSIENT), "error", "unreachable", tuple(RECOMMENDATIONS["unreachable"])),
    # but an outage never hides credentials revoked or a lack of permissions, whose fix still applies,
    (REVOKED, failed(Kind.TRANSIENT), "error", "credentials_invalid", tuple(RECOMMENDATIONS[Kind.TRANSIENT])),
    # nor makes a connection that never worked "unreachable".
    (failing_for(600, status="not_connected"), failed(Kind.TRANSIENT), "not_connected", "",
     tuple(RECOMMENDATIONS[Kind.TRANSIENT])),
    # The app answering the test unexpectedly counts like a transient failure.
    (failing_for(45), failed(Kind.OTHER), "error", "unreachable", tuple(RECOMMENDATIONS["unreachable"])),
    (CONNECTED, failed(Kind.OTHER), "connected", "", tuple(RECOMMENDATIONS[Kind.OTHER])),
]


@pytest.mark.parametrize("current, outcome, status, reason, recommendations", TRANSITIONS)
def test_transitions(current, outcome, status, reason, recommendations):
    decision = decide(current, outcome, now=NOW, rules=RULES)
    assert (decision.status, decision.reason) == (status, reason)
    assert decision.recommendations == recommendations
    assert decision.changed == ((current.status, current.reason) != (status, reason))
    assert decision.columns["last_checked_at"] == NOW


def test_success_clears_the_error_and_counts_from_zero():
    columns = decide(REVOKED, ok("bob@example.com"), now=NOW, rules=RULES).columns
    assert columns | {"identity": None} == {
        "last_checked_at": NOW, "status": "connected", "error_reason": "", "error_message": "", "error_since": None,
        "last_ok_at": NOW, "failing_since": None, "consecutive_failures": 0, "identity": None}
    assert columns["identity"] == "bob@example.com"
    assert "identity" not in decide(CONNECTED, ok(), now=NOW, rules=RULES).columns  # unchanged: not written


def test_an_error_since_is_when_this_reason_began():
    first = decide(CONNECTED, failed(Kind.CREDENTIALS_INVALID, "revoked"), now=NOW, rules=RULES).columns
    assert first["error_since"] == NOW and first["error_message"] == "revoked" and first["failing_since"] == NOW
    again = decide(REVOKED, failed(Kind.CREDENTIALS_INVALID), now=NOW, rules=RULES).columns
    assert "error_since" not in again and again["consecutive_failures"] == 4
    unreachable = decide(failing_for(31), failed(Kind.TRANSIENT), now=NOW, rules=RULES).columns
    assert unreachable["error_since"] == NOW - timedelta(minutes=31)  # since the outage began


@pytest.mark.parametrize("failures_before, backoff", [
    (0, timedelta(0)), (1, timedelta(minutes=15)), (2, timedelta(minutes=45)), (3, timedelta(minutes=105)),
    (4, timedelta(hours=2)), (40, timedelta(hours=2)),
])
def test_a_failing_connection_is_checked_less_and_less_often(failures_before, backoff):
    current = Current("connected", failing_since=NOW, consecutive_failures=failures_before)
    decision = decide(current, failed(Kind.TRANSIENT), now=NOW, rules=RULES)
    assert decision.next_check_at == (NOW + backoff if backoff else None)


def test_retry_after_is_kept_and_credentials_errors_wait_for_no_one():
    decision = decide(CONNECTED, failed(Kind.TRANSIENT, retry_after=90), now=NOW, rules=RULES)
    assert decision.retry_after_until == NOW + timedelta(seconds=90)
    for outcome in (ok(), failed(Kind.CREDENTIALS_INVALID), failed(Kind.INSUFFICIENT_PERMISSIONS)):
        decision = decide(failing_for(5, failures=5), outcome, now=NOW, rules=RULES)
        assert (decision.next_check_at, decision.retry_after_until) == (None, None)

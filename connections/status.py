"""The status machine: what an outcome means for a connection, and what its status becomes.

Pure: no database, no network, no clock (callers pass `now`). Every source of outcomes (Test now, the health
check, an authorization, a job step) goes through it, by way of one recorder
(connections.services.connection_record_outcomes).

    verdict = classify_answer(401, app="Slack")                  # an HTTP answer, with the spec's rule
    verdict = classify_exception(exc, app="Slack")               # a timeout, a refused address, ...
    verdict = classify_oauth_error("invalid_grant", 400)         # a token endpoint's error
    decision = decide(current, outcome, now=now, rules=Rules())  # the new status, reason, fixes, next check

401 (or the spec's `invalid_on`, or `invalid_grant`) → credentials changed or revoked; 403 → insufficient
permissions; 429, 5xx, timeouts and connection failures are transient: they never mark a connection invalid by
themselves, only "unreachable" once they have lasted the unreachable window. A refused address is its own
reason (the egress policy). Other answers are no verdict: a plain client error of that request.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from connections.egress import REFUSED_MESSAGE, EgressRefused
from connections.problems import RECOMMENDATIONS, Kind, Verdict, recommendations_for

__all__ = [
    "CheckOutcome",
    "Current",
    "Decision",
    "Rules",
    "classify_answer",
    "classify_exception",
    "classify_oauth_error",
    "classify_settings_error",
    "credentials_phrase",
    "decide",
    "first_authorization_verdict",
    "fitted_verdict",
    "missing_scope",
    "relative_time",
    "retry_after_seconds",
]

CONNECTED, ERROR, NOT_CONNECTED, DISCONNECTED = "connected", "error", "not_connected", "disconnected"
UNREACHABLE = "unreachable"
# The kinds that are a reason of their own at once (the others are transient, or the request's own problem).
_REASON_OF_KIND = {
    Kind.CREDENTIALS_INVALID: "credentials_invalid",
    Kind.INSUFFICIENT_PERMISSIONS: "insufficient_permissions",
    Kind.ADDRESS_REFUSED: "address_refused",
    Kind.CREDENTIALS_UNREADABLE: "credentials_unreadable",
}
_MESSAGES = {
    Kind.CREDENTIALS_INVALID: "Credentials were changed or revoked in the app.",
    Kind.INSUFFICIENT_PERMISSIONS: "The user who authorized this connection lacks permission.",
}
# invalid_grant, invalid_client and unauthorized_client (RFC 6749 §5.2) mean the grant or client is gone.
_REFUSED_GRANTS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


def _verdict(kind: Kind, message: str | None = None, **extra) -> Verdict:
    return Verdict(kind=kind, message=message or _MESSAGES.get(kind, ""), recommendations=RECOMMENDATIONS[kind],
                   **extra)


# --- classification -----------------------------------------------------------------------------------------


def classify_answer(status: int, *, headers=None, rule: Literal["invalid", "refresh"] | None = None,
                    app: str = "The app", now: datetime | None = None, body: bytes | str | None = None
                    ) -> Verdict | None:
    """The verdict for an app's HTTP answer: None when it is a success or a plain client error of the request.
    `rule`: what the connector's `invalid_on` / `refresh_on` rules say of it (ConnectorSpec.response_verdict).
    `body`: the answer's body, where a 403 may name the scope it lacks."""
    if rule == "invalid" or status == 401:
        return _verdict(Kind.CREDENTIALS_INVALID, status_code=status)
    if status == 403:
        scope = missing_scope(headers, body)
        message = (f"The user who authorized this connection lacks permission: {app} asks for the scope “{scope}”."
                   if scope else None)
        return _verdict(Kind.INSUFFICIENT_PERMISSIONS, message, status_code=status)
    if status == 429:
        return _verdict(Kind.TRANSIENT, f"{app} is rate limiting requests (HTTP 429).", status_code=status,
                        retry_after=retry_after_seconds(headers, now=now))
    if status >= 500:
        return _verdict(Kind.TRANSIENT, f"{app} answered with a server error (HTTP {status}).", status_code=status,
                        retry_after=retry_after_seconds(headers, now=now))
    return None


def classify_exception(exc: Exception, *, app: str = "The app") -> Verdict:
    """Timeouts, DNS and connection errors are transient; the message names the kind, not the URL's query.
    A refusal of the egress policy is not: the same message for every refused address, whatever is there."""
    if isinstance(exc, EgressRefused):
        return _verdict(Kind.ADDRESS_REFUSED, REFUSED_MESSAGE)
    if isinstance(exc, requests.ConnectTimeout):
        return _verdict(Kind.TRANSIENT, f"{app} did not answer in time (connecting).")
    if isinstance(exc, requests.Timeout):
        return _verdict(Kind.TRANSIENT, f"{app} did not answer in time.", may_have_reached=True)
    if isinstance(exc, requests.ConnectionError):
        return _verdict(Kind.TRANSIENT, f"{app} could not be reached (connection failed).",
                        may_have_reached=not _never_connected(exc))
    if isinstance(exc, requests.RequestException):
        return _verdict(Kind.TRANSIENT, f"The request to {app} failed ({type(exc).__name__}).",
                        may_have_reached=True)
    raise exc


# RFC 6750 §3: WWW-Authenticate: Bearer error="insufficient_scope", scope="items:write"
_AUTH_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_SCOPE_SHOWN = 200


def missing_scope(headers=None, body: bytes | str | None = None) -> str:
    """The scope (or permission) a 403 says it lacks: RFC 6750's `insufficient_scope` challenge, else a JSON body's
    `{"error": "insufficient_scope", "scope": "…"}`; "" when the app does not say. Only the scope's name is kept."""
    challenge = (headers or {}).get("WWW-Authenticate") or ""
    params = {name.lower(): quoted or bare for name, quoted, bare in _AUTH_PARAM_RE.findall(challenge)}
    if params.get("error") == "insufficient_scope" and params.get("scope"):
        return _scope_text(params["scope"])
    try:
        data = json.loads(body) if body else None
    except (TypeError, ValueError):
        return ""
    if isinstance(data, dict) and data.get("error") == "insufficient_scope":
        scope = data.get("scope") or data.get("required_scope") or ""
        return _scope_text(" ".join(scope) if isinstance(scope, list) else str(scope))
    return ""


def _scope_text(scope: str) -> str:
    printable = "".join(c for c in scope if c.isprintable()).strip()
    return printable[:_SCOPE_SHOWN]


def _never_connected(exc: requests.ConnectionError) -> bool:
    """Whether the request failed before a connection was made (a refused or unresolvable address), so it cannot
    have reached the app. A connection dropped after it was made (urllib3's ProtocolError) may have carried it."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, (NewConnectionError, NameResolutionError, ConnectTimeoutError))


def classify_oauth_error(error: str, status_code: int | None = None) -> Verdict:
    """A token endpoint's error: a refused grant or client means the credentials were changed or revoked; an
    HTTP status says the rest as for any answer; anything else (temporarily_unavailable) is transient."""
    if error in _REFUSED_GRANTS:
        return _verdict(Kind.CREDENTIALS_INVALID,
                        f"The app refused the token request ({error}): credentials were changed or revoked.")
    if status_code and (verdict := classify_answer(status_code)) is not None:
        return verdict
    return Verdict(Kind.TRANSIENT, f"The app's token endpoint answered with an error ({error}).",
                   status_code=status_code, recommendations=RECOMMENDATIONS[Kind.TRANSIENT])


def classify_settings_error(exc: ValueError) -> Verdict:
    """Settings (or a spec) that no longer make a request (the catalog's InvalidValue, a path that would leave the
    base URL): the message names the setting and the rule, never a value."""
    return Verdict(Kind.OTHER, f"This connection's settings cannot be used: {exc}.",
                   recommendations=["Edit the connection and correct the setting."])


def retry_after_seconds(headers, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (a number, or an HTTP date compared with `now`); None when absent or unreadable."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if now is None:
        from django.utils import timezone

        now = timezone.now()
    return max(0.0, (when - now).total_seconds())


# --- words that fit the connection -------------------------------------------------------------------------


def credentials_phrase(method, joiner: str = "and") -> str:
    """What a person typed for `method`, by its own labels: "email and password", "API key" ("" for OAuth)."""
    labels = [f.label[:1].lower() + f.label[1:] if not f.label[:2].isupper() else f.label
              for f in getattr(method, "credential_fields", [])]
    if len(labels) <= 1:
        return "".join(labels)
    return f"{', '.join(labels[:-1])} {joiner} {labels[-1]}"


def relative_time(moment: datetime | None, *, now: datetime | None = None) -> str:
    """“just now”, “5 minutes ago”, “2 days ago”: never “0 minutes ago” (Django's timesince under a minute)."""
    if moment is None:
        return ""
    from django.utils import timezone
    from django.utils.timesince import timesince

    now = now or timezone.now()
    if (now - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def fitted_verdict(verdict: Verdict, *, method) -> Verdict:
    """The verdict with the generic advice of its kind made to fit `method` (an OAuth connection re-authorizes,
    a Basic one double-checks its username and password); advice written for this very failure is kept."""
    if method is None or list(verdict.recommendations) != list(RECOMMENDATIONS.get(verdict.kind, ())):
        return verdict
    return replace(verdict, recommendations=recommendations_for(
        verdict.kind, auth_type=method.type, credentials=credentials_phrase(method)))


def first_authorization_verdict(verdict: Verdict, *, method, app: str = "The app") -> Verdict:
    """A first authorization that failed says what happened this time: wrong credentials are "incorrect" (not
    "changed or revoked", which is for a connection that used to work), and a transient failure offers to try
    again (no check retries a connection that never worked)."""
    if verdict.kind == Kind.CREDENTIALS_INVALID:
        typed = credentials_phrase(method, "or")
        if typed:
            message = f"The {typed} is incorrect."
        else:
            message = f"{app} did not accept the authorization (HTTP {verdict.status_code})." \
                if verdict.status_code else f"{app} did not accept the authorization: {verdict.message}"
        return replace(verdict, message=message, recommendations=recommendations_for(
            Kind.CREDENTIALS_INVALID, auth_type=method.type, credentials=credentials_phrase(method),
            first_authorization=True))
    if verdict.kind == Kind.TRANSIENT:
        return replace(verdict, recommendations=recommendations_for(Kind.TRANSIENT, first_authorization=True))
    return fitted_verdict(verdict, method=method)


# --- transitions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOutcome:
    """What one check of a connection found (its test request, or a job step's call): ok with the identity it
    connected as, or the verdict. `verdict.message` never holds a secret."""

    ok: bool
    identity: str = ""
    verdict: Verdict | None = None
    status_code: int | None = None

    @property
    def message(self) -> str:
        return f"Connected as {self.identity}" if self.ok and self.identity else (
            "Connected" if self.ok else self.verdict.message)

    @property
    def recommendations(self) -> list[str]:
        return [] if self.ok else list(self.verdict.recommendations)


@dataclass(frozen=True)
class Current:
    """What the machine needs to know of a connection as it is."""

    status: str
    reason: str = ""
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    identity: str = ""


@dataclass(frozen=True)
class Rules:
    """The deployment's timings: how long transient failures last before "unreachable" (SPLICE_UNREACHABLE_AFTER),
    the health interval and the longest backoff between checks of a failing connection."""

    unreachable_after: timedelta = timedelta(minutes=30)
    interval: timedelta = timedelta(minutes=15)
    max_backoff: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class Decision:
    """What an outcome does to a connection: its new status and reason, the fixes to show, the columns to write
    (status fields, for an UPDATE), and when the sweep may check it next."""

    status: str
    reason: str
    before: tuple[str, str]
    recommendations: tuple[str, ...] = ()
    columns: dict = field(default_factory=dict)
    next_check_at: datetime | None = None
    retry_after_until: datetime | None = None

    @property
    def after(self) -> tuple[str, str]:
        return self.status, self.reason

    @property
    def changed(self) -> bool:
        return self.before != self.after


def decide(current: Current, outcome: CheckOutcome, *, now: datetime, rules: Rules = Rules()) -> Decision:
    """The connection's new status for this outcome. Success → connected. Credentials, permissions and a refused
    address → error at once. Transient → still as it was until failures have lasted `unreachable_after`, then
    error / unreachable, but only over a connection that worked (an outage must not hide "credentials revoked",
    whose fix still applies), and a sweep backs off: interval × (2^(n-1) − 1) after the n-th failure in a row.
    An unexpected answer (the app answered the test with another status) counts as a transient failure."""
    before = (current.status, current.reason)
    columns: dict = {"last_checked_at": now}
    if outcome.ok:
        columns |= {"status": CONNECTED, "error_reason": "", "error_message": "", "error_since": None,
                    "last_ok_at": now, "failing_since": None, "consecutive_failures": 0}
        if outcome.identity and outcome.identity != current.identity:
            columns["identity"] = outcome.identity
        return Decision(CONNECTED, "", before, columns=columns)
    verdict = outcome.verdict
    failures = current.consecutive_failures + 1
    failing_since = current.failing_since or now
    columns |= {"failing_since": failing_since, "consecutive_failures": failures}
    status, reason = current.status, current.reason
    if verdict.kind in _REASON_OF_KIND:
        status, reason = ERROR, _REASON_OF_KIND[verdict.kind]
        columns |= {"status": status, "error_reason": reason, "error_message": verdict.message}
        if before != (status, reason):
            columns["error_since"] = now
        return Decision(status, reason, before, tuple(verdict.recommendations), columns)
    # Transient, or the app answering unexpectedly: the unreachable window decides.
    unreachable = now - failing_since >= rules.unreachable_after
    if unreachable and (current.status == CONNECTED or current.reason == UNREACHABLE):
        status, reason = ERROR, UNREACHABLE
        columns |= {"status": status, "error_reason": reason, "error_message": verdict.message}
        if current.reason != UNREACHABLE:
            columns["error_since"] = failing_since
    elif current.status == NOT_CONNECTED:
        columns["error_message"] = verdict.message
    backoff = min(rules.interval * (2 ** min(failures - 1, 16) - 1), max(rules.max_backoff, rules.interval))
    retry_after = verdict.retry_after
    recommendations = RECOMMENDATIONS[UNREACHABLE] if reason == UNREACHABLE else verdict.recommendations
    return Decision(status, reason, before, tuple(recommendations), columns,
                    next_check_at=now + backoff if backoff else None,
                    retry_after_until=now + timedelta(seconds=retry_after) if retry_after else None)

"""The one classification of what went wrong talking to an app, used by tests, jobs and health checks.

401 (or a connector's `invalid_on` rule, or `invalid_grant` on refresh) → the credentials were
changed or revoked; 403 → the authorizing user lacks permission; 429, 5xx, timeouts, DNS and
connection errors → transient, which never marks a connection invalid by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum

import requests
from django.utils import timezone

from connections.egress import REFUSED_MESSAGE, EgressRefused

__all__ = [
    "RECOMMENDATIONS",
    "ConnectionProblem",
    "Kind",
    "Verdict",
    "classify_exception",
    "classify_status",
    "retry_after_seconds",
]


class Kind(StrEnum):
    CREDENTIALS_INVALID = "credentials_invalid"
    INSUFFICIENT_PERMISSIONS = "insufficient_permissions"
    TRANSIENT = "transient"
    ADDRESS_REFUSED = "address_refused"
    OTHER = "other"


# The seed's recommendations ("Connection errors"), most likely fix first.
_VERIFY_PERMISSIONS = (
    "Verify the authorizing user's permissions: the account that authorized this connection needs "
    "access to the data and actions your recipes use."
)
_VERIFY_CREDENTIALS = (
    "Verify that the connection's credentials are correct: double-check the password, API key or "
    "token, which may have been changed in the app."
)
_REAUTHORIZE = "Re-authorize the connection once the credentials and permissions are right."
_WAIT = (
    "Splice keeps retrying: the app did not answer. Check the app's status page and the connection's "
    "address settings."
)

_CHECK_ADDRESS = (
    "Check the connection's address settings (its base URL and OAuth addresses): Splice connects only to "
    "public addresses."
)
_ASK_ADMIN_TO_ALLOW = (
    "If the app really lives on an internal network, ask an admin to allow its host name or address range "
    "with SPLICE_EGRESS_ALLOW."
)

RECOMMENDATIONS: dict[str, list[str]] = {
    Kind.CREDENTIALS_INVALID: [_VERIFY_CREDENTIALS, _REAUTHORIZE],
    Kind.INSUFFICIENT_PERMISSIONS: [_VERIFY_PERMISSIONS, _REAUTHORIZE],
    "unreachable": [_WAIT, _VERIFY_CREDENTIALS],
    Kind.TRANSIENT: [_WAIT],
    Kind.ADDRESS_REFUSED: [_CHECK_ADDRESS, _ASK_ADMIN_TO_ALLOW],
    Kind.OTHER: [_VERIFY_PERMISSIONS, _VERIFY_CREDENTIALS, _REAUTHORIZE],
}

_MESSAGES = {
    Kind.CREDENTIALS_INVALID: "Credentials were changed or revoked in the app.",
    Kind.INSUFFICIENT_PERMISSIONS: "The user who authorized this connection lacks permission.",
}


@dataclass(frozen=True)
class Verdict:
    """What a response or failure means for the connection. `message` never contains a secret."""

    kind: Kind
    message: str
    status_code: int | None = None
    retry_after: float | None = None
    recommendations: list[str] = field(default_factory=list)

    @property
    def transient(self) -> bool:
        return self.kind == Kind.TRANSIENT


class ConnectionProblem(Exception):
    """Raised by the client and the flows; carries the verdict for the caller to record."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(verdict.message)


def _verdict(kind: Kind, message: str | None = None, **extra) -> Verdict:
    return Verdict(kind=kind, message=message or _MESSAGES.get(kind, ""), recommendations=RECOMMENDATIONS[kind],
                   **extra)


def classify_status(status: int, *, headers=None, connector_says_invalid: bool = False, app: str = "The app") \
        -> Verdict | None:
    """The verdict for an HTTP status (None when it is a success or a plain client error of the request)."""
    if connector_says_invalid or status == 401:
        return _verdict(Kind.CREDENTIALS_INVALID, status_code=status)
    if status == 403:
        return _verdict(Kind.INSUFFICIENT_PERMISSIONS, status_code=status)
    if status == 429:
        return _verdict(Kind.TRANSIENT, f"{app} is rate limiting requests (HTTP 429).", status_code=status,
                        retry_after=retry_after_seconds(headers))
    if status >= 500:
        return _verdict(Kind.TRANSIENT, f"{app} answered with a server error (HTTP {status}).", status_code=status,
                        retry_after=retry_after_seconds(headers))
    return None


def classify_exception(exc: Exception, *, app: str = "The app") -> Verdict:
    """Timeouts, DNS and connection errors are transient; the message names the kind, not the URL's query.
    A refusal of the egress policy is not: the same message for every refused address, whatever is there."""
    if isinstance(exc, EgressRefused):
        return _verdict(Kind.ADDRESS_REFUSED, REFUSED_MESSAGE)
    if isinstance(exc, requests.Timeout):
        return _verdict(Kind.TRANSIENT, f"{app} did not answer in time.")
    if isinstance(exc, requests.ConnectionError):
        return _verdict(Kind.TRANSIENT, f"{app} could not be reached (connection failed).")
    if isinstance(exc, requests.RequestException):
        return _verdict(Kind.TRANSIENT, f"The request to {app} failed ({type(exc).__name__}).")
    raise exc


def retry_after_seconds(headers) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date); None when absent or unreadable."""
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
    return max(0.0, (when - timezone.now()).total_seconds())

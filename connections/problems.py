"""The words for what went wrong talking to an app: the kinds of problem, a verdict, the seed's recommended
fixes. Which answer is which kind, and what it does to a connection, is connections.status."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["RECOMMENDATIONS", "SEED_RECOMMENDATIONS", "ConnectionProblem", "Kind", "Verdict"]


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

# All three, in the seed's order: what a job that met an invalid connection tells the person.
SEED_RECOMMENDATIONS = [_VERIFY_PERMISSIONS, _VERIFY_CREDENTIALS, _REAUTHORIZE]

RECOMMENDATIONS: dict[str, list[str]] = {
    Kind.CREDENTIALS_INVALID: [_VERIFY_CREDENTIALS, _REAUTHORIZE],
    Kind.INSUFFICIENT_PERMISSIONS: [_VERIFY_PERMISSIONS, _REAUTHORIZE],
    "unreachable": [_WAIT, _VERIFY_CREDENTIALS],
    Kind.TRANSIENT: [_WAIT],
    Kind.ADDRESS_REFUSED: [_CHECK_ADDRESS, _ASK_ADMIN_TO_ALLOW],
    Kind.OTHER: SEED_RECOMMENDATIONS,
}


@dataclass(frozen=True)
class Verdict:
    """What a response or failure means for the connection. `message` never contains a secret."""

    kind: Kind
    message: str
    status_code: int | None = None
    retry_after: float | None = None
    recommendations: list[str] = field(default_factory=list)
    # A failure after the request may have reached the app (a read timeout, a connection dropped after sending):
    # whether the app acted on it is unknown, so only a request safe to repeat is sent again.
    may_have_reached: bool = False

    @property
    def transient(self) -> bool:
        return self.kind == Kind.TRANSIENT


class ConnectionProblem(Exception):
    """Raised by the client and the flows; carries the verdict for the caller to record."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(verdict.message)

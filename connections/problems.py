"""The words for what went wrong talking to an app: the kinds of problem, a verdict, the seed's recommended
fixes. Which answer is which kind, and what it does to a connection, is connections.status."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["RECOMMENDATIONS", "SEED_RECOMMENDATIONS", "ConnectionProblem", "Kind", "Verdict", "recommendations_for"]


class Kind(StrEnum):
    CREDENTIALS_INVALID = "credentials_invalid"
    INSUFFICIENT_PERMISSIONS = "insufficient_permissions"
    TRANSIENT = "transient"
    ADDRESS_REFUSED = "address_refused"
    # Sealed credentials the vault cannot open (altered, or under a key no longer configured): nothing was sent.
    CREDENTIALS_UNREADABLE = "credentials_unreadable"
    # An app whose auth method needs an OAuth client the deployment has not registered: only an admin can fix it.
    SETUP_NEEDED = "setup_needed"
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

# A first authorization that did not get through: nothing retries it by itself.
_TRY_AGAIN_SOON = (
    "Try again in a moment: the app did not answer. If it keeps failing, check the app's status page and the "
    "connection's address settings."
)
_OAUTH_REAUTHORIZE = (
    "Re-authorize the connection: sign in to the app again and allow access. The app no longer accepts the "
    "authorization it gave (it was revoked, it expired, or the account changed)."
)
_OAUTH_ALLOW = "Re-authorize, and allow every permission your recipes need on the app's consent page."
_KEYS_ADMIN_FIX = (
    "Ask an admin to add the credential key these credentials were sealed under back to SPLICE_CREDENTIAL_KEYS "
    "(then run `manage.py rotate_credential_keys`), or re-authorize the connection to store new credentials."
)
_SETUP_ADMIN = "Ask an admin to register Splice with the app and add its OAuth client id and secret."

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
    Kind.CREDENTIALS_UNREADABLE: [_KEYS_ADMIN_FIX],
    Kind.SETUP_NEEDED: [_SETUP_ADMIN],
    Kind.OTHER: SEED_RECOMMENDATIONS,
}

_OAUTH_TYPES = frozenset({"oauth1", "oauth2"})


def recommendations_for(reason: str, *, auth_type: str | None = None, credentials: str = "",
                        first_authorization: bool = False) -> list[str]:
    """The fixes for `reason` (a Kind, or "unreachable") that fit how the connection signs in: an OAuth
    connection is re-authorized (it has no password to double-check), a Basic or API-key one names what to
    double-check (`credentials`: "email and password", "API key"). A first authorization that did not get
    through is tried again by the person: Splice retries only connections that once worked."""
    oauth = auth_type in _OAUTH_TYPES
    if first_authorization and reason == Kind.TRANSIENT:
        return [_TRY_AGAIN_SOON]
    if first_authorization and reason == Kind.CREDENTIALS_INVALID:
        return ["Sign in to the app again and allow access." if oauth
                else f"Check the {credentials or 'credentials'} and try again."]
    verify = _VERIFY_CREDENTIALS if not credentials else (
        f"Verify that the connection's credentials are correct: double-check the {credentials}, which may have "
        "been changed in the app.")
    if reason == Kind.CREDENTIALS_INVALID:
        return [_OAUTH_REAUTHORIZE] if oauth else [verify, _REAUTHORIZE]
    if reason == Kind.INSUFFICIENT_PERMISSIONS:
        return [_VERIFY_PERMISSIONS, _OAUTH_ALLOW if oauth else _REAUTHORIZE]
    if reason == "unreachable":
        return [_WAIT] if oauth else [_WAIT, verify]
    if reason == Kind.OTHER:
        return [_VERIFY_PERMISSIONS, _OAUTH_REAUTHORIZE] if oauth else [_VERIFY_PERMISSIONS, verify, _REAUTHORIZE]
    return list(RECOMMENDATIONS.get(reason, SEED_RECOMMENDATIONS))


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

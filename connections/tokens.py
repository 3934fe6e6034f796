"""OAuth 2.0 token refresh: single-flight and crash-safe per connection, with no transaction held open
across the HTTP call.

Providers rotate refresh tokens, so two concurrent refreshes would lose one. One caller claims a short
lease on the row with a single atomic UPDATE; the others wait for the token version to move. The
winner re-reads the row (someone may have refreshed already), calls the token endpoint, and writes the
new tokens with a version check. A worker killed mid-refresh leaves only a lease that expires.
The refresh token just used is kept as `previous_refresh_token` until the new one has worked once.
When the app refuses the refresh (invalid_grant), the callers waiting on it are told so (through the cache)
and fail at once, rather than each asking the app again with the same refused token.
"""

from __future__ import annotations

import logging
import operator
import random
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

import requests
from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q
from django.utils import timezone
from oauthlib.common import urldecode
from oauthlib.oauth1 import OAuth1Error
from oauthlib.oauth2 import BackendApplicationClient, InsecureTransportError, OAuth2Error, WebApplicationClient
from oauthlib.oauth2.rfc6749.utils import is_secure_transport
from requests.auth import HTTPBasicAuth

from connections.credentials import open_secret, sealed_for
from connections.egress import EgressRefused
from connections.http import new_session, oauth2_session
from connections.models import Connection
from connections.origins import check_credentials_may_go
from connections.problems import RECOMMENDATIONS, ConnectionProblem, Kind, Verdict
from connections.status import classify_exception, classify_oauth_error
from connections.vault import Secret, VaultError

__all__ = [
    "TokenSet",
    "client_auth",
    "client_credentials_token",
    "credentials_refused",
    "ensure_fresh_token",
    "refresh_leases_claim",
    "refresh_leases_release",
    "revoke_tokens",
    "token_endpoint_errors",
    "token_set_from_response",
]

logger = logging.getLogger(__name__)

# Refresh this long before the access token expires, so a request never leaves with a dying token: a quarter of
# its lifetime, at most a minute (a fixed minute would refresh a token living a minute or less at every use).
REFRESH_MARGIN_SHARE = 0.25
MAX_REFRESH_MARGIN = timedelta(seconds=60)
# Waiters re-read the row, backing off from 20 ms to 250 ms: at a fixed 20 ms, a few hundred waiters keep the
# database so busy that the one writing the new tokens is held up for seconds (long enough to time out).
_POLL_SECONDS = 0.02
_MAX_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class TokenSet:
    access_token: Secret
    refresh_token: Secret | None
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    refresh_margin: float | None = None  # seconds before it expires that the access token is due for a refresh


# Lifetimes an app states are believed up to this long (an absurd `expires_in` must not overflow a date).
MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600


def _seconds(value) -> int | None:
    """A lifetime in seconds as an app sent it (a number, or digits in a string); None when unreadable."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = int(float(value)) if not isinstance(value, int) else value
    except (ValueError, OverflowError):
        return None
    return min(seconds, MAX_LIFETIME_SECONDS) if seconds > 0 else None


def token_set_from_response(token: dict, *, refresh_expires_in: int | None = None) -> TokenSet:
    """Tokens from a token-endpoint response; the refresh token's life from the response or the spec."""
    now = timezone.now()
    expires_in = _seconds(token.get("expires_in"))
    refresh_in = _seconds(token.get("refresh_token_expires_in")) or _seconds(refresh_expires_in)
    refresh = token.get("refresh_token")
    lifetime = timedelta(seconds=int(expires_in)) if expires_in else None
    return TokenSet(
        access_token=Secret(str(token["access_token"])),
        refresh_token=Secret(str(refresh)) if refresh else None,
        access_expires_at=now + lifetime if lifetime else None,
        refresh_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
        refresh_margin=min(MAX_REFRESH_MARGIN, lifetime * REFRESH_MARGIN_SHARE).total_seconds() if lifetime else None,
    )


def _lease_seconds() -> float:
    return settings.SPLICE_REFRESH_LEASE_SECONDS


def _needs_refresh(row: Connection) -> bool:
    expires = row.access_token_expires_at
    if not row.access_token:
        return True
    if expires is None:
        return False
    margin = MAX_REFRESH_MARGIN if row.access_token_refresh_margin is None else \
        timedelta(seconds=row.access_token_refresh_margin)
    return expires - margin <= timezone.now()


def ensure_fresh_token(connection: Connection, *, stale_version: int | None = None, oauth=None, fresh: bool = False,
                       session: requests.Session | None = None, lease_owner: str | None = None) -> Connection:
    """Return the connection row with a usable access token, refreshing it at most once across all callers.

    `stale_version`: the token version a caller saw rejected (401); refresh unless it already moved on.
    `oauth`: the resolved OAuth 2.0 method and client (connections.client passes them).
    `fresh`: `connection` was just read, so its first look needs no new read (the claim checks the token
    version anyway). `session`: whose kept-alive connections the token request may use.
    `lease_owner`: the owner of a lease this caller may already hold (refresh_leases_claim); it is used
    while enough of it is left for the token request, else extended.
    Raises ConnectionProblem (credentials_invalid on invalid_grant; transient otherwise).
    """
    deadline = time.monotonic() + _lease_seconds() + settings.SPLICE_HTTP_TIMEOUT + 5
    poll = _POLL_SECONDS
    waited = False
    seen_version = stale_version
    while True:
        row = connection if fresh else Connection.objects.get(pk=connection.pk)
        fresh = False
        if seen_version is None:
            seen_version = row.token_version
        # A refresh someone made meanwhile produced this token: use it, rather than decide afresh that it is due
        # (with short-lived tokens it may already look due, and every waiter would refresh once more).
        if row.token_version != seen_version or (stale_version is None and not _needs_refresh(row)):
            return row
        if waited and (refusal := cache.get(_refusal_key(row))):
            # The refresh we waited for was refused: asking again with the same token would be refused too.
            raise ConnectionProblem(credentials_refused(refusal))
        now = timezone.now()
        mine = bool(lease_owner) and row.refresh_lease_owner == lease_owner
        if mine and row.refresh_lease_expires_at - now > timedelta(seconds=settings.SPLICE_HTTP_TIMEOUT + 5):
            # Claimed with its batch, with time left for the token request: no claim of its own.
            return _refresh_under_lease(row, lease_owner, oauth, session)
        owner = lease_owner or uuid.uuid4().hex
        # Try the (atomic) claim only when the lease looks free (or is ours, to extend): a waiter that writes on
        # every poll competes for the write lock with the one storing the new tokens.
        looks_free = mine or _lease_looks_free(row, now)
        claimable = _lease_free(now) | Q(refresh_lease_owner=lease_owner) if lease_owner else _lease_free(now)
        claimed = looks_free and Connection.objects.filter(
            claimable, pk=row.pk, token_version=row.token_version,
        ).update(refresh_lease_owner=owner, refresh_lease_expires_at=now + timedelta(seconds=_lease_seconds()))
        if claimed:
            return _refresh_under_lease(row, owner, oauth, session)
        if time.monotonic() > deadline:
            raise ConnectionProblem(Verdict(
                Kind.TRANSIENT, "Another worker is still refreshing this connection's token; try again shortly.",
                recommendations=RECOMMENDATIONS[Kind.TRANSIENT],
            ))
        time.sleep(random.uniform(poll / 2, poll))  # noqa: S311 (jitter, not a secret)
        poll = min(poll * 2, _MAX_POLL_SECONDS)
        waited = True


def _lease_free(now: datetime) -> Q:
    return Q(refresh_lease_expires_at__isnull=True) | Q(refresh_lease_expires_at__lt=now)


def _lease_looks_free(row: Connection, now: datetime) -> bool:
    """_lease_free, as the row was read."""
    return row.refresh_lease_expires_at is None or row.refresh_lease_expires_at < now


def refresh_leases_claim(connections: list[Connection], owner: str) -> None:
    """Claim in one statement the refresh leases of those connections whose access tokens have expired or are
    about to, while free (a health check, about to refresh many), and mark them so on the rows.
    ensure_fresh_token(lease_owner=owner) uses such a lease; refresh_leases_release lets go of those unused.
    If another caller took one of them or refreshed its token meanwhile (which one is unknown), all are let go
    of at once, and each is claimed on its own (or found refreshed) when its turn comes."""
    now = timezone.now()
    due = {row.pk: row for row in connections if _needs_refresh(row) and _lease_looks_free(row, now)}
    if not due:
        return
    until = now + timedelta(seconds=_lease_seconds())
    # Each at the token version read: a token refreshed meanwhile by someone else is not refreshed again.
    as_read = reduce(operator.or_, (Q(pk=row.pk, token_version=row.token_version) for row in due.values()))
    claimed = Connection.objects.filter(as_read, _lease_free(now)).update(
        refresh_lease_owner=owner, refresh_lease_expires_at=until)
    if claimed == len(due):
        for row in due.values():
            row.refresh_lease_owner, row.refresh_lease_expires_at = owner, until
    elif claimed:
        refresh_leases_release(list(due), owner)


def refresh_leases_release(ids: list[int], owner: str) -> None:
    """Let go of the refresh leases `owner` still holds among these connections."""
    Connection.objects.filter(pk__in=ids, refresh_lease_owner=owner).update(
        refresh_lease_owner="", refresh_lease_expires_at=None)


def _refusal_key(row: Connection) -> str:
    """Where a refused refresh of this token version is remembered for the callers waiting on it."""
    return f"splice:refresh-refused:{row.vault_id}:{row.token_version}"  # vault_id: never reused, unlike a pk


def _release(row: Connection, owner: str) -> None:
    refresh_leases_release([row.pk], owner)


def _refresh_under_lease(row: Connection, owner: str, oauth, session: requests.Session | None) -> Connection:
    method, profile_client = oauth
    try:
        check_credentials_may_go(row, method.token_url)  # the refresh token goes there
        if method.grant == "client_credentials":
            tokens = client_credentials_token(method, profile_client)
            used = None
        else:
            tokens, used = _refresh_with_fallback(row, method, profile_client, session)
    except BaseException as exc:
        if isinstance(exc, ConnectionProblem) and exc.verdict.kind == Kind.CREDENTIALS_INVALID:
            # Said before the lease goes, so no waiter claims it and asks the app again.
            cache.set(_refusal_key(row), exc.verdict.message, timeout=_lease_seconds() + settings.SPLICE_HTTP_TIMEOUT)
        _release(row, owner)
        raise
    update = {
        "access_token": sealed_for(row, "access_token", tokens.access_token),
        "refresh_token": sealed_for(row, "refresh_token", tokens.refresh_token or open_secret(row, "refresh_token")),
        "previous_refresh_token": sealed_for(row, "previous_refresh_token", used),
        "access_token_expires_at": tokens.access_expires_at,
        "access_token_refresh_margin": tokens.refresh_margin,
        "token_version": F("token_version") + 1,
        "refresh_lease_owner": "",
        "refresh_lease_expires_at": None,
    }
    if tokens.refresh_expires_at is not None:
        update["refresh_token_expires_at"] = tokens.refresh_expires_at
    written = Connection.objects.filter(pk=row.pk, refresh_lease_owner=owner, token_version=row.token_version) \
        .update(**update)
    if not written:
        # Our lease ran out and another caller refreshed meanwhile: its tokens win; use them.
        logger.warning("Token refresh for connection %s finished after its lease expired", row.pk)
        return Connection.objects.get(pk=row.pk)
    # The row as written, without reading it back.
    update["token_version"] = row.token_version + 1
    for field, value in update.items():
        setattr(row, field, value)
    return row


def _refresh_with_fallback(row: Connection, method, client, session) -> tuple[TokenSet, Secret | None]:
    """Refresh with the current refresh token; if the app says invalid_grant, try the previous one once
    (the new one may never have reached the app's storage). Returns the tokens and the refresh token used."""
    current = open_secret(row, "refresh_token")
    previous = open_secret(row, "previous_refresh_token")
    if current is None:
        raise ConnectionProblem(credentials_refused("The connection has no refresh token; re-authorize it."))
    try:
        return _refresh_request(method, client, current, session), current
    except ConnectionProblem as problem:
        if problem.verdict.kind != Kind.CREDENTIALS_INVALID or previous is None or previous == current:
            raise
        return _refresh_request(method, client, previous, session), previous


def credentials_refused(message: str) -> Verdict:
    """The verdict for credentials an app refused, with the seed's fixes."""
    return Verdict(Kind.CREDENTIALS_INVALID, message, recommendations=RECOMMENDATIONS[Kind.CREDENTIALS_INVALID])


def client_auth(method, client, *, fetch: bool) -> dict:
    """Client authentication for the token endpoint, as the spec's `client_auth` says."""
    client_id, client_secret = client
    secret = client_secret.reveal() if client_secret else ""
    if method.client_auth == "client_secret_basic":
        return {"auth": HTTPBasicAuth(client_id, secret)}
    if fetch:
        return {"include_client_id": True, "client_secret": secret}
    return {"client_id": client_id, "client_secret": secret}


@contextmanager
def token_endpoint_errors(*, refused: str | None = None):
    """Turn what a call to an app's OAuth endpoints raises into a ConnectionProblem with its verdict.

    OAuth 2.0 errors go through `status.classify_oauth_error`; with `refused` (OAuth 1.0a, whose library raises
    ValueError and OAuth1Error for an answer it refuses) those mean the credentials were refused; network
    failures are transient. No message names a token.
    """
    oauth1_refusals = (OAuth1Error, ValueError) if refused else ()
    try:
        yield
    except OAuth2Error as exc:
        raise ConnectionProblem(classify_oauth_error(exc.error, exc.status_code)) from None
    except oauth1_refusals as exc:
        raise ConnectionProblem(credentials_refused(f"{refused} ({type(exc).__name__}).")) from None
    except Exception as exc:
        raise ConnectionProblem(classify_exception(exc)) from None


def _refresh_request(method, client, refresh_token: Secret, session: requests.Session | None) -> TokenSet:
    """The refresh grant (RFC 6749 §6): oauthlib writes the body and reads the answer, as requests-oauthlib's
    refresh_token does, but through `session` (kept-alive connections) rather than a new session per call."""
    client_id, _ = client
    oauth = WebApplicationClient(client_id)
    options = client_auth(method, client, fetch=False)
    auth = options.pop("auth", None)
    http = session or new_session()
    try:
        with token_endpoint_errors():
            if not is_secure_transport(method.token_url):
                raise InsecureTransportError()
            body = oauth.prepare_refresh_body(refresh_token=refresh_token.reveal(), **options)
            response = http.post(method.token_url, data=dict(urldecode(body)), auth=auth,
                                 headers={"Accept": "application/json"}, timeout=settings.SPLICE_HTTP_TIMEOUT,
                                 allow_redirects=False)
            token = oauth.parse_request_body_response(response.text)
    finally:
        if session is None:
            http.close()
    return token_set_from_response(token, refresh_expires_in=method.refresh_token_expires_in)


def client_credentials_token(method, client) -> TokenSet:
    """A new access token with the client credentials grant."""
    client_id, _ = client
    oauth = oauth2_session(client=BackendApplicationClient(client_id=client_id))
    with token_endpoint_errors():
        token = oauth.fetch_token(
            method.token_url, scope=method.scope_string() or None, timeout=settings.SPLICE_HTTP_TIMEOUT,
            **client_auth(method, client, fetch=True),
        )
    return token_set_from_response(token)


def revoke_tokens(row: Connection, *, oauth) -> str:
    """Ask the app to revoke the connection's tokens (RFC 7009): the refresh token, then the access token.
    Returns what a person reads in the audit log: whether the app confirmed it. Never raises: a connection
    is disconnected whether or not the app could be told."""
    method, client = oauth
    answers = []
    try:
        tokens = [(hint, secret) for hint in ("refresh_token", "access_token") if (secret := open_secret(row, hint))]
        if not tokens:
            return "nothing to revoke"
        check_credentials_may_go(row, method.revoke_url)
        options = client_auth(method, client, fetch=False)
        auth = options.pop("auth", None)
        with new_session() as http:
            for hint, secret in tokens:
                response = http.post(method.revoke_url, data={"token": secret.reveal(), "token_type_hint": hint,
                                                              **options},
                                     auth=auth, headers={"Accept": "application/json"}, allow_redirects=False)
                answers.append(response.status_code)
    except ConnectionProblem as problem:
        return f"not revoked: {problem.verdict.message}"
    except VaultError:
        return "not revoked: Splice cannot open the stored tokens"
    except (requests.RequestException, EgressRefused) as exc:
        return f"not revoked: {classify_exception(exc).message}"
    except Exception:  # noqa: BLE001 (whatever fails, the connection is disconnected all the same)
        logger.exception("Revoking the tokens of connection %s failed", row.pk)
        return "not revoked: Splice could not ask the app"
    if all(status == 200 for status in answers):
        return "revoked at the app"
    return f"not confirmed by the app (HTTP {', '.join(map(str, answers))})"

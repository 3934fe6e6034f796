"""Authorizing a connection whose auth method sends the browser to the app (OAuth 2.0 authorization code,
OAuth 1.0a) or needs no person at all (OAuth 2.0 client credentials). What each method does at each step is its
class's (connections.auth); this module keeps the flow around them.

What the callback needs (state, PKCE verifier, OAuth 1.0a request token, the origins being authorized, the
expected issuer) stays on the server in an `OAuthFlow` row: single use, bound to the user and session that
began it, expiring after SPLICE_OAUTH_FLOW_TTL seconds. The redirect URI comes from SPLICE_BASE_URL, never
from the request. As RFC 9700 asks: PKCE S256 on every authorization-code flow, and the RFC 9207 `iss` of the
authorization response checked against the issuer Splice sent the person to.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from connections.auth import Authorizing, auth_for
from connections.auth.oauth1 import REQUEST_SECRET_FIELD
from connections.auth.oauth2 import VERIFIER_FIELD
from connections.catalog import InvalidValue
from connections.client import oauth_client_for, resolved_auth, spec_for
from connections.models import Connection, OAuthFlow, OAuthProfile
from connections.origins import origins_for_settings
from connections.problems import RECOMMENDATIONS, ConnectionProblem, Kind, Verdict
from connections.services import audit_authorization_failed, connection_store_tokens
from connections.status import CheckOutcome, classify_settings_error, first_authorization_verdict
from connections.tokens import credentials_refused

__all__ = [
    "AdminSetup",
    "AuthorizationRefused",
    "admin_setup_for",
    "apps_needing_setup",
    "connection_authorize_begin",
    "connection_authorize_client_credentials",
    "connection_authorize_complete",
    "oauth_redirect_uri",
]

# The field names the flow's sealed values go by, under the names rotate_credential_keys imports them by.
_VERIFIER_FIELD, _REQUEST_SECRET_FIELD = VERIFIER_FIELD, REQUEST_SECRET_FIELD


class AuthorizationRefused(Exception):
    """A callback that does not belong to a flow this user and session began (or came too late). Nothing changed."""


def oauth_redirect_uri() -> str:
    return f"{settings.SPLICE_BASE_URL}{reverse('connection_oauth_callback')}"


@dataclass(frozen=True)
class AdminSetup:
    """What an admin must do before anyone can connect an app whose auth method needs an OAuth client: register
    Splice at the app with this redirect URI, then give Splice the client id and secret it gets there."""

    app_name: str
    method_label: str
    redirect_uri: str
    env_client_id: str
    env_client_secret: str


def _configured_apps() -> set[str]:
    """The connector keys that have a default OAuth profile (the one new connections use)."""
    return set(OAuthProfile.objects.filter(is_default=True).values_list("connector_key", flat=True))


def _needs_client(method) -> bool:
    return auth_for(method.type).needs_oauth_client


def admin_setup_for(spec, method, *, configured: set[str] | None = None) -> AdminSetup | None:
    """How to set up `method` of `spec` when it needs an OAuth client the deployment has not registered (no
    default OAuth profile for the app); None when it needs none or has one."""
    if not _needs_client(method):
        return None
    if spec.primary_key in (_configured_apps() if configured is None else configured):
        return None
    env = f"SPLICE_OAUTH_{spec.primary_key.upper()}_CLIENT"
    return AdminSetup(app_name=spec.name, method_label=method.label, redirect_uri=oauth_redirect_uri(),
                      env_client_id=f"{env}_ID", env_client_secret=f"{env}_SECRET")


def apps_needing_setup(specs) -> dict[str, str]:
    """For the catalog's and the wizard's tiles, in one query: {app key: "all"} when no way of signing in to it
    works before an admin registers an OAuth client, {app key: "some"} when only some of its methods need that."""
    configured = _configured_apps()
    needing = {}
    for spec in specs:
        waiting = [admin_setup_for(spec, method, configured=configured) is not None for method in spec.auth]
        if any(waiting):
            needing[spec.key] = "all" if all(waiting) else "some"
    return needing


def _session_hash(session_key: str | None) -> str:
    return hashlib.sha256((session_key or "").encode()).hexdigest()


def _origins(connection: Connection) -> list[str]:
    try:
        return origins_for_settings(connection)
    except InvalidValue as exc:
        raise ConnectionProblem(classify_settings_error(exc)) from None


def connection_authorize_begin(*, connection: Connection, acting_user: User, session_key: str | None) -> str:
    """Start authorizing in the browser; returns the app's authorization URL to redirect to.

    Raises ConnectionProblem when the app cannot be reached (OAuth 1.0a asks it for a request token first).
    """
    spec = spec_for(connection)
    method = resolved_auth(connection, spec)
    auth = auth_for(method.type)
    if not auth.redirects(method):
        raise ValueError(f"{method.label} connections are not authorized in a browser")
    client = oauth_client_for(connection, method=method)
    flow = OAuthFlow(
        state=secrets.token_urlsafe(32), connection=connection, user=acting_user,
        session_key_hash=_session_hash(session_key), reauthorize=connection.authorized_at is not None,
        origins=_origins(connection), expires_at=timezone.now() + timedelta(seconds=settings.SPLICE_OAUTH_FLOW_TTL),
    )
    url = auth.begin(Authorizing(connection=connection, method=method, spec=spec, client=client, flow=flow,
                                 redirect_uri=oauth_redirect_uri()))
    flow.save()
    # A connection the wizard made waits as long as the flow may still come back, then goes.
    Connection.objects.filter(pk=connection.pk, pending_until__lt=flow.expires_at).update(
        pending_until=flow.expires_at)
    return url


def _claim(state: str, acting_user: User, session_key: str | None) -> OAuthFlow:
    """Use up the flow in one atomic UPDATE: wrong, reused, expired or someone else's state matches nothing."""
    now = timezone.now()
    claimed = OAuthFlow.objects.filter(
        state=state, user=acting_user, session_key_hash=_session_hash(session_key), used_at__isnull=True,
        expires_at__gt=now,
    ).update(used_at=now)
    if not claimed:
        raise AuthorizationRefused(
            "This authorization response does not match one you started here, or it expired or was already used. "
            "Start the authorization again."
        )
    return OAuthFlow.objects.select_related("connection").get(state=state)


def connection_authorize_complete(*, params: dict, acting_user: User, session_key: str | None,
                                  ip: str | None = None) -> tuple[Connection, CheckOutcome]:
    """Finish a flow from the app's redirect (its query parameters). Raises AuthorizationRefused for a
    callback that is not this user's pending flow; otherwise returns the connection and the test outcome."""
    state = params.get("state") or ""
    if not state:
        raise AuthorizationRefused("The app's response has no state parameter. Start the authorization again.")
    with transaction.atomic():
        flow = _claim(state, acting_user, session_key)
    connection = flow.connection
    try:
        spec = spec_for(connection)
        method = resolved_auth(connection, spec)
        auth = auth_for(method.type)
        auth.check_callback(params, flow)
        declined = params.get("error") or ("denied" in params and "access_denied")
        if declined:
            raise ConnectionProblem(_declined(str(declined), params.get("error_description")))
        if _origins(connection) != flow.origins:
            raise ConnectionProblem(credentials_refused(
                "The connection's addresses changed while it was being authorized. Start the authorization again."))
        tokens, token_secret = auth.exchange(
            Authorizing(connection=connection, method=method, spec=spec, flow=flow, redirect_uri=oauth_redirect_uri(),
                        client=oauth_client_for(connection, method=method)),
            params,
        )
    except ConnectionProblem as problem:
        verdict = _attempt_verdict(problem.verdict, connection)
        audit_authorization_failed(connection=connection, verdict=verdict, acting_user=acting_user, ip=ip)
        return connection, CheckOutcome(ok=False, verdict=verdict)
    outcome = connection_store_tokens(connection=connection, acting_user=acting_user, tokens=tokens,
                                      token_secret=token_secret, origins=flow.origins, ip=ip)
    connection.refresh_from_db()
    return connection, outcome


def _declined(error: str, description: str | None) -> Verdict:
    if error == "access_denied":
        message = "Access was declined on the app's consent page, so Splice was not connected."
    else:
        message = f"The app did not authorize Splice ({error[:80]})."
    return Verdict(Kind.OTHER, message, recommendations=[
        "Authorize again and allow access on the app's consent page.",
        RECOMMENDATIONS[Kind.INSUFFICIENT_PERMISSIONS][0],
    ])


def connection_authorize_client_credentials(*, connection: Connection, acting_user: User,
                                            ip: str | None = None) -> CheckOutcome:
    """Authorize without a browser or a form (OAuth 2.0 client credentials): get a token and test it."""
    try:
        method = resolved_auth(connection)
        origins = _origins(connection)
        tokens = auth_for(method.type).fetch_tokens(method, oauth_client_for(connection, method=method))
    except ConnectionProblem as problem:
        verdict = _attempt_verdict(problem.verdict, connection)
        audit_authorization_failed(connection=connection, verdict=verdict, acting_user=acting_user, ip=ip)
        return CheckOutcome(ok=False, verdict=verdict)
    return connection_store_tokens(connection=connection, acting_user=acting_user, tokens=tokens, origins=origins,
                                   ip=ip)


def _attempt_verdict(verdict: Verdict, connection: Connection) -> Verdict:
    """An authorization someone is trying now says what went wrong this time (status.first_authorization_verdict)."""
    spec = spec_for(connection)
    return first_authorization_verdict(verdict, method=spec.auth_method(connection.auth_method), app=spec.name)

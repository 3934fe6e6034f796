"""OAuth authorization flows: 2.0 authorization code with PKCE (S256), 2.0 client credentials, and
three-legged OAuth 1.0a, through requests-oauthlib.

What the callback needs (state, PKCE verifier, OAuth 1.0a request token) stays on the server in an
`OAuthFlow` row: single use, bound to the user and session that began it, expiring after
SPLICE_OAUTH_FLOW_TTL seconds. The redirect URI comes from SPLICE_BASE_URL, never from the request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from requests_oauthlib import OAuth1Session, OAuth2Session

from accounts.models import User
from connections.client import oauth_client_for, spec_for
from connections.credentials import get_vault, row_context
from connections.models import AuditEvent, Connection, OAuthFlow
from connections.problems import RECOMMENDATIONS, ConnectionProblem, Kind, Verdict
from connections.services import TestOutcome, audit_record, connection_store_tokens
from connections.tokens import (
    client_auth,
    client_credentials_token,
    credentials_refused,
    token_endpoint_errors,
    token_set_from_response,
)
from connections.vault import Secret

__all__ = [
    "AuthorizationRefused",
    "connection_authorize_begin",
    "connection_authorize_client_credentials",
    "connection_authorize_complete",
    "oauth_redirect_uri",
]

_VERIFIER_FIELD = "oauth_flow.code_verifier"
_REQUEST_SECRET_FIELD = "oauth_flow.request_token_secret"


class AuthorizationRefused(Exception):
    """A callback that does not belong to a flow this user and session began (or came too late). Nothing changed."""


def oauth_redirect_uri() -> str:
    return f"{settings.SPLICE_BASE_URL}{reverse('connection_oauth_callback')}"


def _session_hash(session_key: str | None) -> str:
    return hashlib.sha256((session_key or "").encode()).hexdigest()


def _resolved_method(connection: Connection):
    return spec_for(connection).resolve_auth(
        connection.auth_method, connection.settings, connection.environment,
        allow_insecure_loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK,
    )


def _seal(connection: Connection, field: str, value: str) -> str:
    if not connection.data_key:
        connection.data_key = get_vault().new_data_key(row_context(connection))
        Connection.objects.filter(pk=connection.pk, data_key="").update(data_key=connection.data_key)
        connection.refresh_from_db(fields=["data_key"])
    return get_vault().seal(value, wrapped_key=connection.data_key, context=row_context(connection), field=field)


def _open(connection: Connection, field: str, sealed: str) -> Secret:
    return get_vault().open(sealed, wrapped_key=connection.data_key, context=row_context(connection), field=field)


def _pkce_pair() -> tuple[str, str]:
    """RFC 7636: a 64-character verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def connection_authorize_begin(*, connection: Connection, acting_user: User, session_key: str | None) -> str:
    """Start authorizing in the browser; returns the app's authorization URL to redirect to.

    Raises ConnectionProblem when the app cannot be reached (OAuth 1.0a asks it for a request token first).
    """
    method = _resolved_method(connection)
    client_id, client_secret = oauth_client_for(connection)
    state = secrets.token_urlsafe(32)
    flow = OAuthFlow(
        state=state, connection=connection, user=acting_user, session_key_hash=_session_hash(session_key),
        reauthorize=connection.authorized_at is not None,
        expires_at=timezone.now() + timedelta(seconds=settings.SPLICE_OAUTH_FLOW_TTL),
    )
    if method.type == "oauth2":
        if method.grant != "authorization_code":
            raise ValueError("client-credentials connections are authorized without a browser")
        verifier, challenge = _pkce_pair()
        flow.code_verifier = _seal(connection, _VERIFIER_FIELD, verifier)
        scopes = [*method.scopes.default, *connection.scopes]
        oauth = OAuth2Session(client_id, redirect_uri=oauth_redirect_uri(), scope=scopes or None, state=state)
        extra = {"code_challenge": challenge, "code_challenge_method": "S256"} if method.pkce else {}
        url, _ = oauth.authorization_url(method.authorize_url, **extra, **method.authorize_params)
    elif method.type == "oauth1":
        oauth = _oauth1_session(method, client_id, client_secret, callback_uri=f"{oauth_redirect_uri()}?state={state}")
        with token_endpoint_errors(refused="The app refused Splice's request token"):
            request_token = oauth.fetch_request_token(method.request_token_url, timeout=settings.SPLICE_HTTP_TIMEOUT)
        flow.request_token = request_token["oauth_token"]
        flow.request_token_secret = _seal(connection, _REQUEST_SECRET_FIELD, request_token["oauth_token_secret"])
        url = oauth.authorization_url(method.authorize_url, **method.authorize_params)
    else:
        raise ValueError(f"{method.type} connections are authorized with a credentials form")
    flow.save()
    return url


def _oauth1_session(method, client_id, client_secret, **kwargs) -> OAuth1Session:
    rsa = method.signature_method == "RSA-SHA1"
    return OAuth1Session(
        client_id,
        client_secret=None if rsa else (client_secret.reveal() if client_secret else None),
        signature_method=method.signature_method,
        rsa_key=client_secret.reveal() if rsa and client_secret else None,
        **kwargs,
    )


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
                                  ip: str | None = None) -> tuple[Connection, TestOutcome]:
    """Finish a flow from the app's redirect (its query parameters). Raises AuthorizationRefused for a
    callback that is not this user's pending flow; otherwise returns the connection and the test outcome."""
    state = params.get("state") or ""
    if not state:
        raise AuthorizationRefused("The app's response has no state parameter. Start the authorization again.")
    with transaction.atomic():
        flow = _claim(state, acting_user, session_key)
    connection = flow.connection
    method = _resolved_method(connection)
    try:
        declined = params.get("error") or ("denied" in params and "access_denied")
        if declined:
            raise ConnectionProblem(_declined(str(declined), params.get("error_description")))
        client_id, client_secret = oauth_client_for(connection)
        if method.type == "oauth2":
            tokens = _exchange_code(method, (client_id, client_secret), params, connection, flow)
            token_secret = None
        else:
            tokens, token_secret = _exchange_verifier(method, (client_id, client_secret), params, connection, flow)
    except ConnectionProblem as problem:
        audit_record(connection=connection, action=AuditEvent.Action.AUTHORIZATION_FAILED, actor=acting_user, ip=ip,
                     summary=problem.verdict.message, details={"reason": problem.verdict.kind})
        return connection, TestOutcome(ok=False, verdict=problem.verdict)
    outcome = connection_store_tokens(connection=connection, acting_user=acting_user, tokens=tokens,
                                      token_secret=token_secret, ip=ip)
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


def _exchange_code(method, client, params: dict, connection: Connection, flow: OAuthFlow):
    code = params.get("code")
    if not code:
        raise ConnectionProblem(credentials_refused("The app's response has no authorization code."))
    client_id, _ = client
    oauth = OAuth2Session(client_id, redirect_uri=oauth_redirect_uri(), state=flow.state)
    extra = {"code_verifier": _open(connection, _VERIFIER_FIELD, flow.code_verifier).reveal()} if method.pkce else {}
    with token_endpoint_errors():
        token = oauth.fetch_token(method.token_url, code=code, timeout=settings.SPLICE_HTTP_TIMEOUT,
                                  **client_auth(method, client, fetch=True), **extra)
    return token_set_from_response(token, refresh_expires_in=method.refresh_token_expires_in)


def _exchange_verifier(method, client, params: dict, connection: Connection, flow: OAuthFlow):
    if params.get("oauth_token") != flow.request_token or not params.get("oauth_verifier"):
        raise ConnectionProblem(
            credentials_refused("The app's response does not match the request token Splice asked for."))
    client_id, client_secret = client
    oauth = _oauth1_session(
        method, client_id, client_secret, resource_owner_key=flow.request_token,
        resource_owner_secret=_open(connection, _REQUEST_SECRET_FIELD, flow.request_token_secret).reveal(),
        verifier=params["oauth_verifier"],
    )
    with token_endpoint_errors(refused="The app refused the access token request"):
        token = oauth.fetch_access_token(method.access_token_url, timeout=settings.SPLICE_HTTP_TIMEOUT)
    tokens = token_set_from_response({"access_token": token["oauth_token"]})
    return tokens, Secret(token["oauth_token_secret"])


def connection_authorize_client_credentials(*, connection: Connection, acting_user: User,
                                            ip: str | None = None) -> TestOutcome:
    """OAuth 2.0 client credentials: no browser; get a token and test it."""
    method = _resolved_method(connection)
    try:
        tokens = client_credentials_token(method, oauth_client_for(connection))
    except ConnectionProblem as problem:
        audit_record(connection=connection, action=AuditEvent.Action.AUTHORIZATION_FAILED, actor=acting_user, ip=ip,
                     summary=problem.verdict.message, details={"reason": problem.verdict.kind})
        return TestOutcome(ok=False, verdict=problem.verdict)
    return connection_store_tokens(connection=connection, acting_user=acting_user, tokens=tokens, ip=ip)

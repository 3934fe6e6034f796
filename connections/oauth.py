"""OAuth authorization flows: 2.0 authorization code with PKCE (S256), 2.0 client credentials, and
three-legged OAuth 1.0a, through requests-oauthlib.

What the callback needs (state, PKCE verifier, OAuth 1.0a request token, the origins being authorized, the
expected issuer) stays on the server in an `OAuthFlow` row: single use, bound to the user and session that
began it, expiring after SPLICE_OAUTH_FLOW_TTL seconds. The redirect URI comes from SPLICE_BASE_URL, never
from the request. As RFC 9700 asks: PKCE S256 on every authorization-code flow, and the RFC 9207 `iss` of the
authorization response checked against the issuer Splice sent the person to.
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
from requests_oauthlib import OAuth1Session

from accounts.models import User
from connections.catalog import InvalidValue
from connections.client import oauth_client_for, resolved_auth, spec_for
from connections.credentials import get_vault, row_context
from connections.http import new_session, oauth1_session, oauth2_session
from connections.models import AuditEvent, Connection, OAuthFlow
from connections.origins import origins_for_settings
from connections.problems import RECOMMENDATIONS, ConnectionProblem, Kind, Verdict, classify_exception
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
    return resolved_auth(connection)


def _origins(connection: Connection) -> list[str]:
    try:
        return origins_for_settings(connection)
    except InvalidValue as exc:
        from connections.client import settings_problem

        raise ConnectionProblem(settings_problem(exc)) from None


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
    client_id, client_secret = oauth_client_for(connection, method=method)
    state = secrets.token_urlsafe(32)
    flow = OAuthFlow(
        state=state, connection=connection, user=acting_user, session_key_hash=_session_hash(session_key),
        reauthorize=connection.authorized_at is not None, origins=_origins(connection),
        expires_at=timezone.now() + timedelta(seconds=settings.SPLICE_OAUTH_FLOW_TTL),
    )
    if method.type == "oauth2":
        if method.grant != "authorization_code":
            raise ValueError("client-credentials connections are authorized without a browser")
        flow.issuer, flow.issuer_required = _expected_issuer(connection, method)
        # PKCE with S256 whatever the spec says (RFC 9700 §2.1.1); servers that do not know it ignore it.
        verifier, challenge = _pkce_pair()
        flow.code_verifier = _seal(connection, _VERIFIER_FIELD, verifier)
        scopes = [*method.scopes.default, *connection.scopes]
        oauth = oauth2_session(client_id, redirect_uri=oauth_redirect_uri(), scope=scopes or None, state=state)
        url, _ = oauth.authorization_url(method.authorize_url, code_challenge=challenge, code_challenge_method="S256",
                                         **method.authorize_params)
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


def _expected_issuer(connection: Connection, method) -> tuple[str, bool]:
    """RFC 9207: the issuer the authorization response must name (the spec's, else its metadata's), and whether
    the response must carry `iss` (the metadata's authorization_response_iss_parameter_supported)."""
    spec = spec_for(connection)
    issuer = _optional_url(spec, method.issuer, connection)
    metadata_url = _optional_url(spec, method.metadata_url, connection)
    if not metadata_url:
        return issuer, False
    try:
        with new_session() as session:
            response = session.get(metadata_url, headers={"Accept": "application/json"}, allow_redirects=False)
        metadata = response.json() if response.status_code == 200 else None
    except Exception as exc:  # noqa: BLE001 (any failure to read it is the app being unreachable)
        raise ConnectionProblem(classify_exception(exc, app=spec.name)) from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("issuer"), str):
        raise ConnectionProblem(Verdict(
            Kind.TRANSIENT, f"{spec.name}'s authorization server metadata could not be read "
                            f"(HTTP {response.status_code}).", recommendations=RECOMMENDATIONS[Kind.TRANSIENT]))
    return issuer or metadata["issuer"], metadata.get("authorization_response_iss_parameter_supported") is True


def _optional_url(spec, template: str | None, connection: Connection) -> str:
    """A URL template of the spec resolved with the connection's settings; "" when it or a setting is unset."""
    if not template:
        return ""
    try:
        return spec.resolve_url(template, connection.settings,
                                allow_insecure_loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK)
    except InvalidValue:
        return ""


def _check_issuer(params: dict, flow: OAuthFlow) -> None:
    """RFC 9207 §2.4: an `iss` that is not the issuer Splice sent the person to is a mix-up; refuse it, and
    refuse a response without `iss` from a server that says it always sends one."""
    iss = params.get("iss")
    if iss is not None and flow.issuer and iss != flow.issuer:
        raise ConnectionProblem(credentials_refused(
            "The authorization response names another authorization server (iss) than the one Splice sent you "
            "to, so Splice did not use it. Start the authorization again."))
    if iss is None and flow.issuer_required:
        raise ConnectionProblem(credentials_refused(
            "The authorization response has no iss parameter although the app's authorization server always "
            "sends one, so Splice did not use it. Start the authorization again."))


def _oauth1_session(method, client_id, client_secret, **kwargs) -> OAuth1Session:
    rsa = method.signature_method == "RSA-SHA1"
    return oauth1_session(
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
    try:
        method = _resolved_method(connection)
        if method.type == "oauth2":
            _check_issuer(params, flow)
        declined = params.get("error") or ("denied" in params and "access_denied")
        if declined:
            raise ConnectionProblem(_declined(str(declined), params.get("error_description")))
        if _origins(connection) != flow.origins:
            raise ConnectionProblem(credentials_refused(
                "The connection's addresses changed while it was being authorized. Start the authorization again."))
        client_id, client_secret = oauth_client_for(connection, method=method)
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


def _exchange_code(method, client, params: dict, connection: Connection, flow: OAuthFlow):
    code = params.get("code")
    if not code:
        raise ConnectionProblem(credentials_refused("The app's response has no authorization code."))
    client_id, _ = client
    oauth = oauth2_session(client_id, redirect_uri=oauth_redirect_uri(), state=flow.state)
    verifier = _open(connection, _VERIFIER_FIELD, flow.code_verifier).reveal()
    with token_endpoint_errors():
        token = oauth.fetch_token(method.token_url, code=code, timeout=settings.SPLICE_HTTP_TIMEOUT,
                                  code_verifier=verifier, **client_auth(method, client, fetch=True))
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
    try:
        method = _resolved_method(connection)
        origins = _origins(connection)
        tokens = client_credentials_token(method, oauth_client_for(connection, method=method))
    except ConnectionProblem as problem:
        audit_record(connection=connection, action=AuditEvent.Action.AUTHORIZATION_FAILED, actor=acting_user, ip=ip,
                     summary=problem.verdict.message, details={"reason": problem.verdict.kind})
        return TestOutcome(ok=False, verdict=problem.verdict)
    return connection_store_tokens(connection=connection, acting_user=acting_user, tokens=tokens, origins=origins,
                                   ip=ip)

"""OAuth 2.0: the authorization code grant with PKCE (S256) and the RFC 9207 issuer check, the client credentials
grant, the access token on every request, refresh (connections.tokens) and revocation (RFC 7009)."""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings

from connections.auth.base import Auth, Authorizing, flow_open, flow_seal, required_secret
from connections.catalog import InvalidValue
from connections.http import new_session, oauth2_session
from connections.problems import RECOMMENDATIONS, ConnectionProblem, Kind, Verdict
from connections.status import classify_exception
from connections.tokens import (
    client_auth,
    client_credentials_token,
    credentials_refused,
    revoke_tokens,
    token_endpoint_errors,
    token_set_from_response,
)

__all__ = ["VERIFIER_FIELD", "OAuth2Auth"]

VERIFIER_FIELD = "oauth_flow.code_verifier"  # the field name the PKCE verifier is sealed under


class OAuth2Auth(Auth):
    type = "oauth2"
    label = "OAuth 2.0"
    stores = ("access_token", "refresh_token", "previous_refresh_token")
    refreshes = True
    needs_oauth_client = True

    def redirects(self, method) -> bool:
        return method.grant == "authorization_code"

    def scopes(self, method):
        return method.scopes

    def sign(self, *, method, connection, headers, params, oauth_client):
        name, value = method.authorization_header(required_secret(connection, "access_token").reveal())
        headers[name] = value
        return None

    def begin(self, authorizing: Authorizing) -> str:
        method, connection, flow = authorizing.method, authorizing.connection, authorizing.flow
        if method.grant != "authorization_code":
            raise ValueError("client-credentials connections are authorized without a browser")
        flow.issuer, flow.issuer_required = _expected_issuer(authorizing)
        # PKCE with S256 whatever the spec says (RFC 9700 §2.1.1); servers that do not know it ignore it.
        verifier, challenge = _pkce_pair()
        flow.code_verifier = flow_seal(connection, VERIFIER_FIELD, verifier)
        scopes = [*method.scopes.default, *connection.scopes]
        client_id, _ = authorizing.client
        oauth = oauth2_session(client_id, redirect_uri=authorizing.redirect_uri, scope=scopes or None,
                               state=flow.state)
        url, _ = oauth.authorization_url(method.authorize_url, code_challenge=challenge, code_challenge_method="S256",
                                         **method.authorize_params)
        return url

    def check_callback(self, params, flow) -> None:
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

    def exchange(self, authorizing: Authorizing, params):
        code = params.get("code")
        if not code:
            raise ConnectionProblem(credentials_refused("The app's response has no authorization code."))
        method, flow = authorizing.method, authorizing.flow
        client_id, _ = authorizing.client
        oauth = oauth2_session(client_id, redirect_uri=authorizing.redirect_uri, state=flow.state)
        verifier = flow_open(authorizing.connection, VERIFIER_FIELD, flow.code_verifier).reveal()
        with token_endpoint_errors():
            token = oauth.fetch_token(method.token_url, code=code, timeout=settings.SPLICE_HTTP_TIMEOUT,
                                      code_verifier=verifier, **client_auth(method, authorizing.client, fetch=True))
        return token_set_from_response(token, refresh_expires_in=method.refresh_token_expires_in), None

    def fetch_tokens(self, method, client):
        if method.grant != "client_credentials":
            raise ValueError("authorization-code connections are authorized in a browser")
        return client_credentials_token(method, client)

    def revoke(self, connection, method, *, oauth_client) -> str:
        if not method.revoke_url:
            return ""
        return revoke_tokens(connection, oauth=(method, oauth_client()))


def _pkce_pair() -> tuple[str, str]:
    """RFC 7636: a 64-character verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _expected_issuer(authorizing: Authorizing) -> tuple[str, bool]:
    """RFC 9207: the issuer the authorization response must name (the spec's, else its metadata's), and whether
    the response must carry `iss` (the metadata's authorization_response_iss_parameter_supported)."""
    spec, method, connection = authorizing.spec, authorizing.method, authorizing.connection
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


def _optional_url(spec, template: str | None, connection) -> str:
    """A URL template of the spec resolved with the connection's settings; "" when it or a setting is unset."""
    if not template:
        return ""
    try:
        return spec.resolve_url(template, connection.settings,
                                allow_insecure_loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK)
    except InvalidValue:
        return ""

"""OAuth 1.0a, three-legged: a request token, the person allows access at the app, the verifier is exchanged for
an access token and secret, and every request is signed (HMAC-SHA1, HMAC-SHA256, RSA-SHA1 or PLAINTEXT)."""

from __future__ import annotations

from django.conf import settings
from requests_oauthlib import OAuth1

from connections.auth.base import Auth, Authorizing, OAuthClient, flow_open, flow_seal, required_secret
from connections.credentials import open_secret
from connections.http import oauth1_session
from connections.problems import ConnectionProblem
from connections.tokens import credentials_refused, token_endpoint_errors, token_set_from_response
from connections.vault import Secret

__all__ = ["REQUEST_SECRET_FIELD", "OAuth1Auth"]

REQUEST_SECRET_FIELD = "oauth_flow.request_token_secret"  # the field name the request-token secret is sealed under


class OAuth1Auth(Auth):
    type = "oauth1"
    label = "OAuth 1.0a"
    stores = ("access_token", "token_secret")
    needs_oauth_client = True
    signs_with_client_secret = True

    def redirects(self, method) -> bool:
        return True

    def client_secret_urls(self, method) -> list[str]:
        # Every request is signed with the client secret (PLAINTEXT sends it as it is): the API's too.
        return [*super().client_secret_urls(method), method.base_url]

    def sign(self, *, method, connection, headers, params, oauth_client):
        client = oauth_client()
        token, token_secret = required_secret(connection, "access_token"), open_secret(connection, "token_secret")
        return OAuth1(**_signer(method, client), resource_owner_key=token.reveal(),
                      resource_owner_secret=token_secret.reveal() if token_secret else None)

    def begin(self, authorizing: Authorizing) -> str:
        method, flow = authorizing.method, authorizing.flow
        oauth = oauth1_session(**_signer(method, authorizing.client),
                               callback_uri=f"{authorizing.redirect_uri}?state={flow.state}")
        with token_endpoint_errors(refused="The app refused Splice's request token"):
            request_token = oauth.fetch_request_token(method.request_token_url, timeout=settings.SPLICE_HTTP_TIMEOUT)
        flow.request_token = request_token["oauth_token"]
        flow.request_token_secret = flow_seal(authorizing.connection, REQUEST_SECRET_FIELD,
                                              request_token["oauth_token_secret"])
        return oauth.authorization_url(method.authorize_url, **method.authorize_params)

    def exchange(self, authorizing: Authorizing, params):
        flow = authorizing.flow
        if params.get("oauth_token") != flow.request_token or not params.get("oauth_verifier"):
            raise ConnectionProblem(
                credentials_refused("The app's response does not match the request token Splice asked for."))
        oauth = oauth1_session(
            **_signer(authorizing.method, authorizing.client), resource_owner_key=flow.request_token,
            resource_owner_secret=flow_open(authorizing.connection, REQUEST_SECRET_FIELD,
                                            flow.request_token_secret).reveal(),
            verifier=params["oauth_verifier"],
        )
        with token_endpoint_errors(refused="The app refused the access token request"):
            token = oauth.fetch_access_token(authorizing.method.access_token_url, timeout=settings.SPLICE_HTTP_TIMEOUT)
        return token_set_from_response({"access_token": token["oauth_token"]}), Secret(token["oauth_token_secret"])


def _signer(method, client: OAuthClient) -> dict:
    """The client half of an OAuth 1.0a signature, for requests-oauthlib's OAuth1 and OAuth1Session alike.
    RSA-SHA1 signs with a private key, which the OAuth profile keeps in its (sealed) client secret."""
    client_id, client_secret = client
    secret = client_secret.reveal() if client_secret else None
    rsa = method.signature_method == "RSA-SHA1"
    return {"client_key": client_id, "client_secret": None if rsa else secret,
            "signature_method": method.signature_method, "rsa_key": secret if rsa else None}

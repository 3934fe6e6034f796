"""Connections against the suite's loopback servers: the `loopback` connector (tests/connectors, loaded
through SPLICE_CONNECTOR_DIRS by tests/settings.py) and helpers to make connections of each auth method."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

# The loopback spec's OAuth 1.0a auth method for each signature method (tests/connectors/loopback.yaml).
METHODS = {
    "HMAC-SHA1": "oauth1",
    "HMAC-SHA256": "oauth1_sha256",
    "RSA-SHA1": "oauth1_rsa",
    "PLAINTEXT": "oauth1_plaintext",
}


def callback_params(callback: str) -> dict[str, str]:
    """The query of the provider's redirect to Splice's callback, as the callback view gets it."""
    return dict(parse_qsl(urlsplit(callback).query))


@pytest.fixture
def oauth2_connection(project, builder, oauth2_server):
    """make(auth_method="oauth2", **overrides) -> a not yet authorized OAuth 2.0 loopback connection."""
    from connections import services

    services.oauth_profile_create(connector_key="loopback", name="Loopback app", client_id=oauth2_server.client_id,
                                  client_secret=oauth2_server.client_secret, acting_user=builder, is_default=True,
                                  endpoints=oauth2_server.endpoints)

    def make(name: str = "My Loopback account", **overrides):
        values = {"base_url": oauth2_server.base_url, "authorize_url": oauth2_server.authorize_url,
                  "token_url": oauth2_server.token_url}
        return services.connection_create(project=project, connector_key="loopback", name=name, acting_user=builder,
                                          auth_method=overrides.pop("auth_method", "oauth2"), settings_values=values,
                                          **overrides)

    return make


@pytest.fixture
def authorize_oauth2(oauth2_server, builder):
    """authorize(connection, email=...) -> (connection, outcome): the whole code + PKCE flow, browser-free."""
    from connections.oauth import connection_authorize_begin, connection_authorize_complete
    from tests.servers.fixtures import query_param

    def run(connection, *, email: str = "ada@example.com", session_key: str = "session-1", user=None):
        user = user or builder
        url = connection_authorize_begin(connection=connection, acting_user=user, session_key=session_key)
        callback = oauth2_server.authorize(url, email=email)
        params = {name: query_param(callback, name) for name in ("code", "state", "error")}
        params = {k: v for k, v in params.items() if v is not None}
        return connection_authorize_complete(params=params, acting_user=user, session_key=session_key)

    return run


@pytest.fixture
def credential_connection(project, builder, api_server):
    """make(auth_method, credentials) -> a loopback connection to the API server, authorized with credentials."""
    from connections import services

    def make(auth_method: str = "basic", credentials: dict | None = None, name: str | None = None):
        connection = services.connection_create(
            project=project, connector_key="loopback", name=name or f"Loopback {auth_method}", acting_user=builder,
            auth_method=auth_method, settings_values={"base_url": api_server.base_url},
        )
        credentials = credentials or {"username": api_server.username, "password": api_server.password}
        outcome = services.connection_set_credentials(connection=connection, acting_user=builder,
                                                      credentials=credentials)
        connection.refresh_from_db()
        return connection, outcome

    return make


@pytest.fixture
def oauth1_connection(project, builder, oauth1_server):
    """make(signature_method, name) -> a not yet authorized OAuth 1.0a connection with that method's OAuth
    profile."""
    from connections import services

    def make(signature_method: str = "HMAC-SHA1", name: str | None = None):
        client = oauth1_server.client(signature_method)
        # RSA-SHA1 signs with the private key, which the profile keeps in its (sealed) client secret.
        secret = client.rsa_private_key if signature_method == "RSA-SHA1" else client.client_secret
        profile = services.oauth_profile_create(
            connector_key="loopback", name=f"Loopback {signature_method}", client_id=client.client_key,
            client_secret=secret, acting_user=builder, endpoints=oauth1_server.endpoints,
        )
        return services.connection_create(
            project=project, connector_key="loopback", name=name or f"Loopback {signature_method}",
            acting_user=builder, auth_method=METHODS[signature_method], oauth_profile=profile,
            settings_values={
                "base_url": oauth1_server.base_url, "authorize_url": oauth1_server.authorize_url,
                "request_token_url": oauth1_server.request_token_url,
                "access_token_url": oauth1_server.access_token_url,
            },
        )

    return make


@pytest.fixture
def authorize_oauth1(oauth1_server, builder):
    """authorize(connection) -> (connection, outcome): request token, the user allows, verifier, access token."""
    from connections.oauth import connection_authorize_begin, connection_authorize_complete

    def run(connection, *, session_key: str = "session-1"):
        url = connection_authorize_begin(connection=connection, acting_user=builder, session_key=session_key)
        callback = oauth1_server.authorize(url)
        return connection_authorize_complete(params=callback_params(callback), acting_user=builder,
                                             session_key=session_key)

    return run

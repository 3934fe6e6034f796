"""OAuth 1.0a three-legged against a real provider (oauthlib's server endpoints in their own process on 127.0.0.1),
with each signature method Splice supports."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from connections.client import connection_client
from connections.credentials import open_secret
from connections.models import AuditEvent, Connection, OAuthFlow
from connections.oauth import AuthorizationRefused, connection_authorize_begin, connection_authorize_complete
from connections.services import connection_test
from tests.connections.conftest import METHODS, callback_params

pytestmark = pytest.mark.django_db

@pytest.mark.parametrize("signature_method", list(METHODS))
def test_three_legged_flow_connects_signs_calls_and_notices_revocation(
        signature_method, oauth1_connection, oauth1_server, builder):
    connection = oauth1_connection(signature_method)

    url = connection_authorize_begin(connection=connection, acting_user=builder, session_key="s1")
    flow = OAuthFlow.objects.get(connection=connection)
    assert urlsplit(url).path == urlsplit(oauth1_server.authorize_url).path
    assert dict(parse_qsl(urlsplit(url).query))["oauth_token"] == flow.request_token
    callback = oauth1_server.authorize(url)
    params = callback_params(callback)
    assert params["state"] == flow.state and params["oauth_verifier"]

    connection, outcome = connection_authorize_complete(params=params, acting_user=builder, session_key="s1")

    assert outcome.ok, outcome.message
    assert outcome.message == "Connected as ada@example.com"
    assert connection.status == Connection.Status.CONNECTED
    assert connection.identity == "ada@example.com"
    assert connection.authorized_by == builder
    assert open_secret(connection, "access_token") and open_secret(connection, "token_secret")
    assert {"authorized", "status_changed"} <= set(
        AuditEvent.objects.filter(connection=connection).values_list("action", flat=True))

    # Signed resource calls, with the connection's own signature method and nothing else.
    oauth1_server.reset()
    response = connection_client(connection).request("GET", "/api/items")
    assert response.status_code == 200
    assert [item["name"] for item in response.json()["items"]] == ["First tweet", "Second tweet"]
    assert oauth1_server.stats()["signature_methods"] == {signature_method: 1}

    # The user revokes Splice's access in the app: the next test says the credentials are no longer valid.
    assert oauth1_server.revoke(client_key=oauth1_server.client(signature_method).client_key) >= 1
    outcome = connection_test(connection=connection)

    assert not outcome.ok
    assert outcome.status_code == 401
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ERROR
    assert connection.error_reason == Connection.ErrorReason.CREDENTIALS_INVALID
    assert connection.error_message == "Credentials were changed or revoked in the app."
    assert "Re-authorize" in " ".join(outcome.recommendations)


def test_reauthorizing_after_revocation_keeps_the_connection(oauth1_connection, authorize_oauth1, oauth1_server):
    connection, _ = authorize_oauth1(oauth1_connection())
    oauth1_server.revoke(client_key=oauth1_server.client("HMAC-SHA1").client_key)
    connection_test(connection=connection)

    again, outcome = authorize_oauth1(connection)

    assert outcome.ok, outcome.message
    assert again.pk == connection.pk
    assert again.status == Connection.Status.CONNECTED
    assert AuditEvent.objects.filter(connection=connection, action="reauthorized").exists()
    assert connection_client(again).request("GET", "/api/me").json()["email"] == "ada@example.com"


def test_callback_with_another_request_token_fails_cleanly(oauth1_connection, oauth1_server, builder):
    connection = oauth1_connection()
    url = connection_authorize_begin(connection=connection, acting_user=builder, session_key="s1")
    params = callback_params(oauth1_server.authorize(url))
    requests_before = oauth1_server.stats()["requests"].get("/oauth/access_token", 0)

    _, outcome = connection_authorize_complete(params={**params, "oauth_token": "someoneElsesToken0000001"},
                                               acting_user=builder, session_key="s1")

    assert not outcome.ok
    assert outcome.message == ("Loopback did not accept the authorization: The app's response does not match the "
                               "request token Splice asked for.")
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NOT_CONNECTED
    assert connection.access_token == "" and connection.token_secret == ""
    # Splice did not even ask the app for an access token with the mismatched verifier.
    assert oauth1_server.stats()["requests"].get("/oauth/access_token", 0) == requests_before
    assert AuditEvent.objects.filter(connection=connection, action="authorization_failed").exists()
    # The state is used up: replaying the genuine callback now is refused.
    with pytest.raises(AuthorizationRefused):
        connection_authorize_complete(params=params, acting_user=builder, session_key="s1")


def test_callback_from_another_session_is_refused(oauth1_connection, oauth1_server, builder):
    connection = oauth1_connection()
    url = connection_authorize_begin(connection=connection, acting_user=builder, session_key="s1")
    params = callback_params(oauth1_server.authorize(url))

    with pytest.raises(AuthorizationRefused):
        connection_authorize_complete(params=params, acting_user=builder, session_key="stolen")

    connection.refresh_from_db()
    assert connection.status == Connection.Status.NOT_CONNECTED
    assert connection.access_token == ""
    # The genuine session can still finish.
    _, outcome = connection_authorize_complete(params=params, acting_user=builder, session_key="s1")
    assert outcome.ok, outcome.message


def test_denied_on_the_apps_page_is_a_clear_outcome(oauth1_connection, oauth1_server, builder):
    connection = oauth1_connection()
    url = connection_authorize_begin(connection=connection, acting_user=builder, session_key="s1")
    params = callback_params(oauth1_server.authorize(url, allow=False))
    assert "denied" in params

    _, outcome = connection_authorize_complete(params=params, acting_user=builder, session_key="s1")

    assert not outcome.ok
    assert outcome.message == "Access was declined on the app's consent page, so Splice was not connected."
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NOT_CONNECTED

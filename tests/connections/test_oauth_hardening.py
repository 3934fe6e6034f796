"""The OAuth client as RFC 9700 and RFC 9207 ask, against the suite's real authorization server: PKCE S256 on
every authorization-code flow, the authorization response's `iss` checked, a refresh answer without a refresh
token keeping the old one, client-credentials tokens fetched again on expiry, and tokens revoked (RFC 7009)
when a connection is disconnected."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone

from connections import services
from connections.catalog import origin_of, registry
from connections.client import connection_client
from connections.credentials import open_secret
from connections.models import AuditEvent, Connection, OAuthProfile
from connections.oauth import connection_authorize_begin, connection_authorize_complete
from tests.servers._http import HOST, Handler, LoopbackHTTPServer
from tests.servers.fixtures import query_param

pytestmark = pytest.mark.django_db


def test_every_authorization_code_flow_of_the_catalog_uses_pkce_s256(project, builder, admin_user):
    """Even for apps whose spec says `pkce: false` (Slack, Jira, Shopify, ServiceNow): servers that do not
    know PKCE ignore the parameters; those that do are protected against code injection."""
    checked = []
    for spec in registry().apps():
        method = next((m for m in spec.auth if m.type == "oauth2" and m.grant == "authorization_code"), None)
        if method is None or spec.is_secondary or "{" in (method.token_url or "") and "://" not in method.token_url:
            continue
        services.oauth_profile_create(connector_key=spec.key, name="Deployment", client_id=f"{spec.key}-id",
                                      client_secret="s", acting_user=admin_user, is_default=True)
        values = {name: field.example for name, field in spec.settings_for(method.key).items()
                  if field.required and field.example is not None}
        connection = services.connection_create(project=project, connector_key=spec.key, name=f"{spec.key} PKCE",
                                                acting_user=builder, auth_method=method.key, settings_values=values)
        url = connection_authorize_begin(connection=connection, acting_user=builder, session_key="s")
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43, spec.key
        checked.append(spec.key)
    assert {"slack", "jira", "shopify", "github"} <= set(checked)


def _begin_and_consent(oauth2_connection, oauth2_server, builder, **settings_values):
    connection = oauth2_connection()
    Connection.objects.filter(pk=connection.pk).update(settings={**connection.settings, **settings_values})
    connection.refresh_from_db()
    url = connection_authorize_begin(connection=connection, acting_user=builder, session_key="s1")
    callback = oauth2_server.authorize(url)
    return connection, {"code": query_param(callback, "code"), "state": query_param(callback, "state")}


def test_a_response_naming_another_issuer_is_refused(oauth2_connection, oauth2_server, builder):
    connection, params = _begin_and_consent(oauth2_connection, oauth2_server, builder, issuer=oauth2_server.issuer)

    connection, outcome = connection_authorize_complete(params={**params, "iss": "https://attacker.example"},
                                                        acting_user=builder, session_key="s1")

    assert not outcome.ok and "another authorization server" in outcome.message
    assert connection.status == "not_connected" and open_secret(connection, "access_token") is None
    assert oauth2_server.token_requests("authorization_code") == 0  # the code was never sent anywhere
    assert AuditEvent.objects.filter(connection=connection, action="authorization_failed").exists()


def test_a_missing_iss_is_refused_when_the_servers_metadata_says_it_always_sends_one(
        oauth2_connection, oauth2_server, builder):
    oauth2_server.set_iss_supported(True)
    connection, params = _begin_and_consent(oauth2_connection, oauth2_server, builder,
                                            metadata_url=oauth2_server.metadata_url)

    connection, outcome = connection_authorize_complete(params=params, acting_user=builder, session_key="s1")

    assert not outcome.ok and "no iss parameter" in outcome.message
    assert oauth2_server.token_requests("authorization_code") == 0


def test_the_issuer_the_metadata_names_is_accepted(oauth2_connection, oauth2_server, builder):
    oauth2_server.set_iss_supported(True)
    connection, params = _begin_and_consent(oauth2_connection, oauth2_server, builder,
                                            metadata_url=oauth2_server.metadata_url)

    connection, outcome = connection_authorize_complete(params={**params, "iss": oauth2_server.issuer},
                                                        acting_user=builder, session_key="s1")

    assert outcome.ok, outcome.message


def test_without_metadata_a_response_without_iss_is_accepted(oauth2_connection, oauth2_server, builder):
    connection, params = _begin_and_consent(oauth2_connection, oauth2_server, builder)
    _, outcome = connection_authorize_complete(params=params, acting_user=builder, session_key="s1")
    assert outcome.ok, outcome.message


class TokenWithoutRefresh(Handler):
    """A token endpoint that answers a refresh with a new access token and no refresh token (RFC 6749 §6 allows
    it), and an API that accepts that new token."""

    def route(self):
        if self.url_path == "/token":
            self.server.refreshes.append(self.form())
            return self.send_json(200, {"access_token": "second-access-token", "token_type": "Bearer",
                                        "expires_in": 3600})
        ok = self.headers.get("Authorization") == "Bearer second-access-token"
        return self.send_json(200 if ok else 401, {"email": "ada@example.com"})


@pytest.fixture
def token_without_refresh():
    server = LoopbackHTTPServer((HOST, 0), TokenWithoutRefresh)
    server.refreshes = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://{HOST}:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def test_a_refresh_answer_without_a_refresh_token_keeps_the_old_one(oauth2_connection, authorize_oauth2,
                                                                     oauth2_server, token_without_refresh):
    connection, _ = authorize_oauth2(oauth2_connection())
    refresh_token = open_secret(connection, "refresh_token")
    app = token_without_refresh.url
    # The app's own addresses all along: authorized for them, its OAuth client registered there.
    Connection.objects.filter(pk=connection.pk).update(
        settings={**connection.settings, "base_url": app, "token_url": f"{app}/token"},
        authorized_origins=[origin_of(app)], access_token_expires_at=timezone.now() - timedelta(minutes=1))
    OAuthProfile.objects.filter(connector_key="loopback", is_default=True).update(
        endpoints=[*oauth2_server.endpoints, f"{app}/token"])

    response = connection_client(Connection.objects.get(pk=connection.pk)).request("GET", "/api/me")

    assert response.status_code == 200
    assert [form["refresh_token"] for form in token_without_refresh.refreshes] == [refresh_token.reveal()]
    connection.refresh_from_db()
    assert open_secret(connection, "access_token").reveal() == "second-access-token"
    assert open_secret(connection, "refresh_token") == refresh_token


def test_client_credentials_tokens_are_fetched_again_when_they_expire(oauth2_connection, oauth2_server, builder):
    from connections.oauth import connection_authorize_client_credentials

    profile = services.oauth_profile_create(connector_key="loopback", name="Machine",
                                            client_id=oauth2_server.cc_client_id,
                                            client_secret=oauth2_server.cc_client_secret, acting_user=builder,
                                            endpoints=oauth2_server.endpoints)
    connection = oauth2_connection(auth_method="oauth2_client_credentials", oauth_profile=profile)
    assert connection_authorize_client_credentials(connection=connection, acting_user=builder).ok
    first = open_secret(Connection.objects.get(pk=connection.pk), "access_token")
    Connection.objects.filter(pk=connection.pk).update(access_token_expires_at=timezone.now() - timedelta(seconds=1))

    response = connection_client(Connection.objects.get(pk=connection.pk)).request("GET", "/api/me")

    assert response.status_code == 200
    assert oauth2_server.token_requests("client_credentials") == 2
    assert open_secret(Connection.objects.get(pk=connection.pk), "access_token") != first


def test_disconnecting_revokes_the_tokens_at_the_app(oauth2_connection, authorize_oauth2, oauth2_server, builder):
    connection = oauth2_connection()
    Connection.objects.filter(pk=connection.pk).update(
        settings={**connection.settings, "revoke_url": oauth2_server.revoke_url})
    connection, outcome = authorize_oauth2(Connection.objects.get(pk=connection.pk))
    assert outcome.ok
    access = open_secret(connection, "access_token").reveal()
    assert requests.get(oauth2_server.me_url, headers={"Authorization": f"Bearer {access}"}, timeout=10).ok

    services.connection_disconnect(connection=connection, acting_user=builder)

    assert requests.get(oauth2_server.me_url, headers={"Authorization": f"Bearer {access}"},
                        timeout=10).status_code == 401
    event = AuditEvent.objects.get(connection=connection, action=AuditEvent.Action.DISCONNECTED)
    assert event.details["revocation"] == "revoked at the app"
    assert "revoked at the app" in event.summary
    connection.refresh_from_db()
    assert connection.status == "disconnected" and open_secret(connection, "refresh_token") is None


def test_a_revocation_the_app_fails_does_not_keep_the_connection_connected(
        oauth2_connection, authorize_oauth2, oauth2_server, api_server, builder):
    connection = oauth2_connection()
    broken = api_server.url("/api/revoke")
    api_server.set_fault(500, "/api/revoke")
    Connection.objects.filter(pk=connection.pk).update(settings={**connection.settings, "revoke_url": broken})
    OAuthProfile.objects.filter(connector_key="loopback", is_default=True).update(
        endpoints=[*oauth2_server.endpoints, broken])
    connection, _ = authorize_oauth2(Connection.objects.get(pk=connection.pk))
    Connection.objects.filter(pk=connection.pk).update(
        authorized_origins=[*connection.authorized_origins, origin_of(broken)])

    services.connection_disconnect(connection=Connection.objects.get(pk=connection.pk), acting_user=builder)

    event = AuditEvent.objects.get(connection=connection, action=AuditEvent.Action.DISCONNECTED)
    assert event.details["revocation"].startswith("not confirmed by the app (HTTP 500")
    assert Connection.objects.get(pk=connection.pk).status == "disconnected"


def test_an_oauth_authorize_page_lets_its_button_lead_to_that_apps_authorization_server_only(
        builder, client_for, oauth2_connection, oauth2_server):
    """The button's POST is redirected to the app's authorization server: the Content Security Policy's
    form-action names it on that page, and on no other (Chromium applies form-action to a form's redirects)."""
    from tests.test_security_headers import POLICY

    connection = oauth2_connection()
    client = client_for(builder)
    response = client.get(f"/connections/{connection.pk}/authorize/")
    assert response.status_code == 200
    expected = POLICY.replace("form-action 'self'", f"form-action 'self' {origin_of(oauth2_server.authorize_url)}")
    assert response["Content-Security-Policy"] == expected
    assert client.get("/connections/")["Content-Security-Policy"] == POLICY


@pytest.mark.parametrize("expires_in, expected", [
    (3600, 3600), ("3600", 3600), (10**12, 10 * 365 * 24 * 3600), ("1e400", None), ("soon", None), (-5, None),
    (None, None), (True, None), ({"x": 1}, None),
])
def test_a_token_answers_lifetime_is_read_whatever_the_app_sends(expires_in, expected):
    """An absurd or unreadable `expires_in` neither overflows a date nor fails the authorization."""
    from connections.tokens import token_set_from_response

    tokens = token_set_from_response({"access_token": "a", "expires_in": expires_in})
    if expected is None:
        assert tokens.access_expires_at is None and tokens.refresh_margin is None
    else:
        lifetime = (tokens.access_expires_at - timezone.now()).total_seconds()
        assert abs(lifetime - expected) < 5 and 0 < tokens.refresh_margin <= 60


def test_disconnecting_works_when_the_stored_tokens_cannot_be_opened(oauth2_connection, authorize_oauth2,
                                                                      oauth2_server, builder):
    """After a key change or a tampered row, revocation cannot happen, but disconnecting still must."""
    connection = oauth2_connection()
    Connection.objects.filter(pk=connection.pk).update(
        settings={**connection.settings, "revoke_url": oauth2_server.revoke_url})
    connection, _ = authorize_oauth2(Connection.objects.get(pk=connection.pk))
    sealed = connection.refresh_token
    Connection.objects.filter(pk=connection.pk).update(refresh_token=sealed[:-6] + ("A" * 6 if sealed[-6:] != "AAAAAA"
                                                                                       else "B" * 6))

    services.connection_disconnect(connection=Connection.objects.get(pk=connection.pk), acting_user=builder)

    event = AuditEvent.objects.get(connection=connection, action=AuditEvent.Action.DISCONNECTED)
    assert event.details["revocation"] == "not revoked: Splice cannot open the stored tokens"
    assert Connection.objects.get(pk=connection.pk).status == "disconnected"

"""Credentials go only where they were authorized: a teammate who points an authorized connection (or their
own HTTP connection) at a server they control receives no password, key, token or client secret, whatever they
press afterwards (Test now, a health check, a token refresh). The capture server is a real one on 127.0.0.1."""

from __future__ import annotations

import json
import threading

import pytest
from django.urls import reverse

from accounts.models import ProjectAccess
from accounts.services import project_share
from connections import services
from connections.catalog import origin_of
from connections.credentials import open_secret
from connections.health import connection_health_check
from connections.models import AuditEvent, Connection
from tests.servers._http import HOST, Handler, LoopbackHTTPServer


class CaptureHandler(Handler):
    """Answers everything as a friendly app would (200, an identity, a token) and remembers all it was sent."""

    def route(self):
        self.server.captured.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                     "body": self.body.decode("latin-1")})
        if "token" in self.url_path:
            return self.send_json(200, {"access_token": "captured", "token_type": "Bearer", "expires_in": 3600})
        return self.send_json(200, {"email": "mallory@example.com"})


@pytest.fixture
def capture():
    server = LoopbackHTTPServer((HOST, 0), CaptureHandler)
    server.captured = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://{HOST}:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def assert_received_none_of(capture, *secrets: str) -> None:
    everything = json.dumps(capture.captured)
    for secret in secrets:
        assert secret and secret not in everything, "a credential reached the capture server"


@pytest.fixture
def teammate(make_user, project):
    """A project member with the Edit connections privilege and "use" access, who did not authorize it."""
    user = make_user("Builder", email="mallory@example.com")
    project_share(project=project, acting_user=project.created_by, level=ProjectAccess.USE, user=user)
    return user


def _edit(client, connection, *, confirm: bool = True, **settings_values):
    data = {"name": connection.name, "description": "", "tags": "",
            **{f"setting_{k}": v for k, v in {**connection.settings, **settings_values}.items()}}
    return client.post(reverse("connection_edit", args=[connection.pk]), {**data, **({"confirm_move": "1"}
                                                                                    if confirm else {})})


def _press_everything(client, connection):
    """Test now, a health check, and a use of the connection's client: each would send the credentials."""
    from connections.client import connection_client
    from connections.problems import ConnectionProblem

    client.post(reverse("connection_test", args=[connection.pk]))
    connection_health_check(connection_id=connection.pk)
    try:
        connection_client(Connection.objects.get(pk=connection.pk)).request("GET", "/api/me")
    except ConnectionProblem:
        pass


@pytest.mark.parametrize("auth_method, credentials, secret", [
    ("basic", {"username": "ada", "password": "ada-pass-123"}, "ada-pass-123"),
    ("bearer", {"api_key": "test-api-key-0123456789"}, "test-api-key-0123456789"),
])
def test_a_teammate_repointing_a_credentials_connection_receives_nothing(
        auth_method, credentials, secret, credential_connection, api_server, capture, teammate, client_for):
    api_server.set_credentials(credentials)
    connection, outcome = credential_connection(auth_method, credentials)
    assert outcome.ok and connection.status == "connected"
    client = client_for(teammate)

    warned = _edit(client, connection, confirm=False, base_url=capture.url)
    assert "This moves the connection to another address" in warned.text
    assert origin_of(api_server.base_url) in warned.text and origin_of(capture.url) in warned.text
    assert Connection.objects.get(pk=connection.pk).settings["base_url"] == api_server.base_url  # not yet
    confirmed = _edit(client, connection, base_url=capture.url)
    assert confirmed.status_code == 302 and confirmed["Location"] == reverse("connection_authorize",
                                                                             args=[connection.pk])
    _press_everything(client, connection)

    assert_received_none_of(capture, secret, "ada-pass", "test-api-key")
    connection.refresh_from_db()
    assert connection.status == "not_connected" and connection.authorized_origins == []
    assert all(open_secret(connection, name) is None for name in ("password", "api_key"))
    moved = AuditEvent.objects.get(connection=connection, action=AuditEvent.Action.ORIGIN_CHANGED)
    assert moved.actor == teammate
    assert moved.details == {"from_origins": [origin_of(api_server.base_url)], "to_origins": [origin_of(capture.url)]}


def test_credentials_never_follow_settings_changed_behind_the_services_back(
        credential_connection, api_server, capture, teammate, client_for):
    """Whatever a setting or a spec says later (a row edited directly, a custom connector's new version),
    the request to another origin leaves without them, and the connection asks to be re-authorized."""
    connection, _ = credential_connection("basic")
    Connection.objects.filter(pk=connection.pk).update(settings={"base_url": capture.url})

    _press_everything(client_for(teammate), connection)

    assert_received_none_of(capture, api_server.password)
    assert capture.captured == []
    connection.refresh_from_db()
    assert (connection.status, connection.error_reason) == ("error", "credentials_invalid")
    assert "not authorized for " + origin_of(capture.url) in connection.error_message


def test_a_teammate_repointing_an_oauth2_connection_gets_no_token_nor_client_secret(
        oauth2_connection, authorize_oauth2, oauth2_server, capture, teammate, client_for):
    connection, outcome = authorize_oauth2(oauth2_connection())
    assert outcome.ok
    access = open_secret(connection, "access_token").reveal()
    refresh = open_secret(connection, "refresh_token").reveal()
    client = client_for(teammate)

    # Behind the services' back first (base and token URL), with the access token expired: test, check, refresh.
    Connection.objects.filter(pk=connection.pk).update(
        settings={**connection.settings, "base_url": capture.url, "token_url": f"{capture.url}/token"},
        access_token_expires_at="2000-01-01T00:00:00Z")
    _press_everything(client, connection)
    # Then through the edit page.
    Connection.objects.filter(pk=connection.pk).update(settings=connection.settings)
    _edit(client, Connection.objects.get(pk=connection.pk), base_url=capture.url, token_url=f"{capture.url}/token")
    _press_everything(client, connection)

    assert_received_none_of(capture, access, refresh, oauth2_server.client_secret, oauth2_server.client_id)
    assert capture.captured == []
    connection.refresh_from_db()
    assert connection.status == "not_connected"
    assert AuditEvent.objects.filter(connection=connection, action=AuditEvent.Action.ORIGIN_CHANGED).exists()


def test_a_builders_http_connection_never_receives_the_deployments_client_secret(
        builder, project, capture, admin_user):
    """The HTTP connector's OAuth endpoints are whatever a person types: the deployment's default OAuth client
    was registered for none of them, so neither the code exchange nor client credentials send it anywhere."""
    from connections.oauth import connection_authorize_begin, connection_authorize_client_credentials

    deployment_secret = "deployment-client-secret-Zq8"
    services.oauth_profile_create(connector_key="http", name="From environment", client_id="deployment-client",
                                  client_secret=deployment_secret, acting_user=admin_user, is_default=True)
    values = {"base_url": capture.url, "authorize_url": f"{capture.url}/authorize", "token_url": f"{capture.url}/token"}
    code = services.connection_create(project=project, connector_key="http", name="Mine", acting_user=builder,
                                      auth_method="oauth2", settings_values=values)
    machine = services.connection_create(project=project, connector_key="http", name="Mine (machine)",
                                         acting_user=builder, auth_method="oauth2_client_credentials",
                                         settings_values=values)

    from connections.problems import ConnectionProblem

    with pytest.raises(ConnectionProblem) as refused:
        connection_authorize_begin(connection=code, acting_user=builder, session_key="s")
    assert "is not registered for" in str(refused.value)
    outcome = connection_authorize_client_credentials(connection=machine, acting_user=builder)

    assert not outcome.ok and "is not registered for" in outcome.message
    assert capture.captured == []
    assert_received_none_of(capture, deployment_secret)


def test_a_profile_registered_for_an_apps_subdomains_serves_each_subdomain_but_no_other_host(admin_user):
    from connections.catalog import registry
    from connections.origins import check_profile_registered_for
    from connections.problems import ConnectionProblem

    profile = services.oauth_profile_create(connector_key="zendesk", name="Zendesk", client_id="z",
                                            client_secret="s", acting_user=admin_user, is_default=True)
    spec = registry().get("zendesk")
    check_profile_registered_for(profile, spec.name, spec.resolve_auth("oauth2", {"subdomain": "acme"}))
    profile.endpoints = ["https://acme.zendesk.com/oauth/authorizations/new", "https://evil.example/oauth/tokens"]
    with pytest.raises(ConnectionProblem):
        check_profile_registered_for(profile, spec.name, spec.resolve_auth("oauth2", {"subdomain": "acme"}))


def test_editing_a_disconnected_connection_keeps_it_disconnected(credential_connection, api_server, builder,
                                                                 client_for, capture):
    connection, _ = credential_connection("basic")
    services.connection_disconnect(connection=connection, acting_user=builder)

    response = _edit(client_for(builder), Connection.objects.get(pk=connection.pk), confirm=False,
                     base_url=capture.url)

    assert response.status_code == 302 and "This moves the connection" not in response.text
    connection.refresh_from_db()
    assert connection.status == "disconnected" and connection.settings["base_url"] == capture.url

"""OAuth 2.0 against a real authorization server (django-oauth-toolkit in its own process on 127.0.0.1)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from connections.client import connection_client
from connections.credentials import open_secret
from connections.models import AuditEvent, Connection, OAuthFlow
from connections.oauth import AuthorizationRefused, connection_authorize_begin, connection_authorize_complete
from connections.services import connection_test
from tests.servers.fixtures import query_param

pytestmark = pytest.mark.django_db


def test_code_flow_with_pkce_connects_as_the_authorizing_user(oauth2_connection, authorize_oauth2, oauth2_server,
                                                              builder):
    connection = oauth2_connection()
    url = connection_authorize_begin(connection=connection, acting_user=builder, session_key="s1")
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://127.0.0.1:8000/connections/oauth/callback/"]
    assert "code_verifier" not in url

    callback = oauth2_server.authorize(url, email="ada@example.com")
    connection, outcome = connection_authorize_complete(
        params={"code": query_param(callback, "code"), "state": query_param(callback, "state")},
        acting_user=builder, session_key="s1",
    )
    assert outcome.ok, outcome.message
    assert outcome.message == "Connected as ada@example.com"
    assert connection.status == Connection.Status.CONNECTED
    assert connection.identity == "ada@example.com"
    assert connection.authorized_by == builder
    assert connection.access_token_expires_at > timezone.now()
    assert oauth2_server.token_requests("authorization_code") == 1
    actions = set(AuditEvent.objects.filter(connection=connection).values_list("action", flat=True))
    assert {"created", "authorized", "status_changed"} <= actions


def test_bob_authorizing_means_splice_acts_as_bob(oauth2_connection, authorize_oauth2):
    connection, outcome = authorize_oauth2(oauth2_connection(), email="bob@example.com")
    assert connection.identity == "bob@example.com"


def test_expired_access_token_is_refreshed_transparently_with_rotation(oauth2_connection, authorize_oauth2,
                                                                       oauth2_server):
    connection, _ = authorize_oauth2(oauth2_connection())
    first_refresh = open_secret(connection, "refresh_token")
    oauth2_server.reset()
    oauth2_server.expire(user="ada@example.com")  # the app expired it; we still think it is fresh

    response = connection_client(connection).request("GET", "/api/me")

    assert response.status_code == 200
    assert oauth2_server.token_requests("refresh_token") == 1
    connection.refresh_from_db()
    assert open_secret(connection, "refresh_token") != first_refresh  # rotated
    assert open_secret(connection, "previous_refresh_token") == first_refresh
    assert connection.token_version == 2


def test_token_about_to_expire_is_refreshed_before_use(oauth2_connection, authorize_oauth2, oauth2_server):
    connection, _ = authorize_oauth2(oauth2_connection())
    Connection.objects.filter(pk=connection.pk).update(access_token_expires_at=timezone.now() + timedelta(seconds=5))
    oauth2_server.reset()
    response = connection_client(Connection.objects.get(pk=connection.pk)).request("GET", "/api/items")
    assert response.status_code == 200
    assert oauth2_server.token_requests("refresh_token") == 1
    assert oauth2_server.stats()["token_responses"].get("refresh_token 200") == 1


def test_revoked_grant_turns_the_connection_to_credentials_invalid(oauth2_connection, authorize_oauth2,
                                                                   oauth2_server):
    connection, _ = authorize_oauth2(oauth2_connection())
    oauth2_server.revoke(user="ada@example.com")

    outcome = connection_test(connection=connection)

    assert not outcome.ok
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ERROR
    assert connection.error_reason == Connection.ErrorReason.CREDENTIALS_INVALID
    assert connection.error_since is not None
    assert "Re-authorize" in " ".join(outcome.recommendations)
    # An OAuth connection is told to re-authorize, not to double-check a password (issue 16).
    assert outcome.recommendations[0].startswith("Re-authorize the connection")
    assert "password" not in " ".join(outcome.recommendations)


def test_missing_scope_is_insufficient_permissions(oauth2_connection, authorize_oauth2, oauth2_server):
    connection, _ = authorize_oauth2(oauth2_connection())
    oauth2_server.set_scope("write", user="ada@example.com")

    outcome = connection_test(connection=connection)

    connection.refresh_from_db()
    assert connection.error_reason == Connection.ErrorReason.INSUFFICIENT_PERMISSIONS
    # The server's WWW-Authenticate names the scope it wants (issue 16): so does the message.
    assert outcome.verdict.message == ("The user who authorized this connection lacks permission: Loopback asks for "
                                       "the scope “read”.")
    assert "Verify the authorizing user's permissions" in outcome.recommendations[0]


def test_reauthorizing_keeps_the_connection_id(oauth2_connection, authorize_oauth2, oauth2_server, builder):
    connection, _ = authorize_oauth2(oauth2_connection())
    oauth2_server.revoke(user="ada@example.com")
    connection_test(connection=connection)
    again, outcome = authorize_oauth2(connection)
    assert outcome.ok
    assert again.pk == connection.pk
    assert again.status == Connection.Status.CONNECTED
    assert AuditEvent.objects.filter(connection=connection, action="reauthorized").exists()


def test_consent_declined_is_a_clear_outcome_not_an_error_page(oauth2_connection, oauth2_server, builder):
    connection = oauth2_connection()
    url = connection_authorize_begin(connection=connection, acting_user=builder, session_key="s1")
    callback = oauth2_server.authorize(url, allow=False)
    assert query_param(callback, "error") == "access_denied"
    _, outcome = connection_authorize_complete(
        params={"error": "access_denied", "state": query_param(callback, "state")}, acting_user=builder,
        session_key="s1",
    )
    assert not outcome.ok
    assert outcome.message == "Access was declined on the app's consent page, so Splice was not connected."
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NOT_CONNECTED


def test_client_credentials_grant(oauth2_connection, oauth2_server, builder):
    from connections.models import OAuthProfile
    from connections.oauth import connection_authorize_client_credentials
    from connections.services import oauth_profile_create

    connection = oauth2_connection(auth_method="oauth2_client_credentials")
    profile = oauth_profile_create(connector_key="loopback", name="Machine", client_id=oauth2_server.cc_client_id,
                                   client_secret=oauth2_server.cc_client_secret, acting_user=builder,
                                   endpoints=oauth2_server.endpoints)
    Connection.objects.filter(pk=connection.pk).update(oauth_profile=profile)
    connection.refresh_from_db()

    outcome = connection_authorize_client_credentials(connection=connection, acting_user=builder)

    assert outcome.ok, outcome.message
    assert oauth2_server.token_requests("client_credentials") == 1
    assert OAuthProfile.objects.get(pk=profile.pk).connections.count() == 1


class TestState:
    """A callback that is not this user's own pending flow is refused and changes nothing."""

    @pytest.fixture
    def pending(self, oauth2_connection, oauth2_server, builder):
        connection = oauth2_connection()
        url = connection_authorize_begin(connection=connection, acting_user=builder, session_key="s1")
        callback = oauth2_server.authorize(url)
        return connection, {"code": query_param(callback, "code"), "state": query_param(callback, "state")}

    def _assert_unchanged(self, connection):
        connection.refresh_from_db()
        assert connection.status == Connection.Status.NOT_CONNECTED
        assert connection.access_token == ""

    def test_wrong_state(self, pending, builder):
        connection, params = pending
        with pytest.raises(AuthorizationRefused):
            connection_authorize_complete(params={**params, "state": "forged"}, acting_user=builder, session_key="s1")
        self._assert_unchanged(connection)

    def test_missing_state(self, pending, builder):
        connection, params = pending
        with pytest.raises(AuthorizationRefused):
            connection_authorize_complete(params={"code": params["code"]}, acting_user=builder, session_key="s1")
        self._assert_unchanged(connection)

    def test_other_users_session(self, pending, make_user):
        connection, params = pending
        mallory = make_user("Builder")
        with pytest.raises(AuthorizationRefused):
            connection_authorize_complete(params=params, acting_user=mallory, session_key="s1")
        self._assert_unchanged(connection)
        assert OAuthFlow.objects.get(state=params["state"]).used_at is None  # still usable by its owner

    def test_other_session_of_the_same_user(self, pending, builder):
        connection, params = pending
        with pytest.raises(AuthorizationRefused):
            connection_authorize_complete(params=params, acting_user=builder, session_key="stolen")
        self._assert_unchanged(connection)

    def test_expired(self, pending, builder):
        connection, params = pending
        OAuthFlow.objects.filter(state=params["state"]).update(expires_at=timezone.now() - timedelta(seconds=1))
        with pytest.raises(AuthorizationRefused):
            connection_authorize_complete(params=params, acting_user=builder, session_key="s1")
        self._assert_unchanged(connection)

    def test_reused(self, pending, builder):
        connection, params = pending
        _, outcome = connection_authorize_complete(params=params, acting_user=builder, session_key="s1")
        assert outcome.ok
        version = Connection.objects.get(pk=connection.pk).token_version
        with pytest.raises(AuthorizationRefused):
            connection_authorize_complete(params=params, acting_user=builder, session_key="s1")
        assert Connection.objects.get(pk=connection.pk).token_version == version

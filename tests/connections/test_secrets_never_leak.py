"""No secret ever shows: run OAuth 2.0, OAuth 1.0a, Basic and API-key flows (good and failing) against the
real servers, then search for every secret they handled in the raw database, every log record, the
exceptions raised, the audit trail and the rendered pages."""

from __future__ import annotations

import base64
import html
import logging
import traceback
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.db import connection as db
from django.urls import reverse

from connections import services
from connections.client import connection_client
from connections.credentials import get_vault, open_secret, row_context
from connections.models import AuditEvent, Connection, OAuthFlow, OAuthProfile
from connections.oauth import AuthorizationRefused, connection_authorize_begin, connection_authorize_complete
from connections.problems import ConnectionProblem
from connections.vault import VaultError
from tests.servers.fixtures import APIServer, free_port

pytestmark = pytest.mark.django_db

# Loggers that settings.LOGGING must keep above DEBUG whatever the root level: oauthlib and requests_oauthlib log
# whole token requests and responses; urllib3 logs each request line, query string (API keys) included.
PINNED_LOGGERS = {"oauthlib": logging.WARNING, "requests_oauthlib": logging.WARNING, "urllib3": logging.INFO}
WRONG_PASSWORD = "wr0ng-passw0rd-7f3e"
WRONG_API_KEY = "wr0ng-api-key-51c9"
HEADER_KEY, HEADER_SECRET = "hdr-key-5d1f0c2b", "hdr-secret-9a77e2d4"


@dataclass
class Run:
    """What the flows produced: the secrets they handled, the exceptions they raised, their connections."""

    secrets: dict[str, str] = field(default_factory=dict)
    exceptions: list[BaseException] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    profiles: list[OAuthProfile] = field(default_factory=list)

    def add(self, name: str, value: str | None) -> None:
        assert value, f"the flow produced no {name}"
        self.secrets[name] = value

    def expect(self, exception_type, call, *args, **kwargs) -> BaseException:
        with pytest.raises(exception_type) as caught:
            call(*args, **kwargs)
        self.exceptions.append(caught.value)
        return caught.value

    def leaks(self, text: str) -> list[str]:
        """The names of the secrets found in `text`, in any of the forms they travel in."""
        found = []
        for name, value in self.secrets.items():
            forms = {value, html.escape(value), quote(value, safe=""), base64.b64encode(value.encode()).decode()}
            if any(form in text for form in forms):
                found.append(name)
        return found


def _open_flow_secret(flow: OAuthFlow, column: str, field_name: str) -> str:
    sealed = getattr(flow, column)
    return get_vault().open(sealed, wrapped_key=flow.connection.data_key, context=row_context(flow.connection),
                            field=field_name).reveal()


@pytest.fixture
def run(caplog, settings, project, builder, oauth2_connection, authorize_oauth2, oauth2_server, oauth1_server,
        oauth1_connection, api_server, credential_connection) -> Run:
    """Every auth method's flow, successes and failures, with every log record captured at DEBUG."""
    caplog.set_level(logging.DEBUG)
    settings.SPLICE_HTTP_TIMEOUT = 0.3
    result = Run()
    result.add("master key", settings.SPLICE_CREDENTIAL_KEYS.split(",")[0].partition(":")[2])

    # OAuth 2.0: code + PKCE, a refresh with rotation, then the grant revoked (a refresh gets invalid_grant).
    result.add("OAuth 2.0 client secret", oauth2_server.client_secret)
    oauth2, outcome = authorize_oauth2(oauth2_connection(name="OAuth2 account"))
    assert outcome.ok, outcome.message
    result.add("first access token", open_secret(oauth2, "access_token").reveal())
    result.add("first refresh token", open_secret(oauth2, "refresh_token").reveal())
    flow = OAuthFlow.objects.select_related("connection").get(connection=oauth2)
    result.add("PKCE verifier", _open_flow_secret(flow, "code_verifier", "oauth_flow.code_verifier"))
    oauth2_server.expire(user="ada@example.com")
    assert connection_client(oauth2).request("GET", "/api/me").status_code == 200
    oauth2.refresh_from_db()
    result.add("refreshed access token", open_secret(oauth2, "access_token").reveal())
    result.add("rotated refresh token", open_secret(oauth2, "refresh_token").reveal())
    oauth2_server.revoke(user="ada@example.com")
    result.expect(ConnectionProblem, connection_client(oauth2).request, "GET", "/api/me")
    assert not services.connection_test(connection=oauth2, acting_user=builder).ok
    result.connections.append(oauth2)
    result.profiles.extend(OAuthProfile.objects.all())

    # OAuth 1.0a (HMAC-SHA1): three-legged, a signed call, a forged callback, then the token revoked.
    client = oauth1_server.client("HMAC-SHA1")
    result.add("OAuth 1.0a client secret", client.client_secret)
    oauth1 = oauth1_connection("HMAC-SHA1", name="OAuth1 account")
    result.profiles.append(oauth1.oauth_profile)
    url = connection_authorize_begin(connection=oauth1, acting_user=builder, session_key="s1")
    params = dict(parse_qsl(urlsplit(oauth1_server.authorize(url)).query))
    result.expect(AuthorizationRefused, connection_authorize_complete, params={**params, "state": "forged"},
                  acting_user=builder, session_key="s1")
    flow = OAuthFlow.objects.select_related("connection").get(connection=oauth1)
    result.add("OAuth 1.0a request token secret",
               _open_flow_secret(flow, "request_token_secret", "oauth_flow.request_token_secret"))
    oauth1, outcome = connection_authorize_complete(params=params, acting_user=builder, session_key="s1")
    assert outcome.ok, outcome.message
    result.add("OAuth 1.0a access token", open_secret(oauth1, "access_token").reveal())
    result.add("OAuth 1.0a token secret", open_secret(oauth1, "token_secret").reveal())
    assert connection_client(oauth1).request("GET", "/api/items").status_code == 200
    oauth1_server.revoke(client_key=client.client_key)
    assert not services.connection_test(connection=oauth1, acting_user=builder).ok
    result.connections.append(oauth1)

    # Basic: connected, then a wrong new password (kept out), then the server fails every way it can.
    result.add("password", APIServer.password)
    result.add("wrong password", WRONG_PASSWORD)
    basic, outcome = credential_connection("basic")
    assert outcome.ok, outcome.message
    assert not services.connection_set_credentials(
        connection=basic, acting_user=builder, credentials={"username": "ada", "password": WRONG_PASSWORD}).ok
    for fault in ("500", "429", "hang", "401"):
        api_server.set_fault(fault, hang_seconds=0.6, times=1)
        assert not services.connection_test(connection=basic, acting_user=builder).ok
    result.connections.append(basic)

    # API keys: in a bearer header, in the query, and a key + secret in headers; a wrong key; failures.
    result.add("API key", APIServer.api_key)
    result.add("wrong API key", WRONG_API_KEY)
    result.add("header API key", HEADER_KEY)
    result.add("header API secret", HEADER_SECRET)
    api_server.set_credentials({"api_key": APIServer.api_key}, {"api_key": HEADER_KEY, "api_secret": HEADER_SECRET})
    keyed = {}
    for auth_method, credentials in (("bearer", {"api_key": APIServer.api_key}),
                                     ("query_key", {"api_key": APIServer.api_key}),
                                     ("header_key", {"api_key": HEADER_KEY, "api_secret": HEADER_SECRET})):
        keyed[auth_method], outcome = credential_connection(auth_method, credentials)
        assert outcome.ok, outcome.message
        assert connection_client(keyed[auth_method]).request("GET", "/api/items").status_code == 200
        assert not services.connection_set_credentials(connection=keyed[auth_method], acting_user=builder,
                                                       credentials={"api_key": WRONG_API_KEY}).ok
    result.connections.extend(keyed.values())
    query_keyed = keyed["query_key"]
    api_server.set_fault("hang", hang_seconds=0.6, times=1)
    result.expect(ConnectionProblem, connection_client(query_keyed).request, "GET", "/api/items")

    # The app's address stops answering: requests' own error names the whole URL, query key and all.
    Connection.objects.filter(pk=query_keyed.pk).update(
        settings={**query_keyed.settings, "base_url": f"http://127.0.0.1:{free_port()}"})
    query_keyed.refresh_from_db()
    result.expect(ConnectionProblem, connection_client(query_keyed).request, "GET", "/api/items")

    # A sealed value copied into another connection's row fails to open, naming neither secret.
    Connection.objects.filter(pk=basic.pk).update(api_key=keyed["bearer"].api_key)
    result.expect(VaultError, open_secret, Connection.objects.get(pk=basic.pk), "api_key")
    Connection.objects.filter(pk=basic.pk).update(api_key="")
    return result


def test_the_database_holds_no_secret_in_plaintext(run):
    with db.cursor() as cursor:
        tables = db.introspection.table_names(cursor)
        assert {"connections_connection", "connections_oauthprofile", "connections_oauthflow",
                "connections_auditevent"} <= set(tables)
        leaks = {}
        for table in tables:
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # noqa: S608 (names from introspection)
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                text = repr(dict(zip(columns, row, strict=True)))
                if found := run.leaks(text):
                    leaks.setdefault(table, set()).update(found)
    assert leaks == {}
    # Sanity: the secrets really are there, sealed.
    assert all(c.data_key and (c.access_token or c.password or c.api_key)
               for c in Connection.objects.filter(pk__in=[c.pk for c in run.connections]))


def test_no_log_record_holds_a_secret(run, caplog):
    assert logging.getLogger().getEffectiveLevel() == caplog.handler.level == logging.DEBUG
    for name, level in PINNED_LOGGERS.items():
        assert logging.getLogger(name).getEffectiveLevel() >= level, (
            f"{name} logs below {logging.getLevelName(level)}: pin it in LOGGING['loggers'] (config/settings.py)")
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = caplog.get_records("setup")  # the flows ran in the `run` fixture
    leaks = []
    for record in records:
        text = "\n".join([formatter.format(record), repr(record.msg), repr(record.args)])
        if found := run.leaks(text):
            leaks.append((record.name, record.levelname, found))
    assert leaks == []


def test_no_exception_message_or_traceback_holds_a_secret(run):
    kinds = {type(exc).__name__ for exc in run.exceptions}
    assert {"ConnectionProblem", "AuthorizationRefused", "CredentialTamperedError"} <= kinds
    for exc in run.exceptions:
        text = "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])
        assert run.leaks(text) == [], text
    tampered = next(exc for exc in run.exceptions if isinstance(exc, VaultError))
    assert "connections.connection row" in str(tampered) and "'api_key'" in str(tampered)


def test_audit_events_hold_no_secret_and_mask_changed_ones(run):
    events = list(AuditEvent.objects.all())
    assert {"created", "authorized", "authorization_failed", "tested", "status_changed"} <= {e.action for e in events}
    for event in events:
        assert run.leaks(f"{event.summary} {event.details!r} {event}") == [], event.action
    changed = AuditEvent.objects.filter(action="authorized", details__has_key="credentials")
    assert changed.exists()
    for event in changed:
        assert set(event.details["credentials"].values()) == {"••••"}


def test_pages_and_admin_show_no_secret(run, client_for, builder, admin_user, caplog):
    client = client_for(builder)
    for connection in run.connections:
        response = client.get(reverse("connection_detail", args=[connection.pk]))
        assert response.status_code == 200, connection.name
        assert connection.name in response.content.decode()
        assert run.leaks(response.content.decode()) == [], connection.name
    builder.groups.add(Group.objects.get(name="Operator"))  # the audit log needs "View audit log"
    response = client.get(reverse("connection_audit_log"))
    assert response.status_code == 200
    assert "Authorization failed" in response.content.decode()
    assert run.leaks(response.content.decode()) == []

    client = client_for(admin_user)
    pages = [reverse("admin:connections_connection_changelist")]
    pages += [reverse("admin:connections_connection_change", args=[c.pk]) for c in run.connections]
    pages += [reverse("admin:connections_oauthprofile_change", args=[p.pk]) for p in run.profiles]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert run.leaks(response.content.decode()) == [], page
    assert [record for record in caplog.records if run.leaks(record.getMessage())] == []

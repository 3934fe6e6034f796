"""The egress policy on every outgoing request: refused before any connection is made (the resolver and the
socket connect are stood in for, so no traffic goes to these addresses), and the suite's own loopback servers
reachable only where the settings say so."""

from __future__ import annotations

import socket
import threading

import pytest
import requests
from django.urls import reverse

from connections import egress, http
from connections.catalog import origin_of
from connections.egress import REFUSED_MESSAGE, EgressPolicy, EgressRefused
from connections.http import new_session, oauth2_session
from tests.servers._http import HOST, Handler, LoopbackHTTPServer

PUBLIC = "93.184.215.14"  # a public address: never connected to here, the connect is stood in for


@pytest.fixture
def network(monkeypatch):
    """A stand-in for DNS and for connect: `answers[name]` is what a name resolves to (in turn, for a list of
    lists); `connects` records every address a socket would have been connected to, and refuses it."""

    class Network:
        answers: dict[str, list] = {}
        lookups: list[str] = []
        connects: list[tuple] = []

    def getaddrinfo(host, port, family=0, type=0, *args):
        Network.lookups.append(host)
        answer = Network.answers.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        if answer and isinstance(answer[0], list):  # a different answer each time it is asked
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port, 0, 0) if ":" in a else (a, port)) for a in answer]

    def open_socket(family, sockaddr, *args):
        Network.connects.append(sockaddr)
        raise ConnectionRefusedError("stood in for: nothing is connected in this test")

    monkeypatch.setattr(egress, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(http, "open_socket", open_socket)
    return Network


@pytest.fixture
def production(settings):
    """The egress settings of a deployment: no loopback exemption, no allow-list."""
    settings.SPLICE_ALLOW_INSECURE_LOOPBACK = False
    settings.SPLICE_EGRESS_ALLOW = []
    settings.SPLICE_EGRESS_DENY = []
    return settings


REFUSED_BY_DEFAULT = [
    "https://127.0.0.1/", "https://localhost/", "https://[::1]/", "https://0.0.0.0/", "https://169.254.169.254/",
    "https://[::ffff:169.254.169.254]/", "https://[::ffff:7f00:1]/", "https://2130706433/", "https://0177.0.0.1/",
    "https://0x7f.0.0.1/", "https://127.1/", "https://10.0.0.1/", "https://172.16.5.4/", "https://192.168.1.1/",
    "https://100.64.0.1/", "https://224.0.0.1/", "https://[fd00::1]/", "https://[fe80::1]/",
    "https://[64:ff9b::a9fe:a9fe]/", "https://[2002:a9fe:a9fe::]/", "https://[::127.0.0.1]/",
    "https://app.localhost/", "https://[fec0::1]/",
]


@pytest.mark.parametrize("url", REFUSED_BY_DEFAULT)
def test_internal_addresses_are_refused_before_any_connection(url, network, production):
    with new_session() as session, pytest.raises(EgressRefused) as refused:
        session.get(url)
    assert str(refused.value) == REFUSED_MESSAGE
    assert network.connects == []


def test_a_name_resolving_to_a_private_address_is_refused(network, production):
    network.answers = {"intranet.example.com": ["10.1.2.3"]}
    with new_session() as session, pytest.raises(EgressRefused):
        session.get("https://intranet.example.com/api")
    assert network.lookups == ["intranet.example.com"] and network.connects == []


def test_every_answer_is_checked_not_only_the_first(network, production):
    network.answers = {"mixed.example.com": [PUBLIC, "169.254.169.254"], "v6.example.com": [PUBLIC, "fd00::7"]}
    for host in network.answers:
        with new_session() as session, pytest.raises(EgressRefused):
            session.get(f"https://{host}/")
    assert network.connects == []


def test_a_rebinding_resolver_cannot_get_a_request_through(network, production):
    """Public at the first answer, private at the second: Splice asks once and connects to what it checked."""
    network.answers = {"rebind.example.com": [[PUBLIC], ["127.0.0.1"]]}
    with new_session() as session, pytest.raises(requests.ConnectionError):  # the stood-in connect refuses
        session.get("https://rebind.example.com/")
    assert network.lookups == ["rebind.example.com"]
    assert [address for address, *_ in network.connects] == [PUBLIC]


def test_a_public_name_is_connected_to_at_the_address_checked(network, production):
    network.answers = {"api.example.com": [PUBLIC]}
    with new_session() as session, pytest.raises(requests.ConnectionError):
        session.get("https://api.example.com/v1")
    assert network.connects == [(PUBLIC, 443)]


def test_http_is_refused_except_for_local_servers_in_development(network, production):
    network.answers = {"api.example.com": [PUBLIC]}
    with new_session() as session, pytest.raises(EgressRefused):
        session.get("http://api.example.com/")
    production.SPLICE_ALLOW_INSECURE_LOOPBACK = True
    with new_session() as session, pytest.raises(EgressRefused):
        session.get("http://api.example.com/")
    assert network.connects == []


def test_an_allowed_range_lets_an_internal_app_through_and_deny_adds_to_the_defaults(network, production):
    production.SPLICE_EGRESS_ALLOW = ["10.20.0.0/16"]
    production.SPLICE_EGRESS_DENY = [PUBLIC + "/32", "*.blocked.example"]
    network.answers = {"crm.corp.example": ["10.20.1.5"], "api.example.com": [PUBLIC]}
    with new_session() as session:
        with pytest.raises(requests.ConnectionError) as passed:
            session.get("https://crm.corp.example/")
        assert not isinstance(passed.value, EgressRefused)
        for url in ("https://api.example.com/", "https://x.blocked.example/", "https://10.21.0.1/"):
            with pytest.raises(EgressRefused):
                session.get(url)
    assert network.connects == [("10.20.1.5", 443)]


def test_an_allowed_host_name_wins_over_every_range(network, production):
    """Precedence: host allow > range allow > deny."""
    production.SPLICE_EGRESS_ALLOW = ["*.corp.example"]
    production.SPLICE_EGRESS_DENY = ["10.0.0.0/8"]
    network.answers = {"jira.corp.example": ["10.9.9.9"], "corp.example": ["10.9.9.8"]}
    with new_session() as session:
        with pytest.raises(requests.ConnectionError) as passed:
            session.get("https://jira.corp.example/")
        assert not isinstance(passed.value, EgressRefused)
        with pytest.raises(EgressRefused):  # "*.corp.example" is its subdomains, not itself
            session.get("https://corp.example/")
    assert network.connects == [("10.9.9.9", 443)]


def test_oauth_library_sessions_pass_the_same_policy(network, production):
    with oauth2_session("client") as session, pytest.raises(EgressRefused):
        session.fetch_token("https://169.254.169.254/token", client_secret="s", code="c")
    assert network.connects == []


def test_the_suites_loopback_servers_are_reachable_under_insecure_loopback(api_server, settings):
    settings.SPLICE_ALLOW_INSECURE_LOOPBACK = True
    settings.SPLICE_EGRESS_ALLOW = []
    with new_session() as session:
        assert session.get(api_server.url("/api/me")).status_code == 401  # it answered: no credentials sent


def test_the_suites_loopback_servers_are_reachable_when_the_allow_list_names_them(api_server, production):
    """Without the development setting, an allow-list entry is what lets Splice connect to 127.0.0.1 (the
    suite's servers speak http, which only the development setting allows, so https is tried: the TLS
    handshake fails, after the policy let the connection be made)."""
    port = int(api_server.base_url.rsplit(":", 1)[1])
    with new_session() as session:
        with pytest.raises(EgressRefused):
            session.get(f"https://127.0.0.1:{port}/api/me")
        production.SPLICE_EGRESS_ALLOW = ["127.0.0.1/32"]
        with pytest.raises(requests.exceptions.SSLError) as reached:
            session.get(f"https://127.0.0.1:{port}/api/me")
    assert not isinstance(reached.value, EgressRefused)


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0177.0.0.1", "0x7f000001", "::ffff:7f00:1", "::1",
                                  "[::ffff:127.0.0.1]", "127.1"])
def test_every_spelling_of_loopback_is_loopback(host):
    policy = EgressPolicy()
    with pytest.raises(EgressRefused):
        policy.check_host(host)
    EgressPolicy(allow_loopback=True).check_host(host)


def test_names_that_only_look_like_addresses_are_names():
    for host in ("1.2.3.4.example.com", "0x7g.1", "999.1.1.1", "api.example.com"):
        assert egress.parse_ip(host) is None


# --- what a person sees, and redirects ---------------------------------------------------------------------


class RedirectingApp(Handler):
    """An app whose /api/me redirects to wherever its `to` query says; any other path answers who called."""

    def route(self):
        self.server.seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        if self.url_path == "/api/me" and self.query_value("to"):
            return self.redirect(self.query_value("to"))
        return self.send_json(200, {"email": "ada@example.com"})


@pytest.fixture
def redirecting_apps():
    servers = []
    for _ in range(2):
        server = LoopbackHTTPServer((HOST, 0), RedirectingApp)
        server.seen = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        server.url = f"http://{HOST}:{server.server_address[1]}"
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loopback_only(monkeypatch):
    """Connects to loopback as usual and records every address it is asked to connect to."""
    connects = []
    real = http.open_socket

    def open_socket(family, sockaddr, *args):
        connects.append(sockaddr[0])
        assert sockaddr[0] == "127.0.0.1", "only loopback may be connected to in the tests"
        return real(family, sockaddr, *args)

    monkeypatch.setattr(http, "open_socket", open_socket)
    return connects


def _basic_connection(project, builder, base_url):
    from connections import services

    connection = services.connection_create(project=project, connector_key="loopback", name="Redirecting app",
                                            acting_user=builder, auth_method="basic",
                                            settings_values={"base_url": base_url})
    return connection


def test_a_redirect_to_another_origin_carries_no_credentials(redirecting_apps, loopback_only, project, builder):
    from connections.client import connection_client
    from connections.credentials import seal_secret
    from connections.models import Connection

    app, elsewhere = redirecting_apps
    connection = _basic_connection(project, builder, app.url)
    seal_secret(connection, "password", "the-password")
    connection.username, connection.authorized_origins = "ada", [origin_of(app.url)]
    connection.save()

    response = connection_client(Connection.objects.get(pk=connection.pk)).request(
        "GET", "/api/me", params={"to": f"{elsewhere.url}/landing"})

    assert response.status_code == 200
    assert app.seen[0]["authorization"].startswith("Basic ")
    assert elsewhere.seen == [{"path": "/landing", "authorization": None}]


def test_a_redirect_to_a_denied_address_is_refused_before_connecting(redirecting_apps, loopback_only, project,
                                                                     builder):
    from connections.client import connection_client
    from connections.credentials import seal_secret
    from connections.models import Connection
    from connections.problems import ConnectionProblem, Kind

    app, _ = redirecting_apps
    connection = _basic_connection(project, builder, app.url)
    seal_secret(connection, "password", "the-password")
    connection.username, connection.authorized_origins = "ada", [origin_of(app.url)]
    connection.save()

    with pytest.raises(ConnectionProblem) as refused:
        connection_client(Connection.objects.get(pk=connection.pk)).request(
            "GET", "/api/me", params={"to": "https://169.254.169.254/latest/meta-data/"})

    assert refused.value.verdict.kind == Kind.ADDRESS_REFUSED
    assert loopback_only == ["127.0.0.1"]  # the app itself, and nothing after it


def test_test_now_on_an_internal_address_shows_the_refusal_on_the_connection(
        project, builder, client_for, network, production):
    """A name that resolves inside the network: one message, whatever answers there, and the connection says so."""
    from connections.credentials import seal_secret
    from connections.models import Connection

    network.answers = {"db.corp.example": ["10.0.0.7"]}
    connection = _basic_connection(project, builder, "https://db.corp.example")
    seal_secret(connection, "password", "the-password")
    connection.username, connection.authorized_origins = "ada", ["https://db.corp.example:443"]
    connection.status = Connection.Status.CONNECTED
    connection.save()

    response = client_for(builder).post(reverse("connection_test", args=[connection.pk]), follow=True)

    assert response.status_code == 200
    assert REFUSED_MESSAGE in response.text
    connection.refresh_from_db()
    assert (connection.status, connection.error_reason) == ("error", "address_refused")
    assert connection.get_error_reason_display() == "Address not allowed"
    assert network.lookups == ["db.corp.example"] and network.connects == []


@pytest.mark.parametrize("base_url", ["https://10.0.0.1", "https://[::ffff:a9fe:a9fe]", "https://localhost:8443",
                                      "https://192.168.0.10:8080"])
def test_the_wizard_refuses_an_internal_address_with_the_same_message(base_url, production, client_for, builder,
                                                                      project):
    from connections.models import Connection

    response = client_for(builder).post(reverse("connection_create_app", args=["loopback"]), {
        "name": "Internal", "project": project.pk, "environment": "production", "auth_method": "basic",
        "setting_base_url": base_url,
    })

    assert response.status_code in (200, 400)
    assert REFUSED_MESSAGE in response.text
    assert not Connection.objects.filter(name="Internal").exists()


def test_a_url_parsers_read_differently_is_judged_as_requests_will_send_it():
    """urllib reads the host of "https://evil.example\\@app.example/" as app.example, urllib3 (which connects)
    as evil.example: such a URL has no origin of its own, and a redirect to it is judged where it really goes."""
    from connections.client import _as_sent

    tricky = "https://evil.example\\@app.example/x"
    with pytest.raises(ValueError):
        origin_of(tricky)
    assert origin_of(_as_sent(tricky)) == "https://evil.example:443"  # where requests would connect

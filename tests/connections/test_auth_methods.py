"""The auth method classes (connections.auth): each signs a request as its app expects (the suite's loopback
servers check it), the registry knows every spec type and refuses others, a method registered from outside is
used by the client with no switch to edit, and no module outside connections/auth/ switches on a method type."""

from __future__ import annotations

import ast
import base64
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from connections import auth as auth_registry
from connections.auth import AUTH_METHODS, Auth, UnknownAuthType, auth_for
from connections.auth.api_key import ApiKeyAuth
from connections.auth.basic import BasicAuth
from connections.auth.oauth1 import OAuth1Auth
from connections.auth.oauth2 import OAuth2Auth
from connections.catalog import AUTH_TYPES, registry
from connections.client import connection_client, oauth_client_for, resolved_auth
from connections.credentials import CONNECTION_SECRET_FIELDS, open_secret
from connections.problems import ConnectionProblem, Kind
from tests.connections.conftest import METHODS
from tests.servers.fixtures import APIServer

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
HEADER_KEY, HEADER_SECRET = "hdr-key-71c2aa", "hdr-secret-04be9d"


def sign(connection) -> tuple[dict, dict, object]:
    """(headers, params, requests auth) as the connection's auth method class signs a request."""
    method = resolved_auth(connection)
    headers, params = {}, {}
    signed = auth_for(method.type).sign(method=method, connection=connection, headers=headers, params=params,
                                        oauth_client=lambda: oauth_client_for(connection, method=method))
    return headers, params, signed


def send(url: str, signed_parts) -> requests.Response:
    headers, params, signed = signed_parts
    return requests.get(url, headers=headers, params=params or None, auth=signed, timeout=10)


# --- the registry -----------------------------------------------------------------------------


def test_every_spec_method_type_has_its_class_and_nothing_else_does():
    assert set(AUTH_METHODS) == set(AUTH_TYPES)
    assert {name: type(auth) for name, auth in AUTH_METHODS.items()} == {
        "oauth2": OAuth2Auth, "oauth1": OAuth1Auth, "basic": BasicAuth, "api_key": ApiKeyAuth,
    }
    assert all(auth_for(name).type == name for name in AUTH_TYPES)


@pytest.mark.parametrize("method_type", ["saml", "OAuth2", "", None, "static_header"])
def test_the_registry_refuses_an_unknown_type(method_type):
    with pytest.raises(UnknownAuthType, match="no auth method of type"):
        auth_for(method_type)


def test_what_each_class_says_about_itself():
    table = {name: (auth.label, auth.refreshes, auth.needs_oauth_client, auth.uses_credentials_form)
             for name, auth in AUTH_METHODS.items()}
    assert table == {
        "oauth2": ("OAuth 2.0", True, True, False),
        "oauth1": ("OAuth 1.0a", False, True, False),
        "basic": ("Username and password", False, False, True),
        "api_key": ("API key", False, False, True),
    }
    # What it stores is erased on disconnect and re-wrapped on key rotation with every other credential column.
    for auth in AUTH_METHODS.values():
        assert set(auth.stores) <= {*CONNECTION_SECRET_FIELDS, "username"}, auth.type


def test_whether_authorizing_redirects_agrees_with_the_spec_for_every_method_of_every_connector():
    loopback = registry().get("loopback")
    redirects = {m.key: auth_for(m.type).redirects(m) for m in loopback.auth}
    assert [key for key, yes in redirects.items() if yes] == ["oauth2", *METHODS.values()]
    # The templates read the spec model's `redirects`; the views ask the class: one answer.
    for spec in registry().all():
        for method in spec.auth:
            auth = auth_for(method.type)
            assert auth.redirects(method) == method.redirects, (spec.key, method.key)
            assert not (auth.redirects(method) and auth.uses_credentials_form), (spec.key, method.key)


def test_the_client_secret_goes_to_the_endpoints_and_for_oauth1_to_the_api_too(oauth1_server, oauth2_server):
    loopback = registry().get("loopback")
    urls = {"base_url": oauth1_server.base_url, "authorize_url": oauth1_server.authorize_url,
            "request_token_url": oauth1_server.request_token_url,
            "access_token_url": oauth1_server.access_token_url, "token_url": oauth2_server.token_url}
    oauth1 = loopback.resolve_auth("oauth1", urls, allow_insecure_loopback=True)
    assert sorted(auth_for("oauth1").client_secret_urls(oauth1)) == sorted(oauth1_server.endpoints)
    cc = loopback.resolve_auth("oauth2_client_credentials", urls, allow_insecure_loopback=True)
    assert auth_for("oauth2").client_secret_urls(cc) == [oauth2_server.token_url]


# --- each class signs as its app expects --------------------------------------------------------


def test_basic_signs_with_the_username_and_password(credential_connection, api_server):
    connection, outcome = credential_connection("basic")
    assert outcome.ok, outcome.message

    parts = sign(connection)
    response = send(api_server.me_url, parts)

    assert response.status_code == 200
    sent = api_server.last_request()
    assert sent["auth"] == "basic"
    expected = base64.b64encode(f"{APIServer.username}:{APIServer.password}".encode()).decode()
    assert {k.lower(): v for k, v in sent["headers"].items()}["authorization"] == f"Basic {expected}"
    assert parts[:2] == ({}, {})  # nothing of the credentials in the headers or query the caller passes on


@pytest.mark.parametrize(("auth_method", "placement"), [("bearer", "bearer"), ("query_key", "query"),
                                                         ("header_key", "header")])
def test_api_key_signs_in_the_header_or_query_the_spec_names(auth_method, placement, credential_connection,
                                                             api_server):
    credentials = {"api_key": APIServer.api_key}
    if auth_method == "header_key":
        credentials = {"api_key": HEADER_KEY, "api_secret": HEADER_SECRET}
        api_server.set_credentials(**credentials)
    connection, outcome = credential_connection(auth_method, credentials)
    assert outcome.ok, outcome.message

    headers, params, signed = parts = sign(connection)
    response = send(api_server.me_url, parts)

    assert response.status_code == 200
    assert api_server.last_request()["auth"] == placement
    assert signed is None
    assert (headers, params) == {
        "bearer": ({"Authorization": f"Bearer {APIServer.api_key}"}, {}),
        "query_key": ({}, {"api_key": APIServer.api_key}),
        "header_key": ({"X-API-Key": HEADER_KEY, "X-API-Secret": HEADER_SECRET}, {}),
    }[auth_method]


def test_oauth2_signs_with_the_access_token_it_was_given(oauth2_connection, authorize_oauth2, oauth2_server):
    connection, outcome = authorize_oauth2(oauth2_connection())
    assert outcome.ok, outcome.message

    headers, params, signed = parts = sign(connection)
    response = send(oauth2_server.me_url, parts)

    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"
    assert headers == {"Authorization": f"Bearer {open_secret(connection, 'access_token').reveal()}"}
    assert (params, signed) == ({}, None)


@pytest.mark.parametrize("signature_method", list(METHODS))
def test_oauth1_signs_each_request_with_the_connections_signature_method(
        signature_method, oauth1_connection, authorize_oauth1, oauth1_server):
    connection, outcome = authorize_oauth1(oauth1_connection(signature_method))
    assert outcome.ok, outcome.message
    oauth1_server.reset()

    headers, params, signed = parts = sign(connection)
    response = send(oauth1_server.items_url, parts)

    assert response.status_code == 200
    assert (headers, params) == ({}, {})  # the signature is computed from the request as it leaves
    assert oauth1_server.stats()["signature_methods"] == {signature_method: 1}


@pytest.mark.parametrize("auth_method", ["oauth2", "oauth1", "basic", "bearer"])
def test_a_connection_without_credentials_is_not_signed(auth_method, project, builder, api_server, oauth2_server,
                                                        oauth1_server):
    from connections import services

    if auth_method in ("oauth2", "oauth1"):
        services.oauth_profile_create(connector_key="loopback", name="Loopback", client_id="id", client_secret="s",
                                      acting_user=builder, is_default=True,
                                      endpoints=[*oauth2_server.endpoints, *oauth1_server.endpoints,
                                                 api_server.base_url])
    connection = services.connection_create(
        project=project, connector_key="loopback", name="Unauthorized", acting_user=builder, auth_method=auth_method,
        settings_values={"base_url": api_server.base_url, "authorize_url": oauth1_server.authorize_url,
                         "token_url": oauth2_server.token_url, "request_token_url": oauth1_server.request_token_url,
                         "access_token_url": oauth1_server.access_token_url},
    )

    with pytest.raises(ConnectionProblem) as refused:
        sign(connection)

    assert refused.value.verdict.kind == Kind.CREDENTIALS_INVALID
    assert refused.value.verdict.message == "This connection has no credentials yet: authorize it first."


def test_only_oauth2_revokes_and_only_where_the_spec_says_how(credential_connection):
    connection, _ = credential_connection("basic")

    def no_client():
        raise AssertionError("a method that does not revoke needs no OAuth client")

    assert auth_for("basic").revoke(connection, resolved_auth(connection), oauth_client=no_client) == ""
    cc = registry().get("loopback").auth_method("oauth2_client_credentials")  # no revoke_url
    assert auth_for("oauth2").revoke(connection, cc, oauth_client=no_client) == ""


# --- a method added from outside: one class, registered, no switch edited -------------------------


@dataclass(frozen=True)
class StaticHeaderMethod:
    """Stands in for a spec model (a new method also needs one in connections.catalog.schema's union)."""

    base_url: str
    key: str = "static_header"
    type: str = "static_header"
    label: str = "Static header"
    header: str = "Authorization"

    def url_templates(self) -> dict[str, str]:
        return {"base_url": self.base_url}


class StaticHeaderAuth(Auth):
    """The tiniest method: the stored API key after "Token ", in one header."""

    type = "static_header"
    label = "Static header"
    stores = ("api_key",)
    uses_credentials_form = True

    def sign(self, *, method, connection, headers, params, oauth_client):
        headers[method.header] = f"Token {open_secret(connection, 'api_key').reveal()}"
        return None


def test_a_method_registered_from_outside_signs_requests_through_the_client(credential_connection, api_server,
                                                                            monkeypatch):
    connection, outcome = credential_connection("bearer", {"api_key": APIServer.api_key})
    assert outcome.ok, outcome.message
    with pytest.raises(UnknownAuthType):
        auth_for("static_header")
    monkeypatch.setitem(auth_registry.AUTH_METHODS, "static_header", StaticHeaderAuth())

    client = connection_client(connection)
    client.method = StaticHeaderMethod(base_url=api_server.base_url)  # what resolving its spec model would give
    response = client.request("GET", "/api/me")

    assert isinstance(client.auth, StaticHeaderAuth)
    assert response.status_code == 200
    sent = api_server.last_request()
    assert sent["auth"] == "token"
    assert {k.lower(): v for k, v in sent["headers"].items()}["authorization"] == f"Token {APIServer.api_key}"
    assert client.verdict(response) is None


# --- no switch on a method type anywhere else ---------------------------------------------------


AUTH_TYPE_LITERALS = frozenset(AUTH_TYPES)
# connections/auth/ is where the types mean something; connections/catalog/ is the spec format that declares them
# (its models' `type` literals, AUTH_TYPES, and the validation of each model's fields).
ALLOWED = ("connections/auth/", "connections/catalog/")


def _literals(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {value for element in node.elts for value in _literals(element)}
    return set()


def _switches(path: Path, root: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        operands = [node.left, *node.comparators] if isinstance(node, ast.Compare) else []
        if isinstance(node, ast.MatchValue):
            operands = [node.value]
        for operand in operands:
            if _literals(operand) & AUTH_TYPE_LITERALS:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_outside_connections_auth_switches_on_a_method_type():
    modules = [path for folder in ("connections", "recipes") for path in sorted((REPO / folder).rglob("*.py"))
               if "migrations" not in path.parts and not str(path.relative_to(REPO)).startswith(ALLOWED)]
    assert len(modules) > 20
    assert [switch for path in modules for switch in _switches(path)] == []


def test_the_switch_finder_finds_a_switch(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('if method.type in ("basic", "api_key"):\n    pass\nmatch kind:\n    case "oauth1":\n'
                      '        pass\nok = method.in_ == "header"\nif "oauth2" != method.type:\n    pass\n')
    assert sorted(line.split(": ", 1)[0] for line in _switches(sample, tmp_path)) == [
        "sample.py:1", "sample.py:4", "sample.py:7"]

"""The generic "Make request" action every connector offers: any method and path on the app, with the
connection's auth, through the same operation call; its path cannot leave the base URL, and the egress policy
applies to it as to every request."""

from __future__ import annotations

import json

import pytest

from connections.catalog import MAKE_REQUEST, registry
from connections.client import connection_client
from connections.problems import Kind
from tests.connections.test_egress import network, production  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def test_every_connector_offers_it_and_no_spec_may_take_its_key():
    from connections.catalog import parse_spec_text

    for spec in registry().apps():
        assert spec.operation(MAKE_REQUEST).name == "Make request"
    text = (registry().get("loopback").source and open(registry().get("loopback").source).read())
    clash = text.replace("  - key: get_item\n", "  - key: make_request\n")
    with pytest.raises(Exception, match="make_request"):
        parse_spec_text(clash, source="clash.yaml")


def test_it_sends_the_method_path_query_and_body_with_the_connections_auth(credential_connection, api_server):
    connection, _ = credential_connection("basic")
    client = connection_client(connection)

    listed = client.call(MAKE_REQUEST, {"method": "GET", "path": "/api/items", "query": {"limit": "5"}})
    created = client.call(MAKE_REQUEST, {"method": "POST", "path": "/api/items", "body": {"name": "Raw"}})

    assert listed.ok and [i["name"] for i in listed.data["items"]] == ["First item", "Second item"]
    assert created.ok and created.status == 201 and created.data["name"] == "Raw"
    sent = api_server.stats()["recent"]
    assert (sent[-2]["method"], sent[-2]["query"], sent[-2]["auth"]) == ("GET", {"limit": "5"}, "basic")
    assert (sent[-1]["method"], json.loads(sent[-1]["body"])) == ("POST", {"name": "Raw"})


@pytest.mark.parametrize("path", ["//evil.example/x", "https://evil.example/x", "api/items", "/api/../../x",
                                  "/api/%2e%2e/x", "/a\\b", "/a b"])
def test_a_path_cannot_leave_the_apps_base_url(credential_connection, api_server, path):
    connection, _ = credential_connection("basic")
    before = api_server.stats()["requests"]

    result = connection_client(connection).call(MAKE_REQUEST, {"method": "GET", "path": path})

    assert not result.ok and result.verdict.kind == Kind.OTHER
    assert "path" in result.verdict.message
    assert api_server.stats()["requests"] == before  # nothing was sent anywhere


def test_an_unknown_method_or_a_body_that_is_no_object_is_refused(credential_connection, api_server):
    connection, _ = credential_connection("basic")
    client = connection_client(connection)
    assert "method" in client.call(MAKE_REQUEST, {"method": "TRACE", "path": "/api/items"}).verdict.message
    assert "body" in client.call(MAKE_REQUEST, {"method": "POST", "path": "/api/items", "body": "[1]"}).verdict.message


def test_the_egress_policy_refuses_it_before_connecting(project, builder, network, production):  # noqa: F811
    from connections import services
    from connections.credentials import seal_secret
    from connections.models import Connection

    network.answers = {"crm.corp.example": ["10.1.2.3"]}
    connection = services.connection_create(project=project, connector_key="loopback", name="Internal CRM",
                                            acting_user=builder, auth_method="basic",
                                            settings_values={"base_url": "https://crm.corp.example"})
    seal_secret(connection, "password", "the-password")
    connection.username, connection.authorized_origins = "ada", ["https://crm.corp.example:443"]
    connection.status = Connection.Status.CONNECTED
    connection.save()

    result = connection_client(connection).call(MAKE_REQUEST, {"method": "GET", "path": "/api/items"})

    assert not result.ok and result.verdict.kind == Kind.ADDRESS_REFUSED
    assert network.lookups == ["crm.corp.example"] and network.connects == []

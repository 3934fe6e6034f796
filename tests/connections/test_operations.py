"""The operation call (connections.operations) for each auth method, against the suite's loopback servers: the
connector's action resolved with its inputs, sent with the connection's credentials, classified; a refresh on
401 for OAuth 2.0; and a placeholder that tries to leave the app's base URL refused before anything is sent."""

from __future__ import annotations

import pytest

from connections.client import connection_client
from connections.models import Connection
from connections.problems import Kind

pytestmark = pytest.mark.django_db

HEADER_KEY, HEADER_SECRET = "op-key-5d1f0c", "op-secret-9a77e2"


@pytest.mark.parametrize("auth_method, credentials, placement", [
    ("basic", None, "basic"),
    ("bearer", {"api_key": "op-bearer-key"}, "bearer"),
    ("query_key", {"api_key": "op-query-key"}, "query"),
    ("header_key", {"api_key": HEADER_KEY, "api_secret": HEADER_SECRET}, "header"),
])
def test_an_action_is_sent_with_each_credential_method(auth_method, credentials, placement, credential_connection,
                                                       api_server):
    if credentials:
        api_server.set_credentials(credentials)
    connection, outcome = credential_connection(auth_method, credentials)
    assert outcome.ok, outcome.message

    result = connection_client(connection).call("create_item", {"name": "Follow up with Ada"})

    assert result.ok and result.status == 201 and result.duration_ms >= 0
    assert result.data["name"] == "Follow up with Ada" and result.data["id"]
    request = api_server.last_request()
    assert (request["method"], request["path"]) == ("POST", "/api/items")
    assert request["auth"] == placement and request["status"] == 201  # where the server found the credential
    listed = connection_client(connection).call("list_items", {})
    assert listed.ok and "Follow up with Ada" in [item["name"] for item in listed.data["items"]]


def test_oauth2_refreshes_on_401_and_sends_again(oauth2_connection, authorize_oauth2, oauth2_server):
    connection, _ = authorize_oauth2(oauth2_connection())
    oauth2_server.reset()
    oauth2_server.expire(user="ada@example.com")  # the app expired it; the connection still thinks it fresh

    result = connection_client(Connection.objects.get(pk=connection.pk)).call("list_items", {})

    assert result.ok and result.status == 200
    assert oauth2_server.token_requests("refresh_token") == 1


def test_oauth1_signs_the_operation(oauth1_connection, authorize_oauth1):
    connection, outcome = authorize_oauth1(oauth1_connection("HMAC-SHA256"))
    assert outcome.ok, outcome.message

    result = connection_client(connection).call("list_items", {})

    assert result.ok and result.status == 200 and isinstance(result.data, dict | list)


@pytest.mark.parametrize("item_id", ["../../_control/reset", "..", "%2e%2e", "..%2f..%2f_control", "a/../../b"])
def test_a_placeholder_cannot_leave_the_apps_base_url(item_id, credential_connection, api_server):
    connection, _ = credential_connection("basic")
    before = api_server.stats()["requests"]

    result = connection_client(connection).call("get_item", {"id": item_id})

    assert not result.ok and result.status is None
    assert result.verdict.kind == Kind.OTHER and "input cannot be used" in result.verdict.message
    assert api_server.stats()["requests"] == before  # nothing was sent


def test_a_missing_input_and_an_unknown_operation_are_said_not_sent(credential_connection, api_server):
    connection, _ = credential_connection("basic")
    client = connection_client(connection)
    before = api_server.stats()["requests"]

    missing = client.call("create_item", {})
    unknown = client.call("delete_everything", {})

    assert "name: required" in missing.verdict.message
    assert "no trigger or action 'delete_everything'" in unknown.verdict.message
    assert api_server.stats()["requests"] == before


@pytest.mark.parametrize("fault, kind, status", [
    (401, Kind.CREDENTIALS_INVALID, 401), (403, Kind.INSUFFICIENT_PERMISSIONS, 403), (500, Kind.TRANSIENT, 500),
    (429, Kind.TRANSIENT, 429), (404, Kind.OTHER, 404),
])
def test_the_answer_is_classified_by_the_status_machine(fault, kind, status, credential_connection, api_server):
    connection, _ = credential_connection("basic")
    api_server.set_fault(fault, "/api/items")

    result = connection_client(connection).call("list_items", {})

    assert (result.ok, result.status, result.verdict.kind) == (False, status, kind)

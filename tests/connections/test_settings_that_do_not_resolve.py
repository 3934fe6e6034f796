"""A connection whose settings no longer make a request (a test path that would leave the base URL, a custom
connector changed since) answers Test now and authorization with the setting's problem: never a server error,
and so never an error page with the typed password among its locals."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connections import services
from connections.custom import custom_connector_save, custom_connectors_unload
from connections.models import Connection

PATH_YAML = """\
key: path_app
name: Path app
icon: {letter: P, color: "#0F766E"}
base_url: "{base_url}"
settings:
  base_url: {label: Base URL, type: url, example: "https://api.example.com"}
  test_path: {label: Test path, example: "/me"}
auth:
  - {type: basic}
test: {path: "{test_path}", identity: email}
"""


@pytest.fixture
def path_app(admin_user):
    custom_connector_save(yaml_text=PATH_YAML, acting_user=admin_user)
    yield "path_app"
    custom_connectors_unload()


@pytest.mark.parametrize("test_path", ["//attacker.example/x", "/..%2f..%2fadmin", "/a/../../b"])
def test_authorizing_and_test_now_answer_a_path_that_leaves_the_app_with_a_message(
        test_path, path_app, builder, project, client_for, api_server):
    connection = services.connection_create(
        project=project, connector_key=path_app, name="Paths", acting_user=builder, auth_method="basic",
        settings_values={"base_url": api_server.base_url, "test_path": test_path})
    client = client_for(builder)

    response = client.post(reverse("connection_authorize", args=[connection.pk]),
                           {"username": "ada", "password": "typed-password-Xy7"})

    assert response.status_code == 400
    assert "settings cannot be used" in response.text and "typed-password-Xy7" not in response.text
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NOT_CONNECTED and not connection.password
    assert api_server.stats()["requests"] == 0 if "requests" in api_server.stats() else True

    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.CONNECTED)
    tested = client.post(reverse("connection_test", args=[connection.pk]), follow=True)
    assert tested.status_code == 200 and "settings cannot be used" in tested.text

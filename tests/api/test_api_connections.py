"""/api/v1/connections as a platform team's script uses it: each operation's answer, and its refusals (no token, a
revoked one, a missing privilege, another project's connection, a bad field, a conflict), on PostgreSQL, with
connections to the suite's loopback API server."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from accounts.models import ProjectAccess
from api.models import ApiWrite
from connections.models import AuditEvent, Connection
from tests.api.conftest import Api, problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def basic_body(project, api_server):
    def make(name="CRM sync", **also):
        return {"app": "loopback", "name": name, "project_id": project.pk, "auth_method": "basic",
                "settings": {"base_url": api_server.base_url},
                "credentials": {"username": api_server.username, "password": api_server.password}} | also

    return make


@pytest.fixture
def other_project(make_user):
    stranger = make_user("Builder", email="stranger@example.com")
    return account_services.project_create(name="Someone else's", acting_user=stranger)


# --- who may ----------------------------------------------------------------------------------------------------


def test_no_token_and_a_revoked_token_are_401_with_a_challenge(client, builder, token):
    answer = problem(Api(client, None).get("/connections"), 401, "missing_token")
    assert "personal API token" in answer["detail"]
    token_row = builder.api_tokens.get()
    account_services.api_token_revoke(token=token_row, acting_user=builder)
    response = Api(client, token).get("/connections")
    assert "revoked" in problem(response, 401, "invalid_token")["detail"]
    assert response["WWW-Authenticate"].startswith('Bearer realm="Splice API", error="invalid_token"')


def test_a_person_without_the_privilege_gets_403_naming_it(client, make_user, project, builder, make_token,
                                                            credential_connection):
    connection, _ = credential_connection()
    nobody = make_user(None, email="norole@example.com")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=nobody)
    api = Api(client, make_token(nobody))
    for response in (api.get("/connections"), api.get(f"/connections/{connection.pk}"),
                     api.post(f"/connections/{connection.pk}/test")):
        answer = problem(response, 403, "missing_privilege")
        assert answer["privilege"].startswith("connections.")
    viewer = make_user("Viewer", email="viewer2@example.com")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=viewer)
    answer = problem(Api(client, make_token(viewer)).post(f"/connections/{connection.pk}/disconnect"), 403)
    assert answer["privilege"] == "connections.change_connection"


def test_another_projects_connection_is_a_404_that_names_nothing(client, make_user, make_token, other_project,
                                                                  api_server):
    from connections import services

    stranger = other_project.created_by
    theirs = services.connection_create(project=other_project, connector_key="loopback", name="Their secret CRM",
                                        acting_user=stranger, auth_method="basic",
                                        settings_values={"base_url": api_server.base_url})
    admin = make_user("Admin", email="admin2@example.com")
    api = Api(client, make_token(admin))
    for response in (api.get(f"/connections/{theirs.pk}"), api.patch(f"/connections/{theirs.pk}", {"name": "x"}),
                     api.post(f"/connections/{theirs.pk}/test"), api.post(f"/connections/{theirs.pk}/disconnect"),
                     api.delete(f"/connections/{theirs.pk}"),
                     api.get(f"/connections/{theirs.pk}/authorization_url")):
        problem(response, 404, "not_found")
        assert "Their secret CRM" not in response.content.decode()
    assert api.get("/connections").json()["items"] == []
    body = {"app": "loopback", "name": "Mine", "project_id": other_project.pk, "auth_method": "basic",
            "settings": {"base_url": api_server.base_url}, "shell_connection": True}
    problem(api.post("/connections", body), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.name == "Their secret CRM" and theirs.status == Connection.Status.NOT_CONNECTED


# --- list and show ----------------------------------------------------------------------------------------------


def test_the_list_filters_and_pages_with_a_cursor(api, credential_connection, project, builder, api_server):
    from connections import services

    first, _ = credential_connection(name="Alpha")
    second, _ = credential_connection(name="Beta")
    shell = services.connection_create(project=project, connector_key="loopback", name="Gamma", acting_user=builder,
                                       auth_method="basic", settings_values={"base_url": api_server.base_url})
    page = api.get("/connections?limit=2").json()
    assert [c["name"] for c in page["items"]] == ["Alpha", "Beta"] and page["next_cursor"]
    rest = api.get(f"/connections?limit=2&cursor={page['next_cursor']}").json()
    assert [c["name"] for c in rest["items"]] == ["Gamma"] and rest["next_cursor"] is None
    assert [c["id"] for c in api.get("/connections?status=not_connected").json()["items"]] == [shell.pk]
    assert len(api.get(f"/connections?project_id={project.pk}&app=loopback").json()["items"]) == 3
    assert api.get("/connections?app=github").json()["items"] == []
    later = api.get(f"/connections?updated_after={second.updated_at.isoformat().replace('+00:00', 'Z')}").json()
    assert {c["name"] for c in later["items"]} == {"Gamma"}

    shown = api.get(f"/connections/{first.pk}").json()
    assert shown["authorization_status"] == "connected" and shown["connected_as"]
    assert shown["authorized_at"] and shown["authorized_by"]["email"] == builder.email
    assert shown["recipe_count"] == 0 and shown["running_recipe_count"] == 0
    assert shown["parent_id"] is None and shown["owner"] is None and shown["authorization_error"] is None
    assert shown["settings"] == {"base_url": api_server.base_url}


def test_runtime_user_connections_are_listed_only_when_asked(api, credential_connection, project, builder):
    parent, _ = credential_connection(name="Shared CRM")
    child = Connection.objects.create(project=project, connector_key="loopback", name="Builder's CRM",
                                      auth_method="basic", owner=builder, parent=parent, created_by=builder)
    assert [c["id"] for c in api.get("/connections").json()["items"]] == [parent.pk]
    both = api.get("/connections?include_runtime_connections=true").json()["items"]
    assert [c["id"] for c in both] == [parent.pk, child.pk]
    children = api.get(f"/connections?parent_id={parent.pk}").json()["items"]
    assert [(c["id"], c["parent_id"], c["owner"]["email"]) for c in children] == [(child.pk, parent.pk,
                                                                                   builder.email)]


def test_a_bad_filter_is_a_400_naming_it(api):
    for query, field in (("status=bogus", "status"), ("limit=0", "limit"), ("cursor=%2A%2A", "cursor"),
                         ("updated_after=yesterday", "updated_after"), ("project_id=-3", "project_id")):
        answer = problem(api.get(f"/connections?{query}"), 400, "invalid_request")
        assert field in answer["errors"], (query, answer)
        assert f"“{field}”" in answer["detail"]


# --- create -----------------------------------------------------------------------------------------------------


def test_a_basic_connection_is_tested_and_connected(api, basic_body, builder):
    response = api.post("/connections", basic_body())
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["authorization_status"] == "connected" and made["authorization_url"] is None
    connection = Connection.objects.get(pk=made["id"])
    assert connection.status == Connection.Status.CONNECTED and connection.password
    write = ApiWrite.objects.get(operation="connection_create")
    assert (write.actor, write.token_name, write.object_id) == (builder, "Deploy pipeline", connection.pk)
    created = AuditEvent.objects.get(connection=connection, action=AuditEvent.Action.CREATED)
    assert created.actor == builder and "(API token “Deploy pipeline”)" in created.summary
    assert created.details["api_token"] == "Deploy pipeline"


def test_wrong_credentials_are_answered_with_the_classified_error_and_not_connected(api, basic_body, api_server):
    body = basic_body(credentials={"username": api_server.username, "password": "not-the-password"})
    answer = problem(api.post("/connections", body), 422, "connection_test_failed")
    assert answer["reason"] == "credentials_invalid"
    assert answer["recommendations"] and answer["authorization_status"] == "not_connected"
    connection = Connection.objects.get(pk=answer["connection_id"])
    assert connection.status == Connection.Status.NOT_CONNECTED and not connection.password
    assert "not-the-password" not in str(answer)


def test_a_shell_connection_is_stored_untested(api, basic_body, api_server):
    before = api_server.stats()
    body = basic_body(shell_connection=True)
    del body["credentials"]
    response = api.post("/connections", body)
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["authorization_status"] == "not_connected" and made["authorized_at"] is None
    assert made["authorization_url"].endswith(f"/connections/{made['id']}/authorize/")
    assert api_server.stats() == before  # nothing was sent to the app
    with_credentials = api.post("/connections", basic_body(name="Again", shell_connection=True))
    assert with_credentials.status_code == 201, with_credentials.content
    stored = with_credentials.json()
    assert stored["authorization_status"] == "not_connected" and stored["authorized_at"] is None
    assert api_server.stats() == before  # stored untested: still nothing sent
    connection = Connection.objects.get(pk=stored["id"])
    assert connection.username == api_server.username and api_server.password not in connection.password  # sealed
    assert connection.audit_events.filter(summary__startswith="Credentials stored, not tested yet").exists()


def test_an_oauth_connection_is_created_as_a_shell_with_its_authorization_url(api, project, oauth2_server, builder):
    from connections import services

    services.oauth_profile_create(connector_key="loopback", name="Loopback app", client_id=oauth2_server.client_id,
                                  client_secret=oauth2_server.client_secret, acting_user=builder, is_default=True,
                                  endpoints=oauth2_server.endpoints)
    body = {"app": "loopback", "name": "OAuth CRM", "project_id": project.pk, "auth_method": "oauth2",
            "settings": {"base_url": oauth2_server.base_url, "authorize_url": oauth2_server.authorize_url,
                         "token_url": oauth2_server.token_url}}
    made = api.post("/connections", body).json()
    assert made["authorization_status"] == "not_connected"
    assert made["authorization_url"].endswith(f"/connections/{made['id']}/authorize/")
    again = api.get(f"/connections/{made['id']}/authorization_url").json()
    assert again["authorization_url"] == made["authorization_url"]
    answer = problem(api.post("/connections", body | {"name": "With creds", "credentials": {"password": "x"}}), 400)
    assert "credentials" in answer["errors"]


def test_bad_fields_are_400s_naming_them(api, basic_body, project):
    cases = [
        ({k: v for k, v in basic_body().items() if k != "name"}, "name"),
        (basic_body(app="no-such-app"), "app"),
        (basic_body(auth_method="smoke_signals"), "auth_method"),
        (basic_body(environment="moon"), "environment"),
        (basic_body(settings={"base_url": "not a url"}), "settings.base_url"),
        (basic_body(credentials={"username": "ada"}), "credentials.password"),
        (basic_body(project_id="seven"), "project_id"),
    ]
    for body, field in cases:
        answer = problem(api.post("/connections", body), 400, "invalid_request")
        assert field in answer["errors"], (field, answer)
    assert not Connection.objects.exists()
    api.post("/connections", basic_body())
    answer = problem(api.post("/connections", basic_body()), 400)  # the same name in the project
    assert "already exists" in answer["detail"]
    problem(api.request("post", "/connections", None, **{"Content-Type": "application/json"}), 400)


def test_an_idempotency_key_makes_a_retry_answer_the_first_create(api, basic_body):
    first = api.post("/connections", basic_body(), **{"Idempotency-Key": "new-hire-ada-crm"})
    again = api.post("/connections", basic_body(), **{"Idempotency-Key": "new-hire-ada-crm"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Connection.objects.count() == 1
    other = api.post("/connections", basic_body(name="Other"), **{"Idempotency-Key": "new-hire-ada-crm"})
    problem(other, 422, "idempotency_key_reused")
    problem(api.post("/connections", basic_body(name="Bad key"), **{"Idempotency-Key": "x" * 101}), 400,
            "invalid_idempotency_key")
    assert Connection.objects.count() == 1


# --- update, test -----------------------------------------------------------------------------------------------


def test_update_renames_and_takes_tested_credentials(api, credential_connection, api_server):
    connection, _ = credential_connection()
    renamed = api.patch(f"/connections/{connection.pk}", {"name": "CRM (production)", "description": "Sync"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "CRM (production)"
    event = AuditEvent.objects.filter(connection=connection, action=AuditEvent.Action.SETTINGS_CHANGED).get()
    assert "API token “Deploy pipeline”" in event.summary
    answer = problem(api.patch(f"/connections/{connection.pk}", {"credentials": {"password": "wrong"}}), 422,
                     "connection_test_failed")
    assert answer["reason"] == "credentials_invalid"
    connection.refresh_from_db()
    assert connection.status == Connection.Status.CONNECTED  # the good credentials stay
    assert problem(api.patch(f"/connections/{connection.pk}", {"name": ""}), 400)["errors"].keys() == {"name"}


def test_update_moves_an_unused_connection_to_another_project(api, credential_connection, builder, other_project):
    connection, _ = credential_connection()
    mine = account_services.project_create(name="Finance", acting_user=builder)
    moved = api.patch(f"/connections/{connection.pk}", {"project_id": mine.pk})
    assert moved.status_code == 200 and moved.json()["project_id"] == mine.pk
    problem(api.patch(f"/connections/{connection.pk}", {"project_id": other_project.pk}), 404)


def test_moving_a_connection_to_another_address_needs_confirming(api, credential_connection):
    connection, _ = credential_connection()
    elsewhere = {"settings": {"base_url": "http://127.0.0.1:9/"}}
    answer = problem(api.patch(f"/connections/{connection.pk}", elsewhere), 409, "address_change")
    assert answer["to_origins"] == ["http://127.0.0.1:9"]
    connection.refresh_from_db()
    assert connection.status == Connection.Status.CONNECTED
    moved = api.patch(f"/connections/{connection.pk}", elsewhere | {"confirm_address_change": True}).json()
    assert moved["authorization_status"] == "not_connected" and moved["settings"]["base_url"] == "http://127.0.0.1:9/"


def test_test_now_records_the_outcome(api, credential_connection, api_server):
    connection, _ = credential_connection()
    answer = api.post(f"/connections/{connection.pk}/test").json()
    assert answer["ok"] is True and answer["connection"]["authorization_status"] == "connected"
    tested = AuditEvent.objects.filter(connection=connection, action=AuditEvent.Action.TESTED).get()
    assert "Deploy pipeline" in tested.summary


# --- disconnect, delete -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_disconnect_needs_force_while_a_running_recipe_uses_it(client, builder, make_token, running_recipe):
    api = Api(client, make_token(builder))
    recipe = running_recipe([("loopback", "new_item", {}), ("loopback", "create_item", {"name": "{{trigger.name}}"})],
                            name="Copy new items")
    connection = recipe.bindings.get().connection
    answer = problem(api.post(f"/connections/{connection.pk}/disconnect"), 409, "connection_in_use")
    assert "“Copy new items”" in answer["detail"]
    assert answer["recipes"] == [{"id": recipe.pk, "name": "Copy new items", "running": True}]
    connection.refresh_from_db()
    assert connection.status == Connection.Status.CONNECTED

    gone = api.post(f"/connections/{connection.pk}/disconnect?force=true")
    assert gone.status_code == 200 and gone.json()["authorization_status"] == "disconnected"
    shown = api.get(f"/recipes/{recipe.pk}").json()
    assert shown["running"] is False
    assert any(e["code"] == "connection_disconnected" or "disconnected" in e["message"]
               for e in shown["design_time_errors"]), shown["design_time_errors"]

    events = AuditEvent.objects.filter(connection=connection).count()
    again = api.post(f"/connections/{connection.pk}/disconnect")
    assert again.status_code == 200 and again.json()["authorization_status"] == "disconnected"
    assert AuditEvent.objects.filter(connection=connection).count() == events  # nothing changed

    answer = problem(api.delete(f"/connections/{connection.pk}"), 409, "connection_in_use")
    assert answer["recipes"][0]["id"] == recipe.pk


def test_delete_takes_only_a_disconnected_unused_connection(api, credential_connection):
    connection, _ = credential_connection()
    problem(api.delete(f"/connections/{connection.pk}"), 409, "connection_not_disconnected")
    assert api.post(f"/connections/{connection.pk}/disconnect").status_code == 200
    assert api.delete(f"/connections/{connection.pk}").status_code == 204
    assert not Connection.objects.filter(pk=connection.pk).exists()
    write = ApiWrite.objects.get(operation="connection_delete")
    assert write.object_id == connection.pk and write.token_name == "Deploy pipeline"
    problem(api.get(f"/connections/{connection.pk}"), 404)


def test_reauthorizing_needs_the_edit_privilege_too(client, make_user, make_token, project, builder,
                                                    credential_connection):
    connection, _ = credential_connection()
    assert Api(client, make_token(builder)).get(f"/connections/{connection.pk}/authorization_url").status_code == 200
    operator = make_user("Operator", email="op@example.com")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=operator)
    problem(Api(client, make_token(operator)).get(f"/connections/{connection.pk}/authorization_url"), 403)


def test_the_rate_limit_answers_429_with_retry_after(api, settings):
    settings.SPLICE_API_RATE_LIMIT = 3
    answers = [api.get("/connections") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    answer = problem(answers[3], 429, "rate_limited")
    assert 1 <= int(answers[3]["Retry-After"]) <= 60 and "Retry-After" in answer["detail"]

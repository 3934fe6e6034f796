"""/api/v1/runtime_user_connections: a person's own connection of a recipe's shared one, made with the link that
lets exactly them connect it; listed (one's own; everyone's with "Manage runtime user connections"); a new link."""

from __future__ import annotations

import pytest

from connections.models import Connection
from tests.api.conftest import Api, problem

pytestmark = pytest.mark.django_db


def test_a_runtime_user_connection_and_its_connect_link(client, api, builder, make_user, make_token, project,
                                                       credential_connection):
    from accounts import services as account_services
    from accounts.models import ProjectAccess

    parent, _ = credential_connection(name="Shared CRM")
    made = api.post("/runtime_user_connections", {"parent_id": parent.pk})
    assert made.status_code == 201, made.content
    child = made.json()
    assert child["parent_id"] == parent.pk and child["owner"]["email"] == builder.email
    assert child["authorization_status"] == "not_connected" and child["connect_url"].startswith("http")
    again = api.post("/runtime_user_connections", {"parent_id": parent.pk}).json()
    assert again["id"] == child["id"]  # one per person and parent
    assert [c["id"] for c in api.get("/runtime_user_connections").json()["items"]] == [child["id"]]
    link = api.get(f"/runtime_user_connections/{child['id']}/connect_link").json()["connect_url"]
    assert link.startswith("http") and link != child["connect_url"]  # a new single-use link

    problem(api.post("/runtime_user_connections", {"parent_id": child["id"]}), 400)  # a child is no parent
    someone = make_user("Builder", email="someone@example.com")
    answer = problem(api.post("/runtime_user_connections", {"parent_id": parent.pk,
                                                            "person_email": someone.email}), 403)
    assert answer["privilege"] == "connections.manage_runtime_connections"
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=someone)
    as_someone = Api(client, make_token(someone))
    assert as_someone.get("/runtime_user_connections").json()["items"] == []
    problem(as_someone.get(f"/runtime_user_connections/{child['id']}/connect_link"), 404)
    admin = make_user("Admin", email="boss@example.com")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=admin)
    for_someone = Api(client, make_token(admin)).post("/runtime_user_connections", {
        "parent_id": parent.pk, "person_email": someone.email})
    assert for_someone.status_code == 201 and for_someone.json()["owner"]["email"] == someone.email
    assert Connection.objects.filter(parent=parent).count() == 2

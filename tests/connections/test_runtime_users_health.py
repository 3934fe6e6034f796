"""Health checks cover runtime user (child) connections like any other: a child whose credentials were revoked at
the app is found by its check, marked in error, and its owner is told; the shared parent is left as it was."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from accounts.models import Notification, ProjectAccess
from connections import runtime_users
from connections import services as connection_services
from connections.health import _due, connections_health_check
from connections.models import Connection

pytestmark = pytest.mark.django_db


def test_a_revoked_child_is_found_by_its_health_check_and_its_owner_is_told(
        credential_connection, api_server, make_user, project, builder, django_capture_on_commit_callbacks):
    parent, _ = credential_connection("basic", name="Team loopback")
    owner = make_user("Operator")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=owner)
    api_server.set_credentials({"username": "ada", "password": "ada-pass-123"},
                               {"username": "rep", "password": "rep-pass-123"})
    child = runtime_users.child_create(person=owner, parent=parent)
    assert connection_services.connection_set_credentials(
        connection=child, acting_user=owner, credentials={"username": "rep", "password": "rep-pass-123"}).ok
    # The sweep plans every connected connection that is due, children included.
    due = Connection.objects.filter(_due(parent.updated_at), status=Connection.Status.CONNECTED)
    assert set(due.values_list("pk", flat=True)) == {parent.pk, child.pk}

    api_server.set_credentials(username="ada", password="ada-pass-123")  # rep's access is revoked
    with django_capture_on_commit_callbacks(execute=True):
        connections_health_check(connection_ids=[parent.pk, child.pk])
    child.refresh_from_db()
    parent.refresh_from_db()
    assert (child.status, child.error_reason) == (Connection.Status.ERROR, Connection.ErrorReason.CREDENTIALS_INVALID)
    assert parent.status == Connection.Status.CONNECTED
    told = Notification.objects.about(child)
    assert owner.pk in set(told.values_list("recipient_id", flat=True))
    assert not Notification.objects.about(parent).exists()

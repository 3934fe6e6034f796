"""config.views, the pages that compose every app: the home page, and a project's page with its connections,
its recipes and sharing it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Project, ProjectAccess
from connections.models import Connection
from tests.permissions import Endpoint, matrix

pytestmark = pytest.mark.django_db


def _endpoints(project) -> dict[str, Endpoint]:
    return {
        "project": Endpoint(reverse("project_detail", args=[project.pk]), access=ProjectAccess.VIEW),
        "share": Endpoint(reverse("project_share", args=[project.pk]), "post", access=ProjectAccess.MANAGE,
                          data={"email": "colleague@example.com", "level": "view_project"}, allowed=(302,)),
    }


@pytest.mark.parametrize("cell", matrix(_endpoints(Project(pk=1))))
def test_permission_matrix(permission_matrix, project, cell):
    permission_matrix(cell, _endpoints(project), hidden=[project.name])


def test_home_sends_people_to_sign_in_or_shows_them_their_dashboard(client, client_for, builder, make_user, project):
    assert client.get(reverse("home"))["Location"] == reverse("account_login")
    page = client_for(builder).get(reverse("home"))
    assert page.status_code == 200 and "Welcome" in page.text
    # A default project someone has no access to is not offered.
    stranger = make_user()
    stranger.default_project = project
    stranger.save(update_fields=["default_project"])
    page = client_for(stranger).get(reverse("home"))
    assert page.status_code == 200 and project.name not in page.text


def test_the_project_page_shows_every_apps_part_of_it(client_for, builder, project):
    Connection.objects.create(name="Broken CRM", connector_key="loopback", project=project, created_by=builder,
                              auth_method="basic", status=Connection.Status.ERROR)
    page = client_for(builder).get(reverse("project_detail", args=[project.pk])).text
    assert "Broken CRM" in page and "1 connection needs attention" in page
    assert "No recipes in this project yet." in page and "Share project" in page


def test_a_refused_share_shows_the_whole_page_again_with_the_error(client_for, builder, project):
    Connection.objects.create(name="Broken CRM", connector_key="loopback", project=project, created_by=builder,
                              auth_method="basic", status=Connection.Status.ERROR)
    response = client_for(builder).post(reverse("project_share", args=[project.pk]),
                                        {"email": builder.email, "level": "view_project"})
    assert response.status_code == 400
    assert "The project&#x27;s creator always manages it." in response.text
    assert "1 connection needs attention" in response.text and "Check all connections" in response.text

"""accounts.views through real HTTP: the permission matrix of the project list, creating a project, removing
someone's access and the profile (a project's page and sharing it are config.views: tests/test_views.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Project, ProjectAccess
from tests.permissions import Endpoint, matrix

pytestmark = pytest.mark.django_db


def _endpoints(project) -> dict[str, Endpoint]:
    return {
        "projects": Endpoint(reverse("project_list")),
        "create": Endpoint(reverse("project_create"), privilege="accounts.add_project"),
        "unshare": Endpoint(reverse("project_unshare", args=[project.pk]), "post", access=ProjectAccess.MANAGE,
                            data={"email": "colleague@example.com"}, allowed=(302,)),
        "profile": Endpoint(reverse("profile")),
    }


@pytest.mark.parametrize("cell", matrix(_endpoints(Project(pk=1))))
def test_permission_matrix(permission_matrix, project, cell):
    permission_matrix(cell, _endpoints(project), hidden=[project.name])

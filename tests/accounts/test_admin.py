"""Privilege management in Django admin, through the real admin forms."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts import roles

pytestmark = pytest.mark.django_db


def test_admin_grants_a_privilege_to_a_role_and_its_members_gain_it(client_for, admin_user, viewer):
    assert not viewer.has_perm("connections.add_connection")
    role = Group.objects.get(name=roles.VIEWER)
    url = reverse("admin:accounts_role_change", args=[role.pk])
    client = client_for(admin_user)

    page = client.get(url)
    assert page.status_code == 200
    assert "Create connections" in page.text  # readable privilege names

    kept = ["connections.view_connection", "recipes.view_recipe"]
    response = client.post(url, {"name": role.name, "privileges": [*kept, "connections.add_connection"]})
    assert response.status_code == 302, response.text[:2000]

    viewer = type(viewer).objects.get(pk=viewer.pk)  # fresh permission cache
    assert viewer.has_perm("connections.add_connection") and viewer.has_perm("recipes.view_recipe")


def test_admin_lists_users_with_their_roles(client_for, admin_user, viewer):
    response = client_for(admin_user).get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 200
    assert viewer.email in response.text
    assert "Viewer" in response.text


def test_project_admin_offers_object_permissions(client_for, admin_user, project):
    response = client_for(admin_user).get(reverse("admin:accounts_project_permissions", args=[project.pk]))
    assert response.status_code == 200
    assert builder_email_in(response.text)


def builder_email_in(text: str) -> bool:
    return "builder@example.com" in text


def test_non_staff_cannot_open_admin(client_for, builder):
    response = client_for(builder).get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]

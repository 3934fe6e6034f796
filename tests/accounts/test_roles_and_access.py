"""Built-in roles carry their privileges; privileges gate views (403); project access gates objects (404)."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from accounts import roles, services
from accounts.models import ProjectAccess
from accounts.roles import BUILTIN_ROLES
from tests.permissions import ALLOWED, NO_PRIVILEGE, NO_PROJECT_ACCESS, Endpoint, assert_access

pytestmark = pytest.mark.django_db
CREATE_PROJECT = Endpoint(reverse("project_create"), privilege="accounts.add_project")

EXPECTED = {
    roles.ADMIN: {"connections.add_connection", "connections.view_connection", "connections.change_connection",
                  "connections.delete_connection", "connections.test_connection",
                  "connections.manage_connectors", "connections.view_auditlog", "recipes.add_recipe",
                  "recipes.change_recipe", "recipes.start_recipe", "recipes.view_recipe"},
    roles.BUILDER: {"connections.add_connection", "connections.change_connection", "connections.view_connection",
                    "recipes.add_recipe", "recipes.change_recipe", "recipes.start_recipe"},
    roles.OPERATOR: {"connections.view_connection", "connections.test_connection", "recipes.view_recipe",
                     "recipes.start_recipe"},
    roles.VIEWER: {"connections.view_connection", "recipes.view_recipe"},
}
NOT_EXPECTED = {
    roles.BUILDER: {"connections.manage_connectors", "connections.view_auditlog"},
    roles.OPERATOR: {"connections.add_connection", "connections.change_connection", "recipes.change_recipe"},
    roles.VIEWER: {"connections.add_connection", "connections.test_connection", "recipes.start_recipe",
                   "recipes.change_recipe"},
}


@pytest.mark.parametrize("role", BUILTIN_ROLES)
def test_built_in_roles_carry_their_privileges(make_user, role):
    user = make_user(role)
    assert EXPECTED[role] <= user.get_all_permissions()
    assert not NOT_EXPECTED.get(role, set()) & user.get_all_permissions()


def test_create_connections_privilege_has_its_human_name(make_user):
    from django.contrib.auth.models import Permission

    perm = Permission.objects.get(content_type__app_label="connections", codename="add_connection")
    assert perm.name == "Create connections"


def test_viewer_gets_403_naming_the_missing_privilege_on_a_builder_only_url(client_for, viewer, make_user):
    make_user(roles.ADMIN, email="boss@example.com")
    response = assert_access(client_for(viewer), CREATE_PROJECT, NO_PRIVILEGE)  # names "Create projects"
    assert "boss@example.com" not in response.text  # who grants it is said by role (test_disclosures)


def test_builder_may_open_the_builder_only_url(client_for, builder):
    assert_access(client_for(builder), CREATE_PROJECT, ALLOWED)


def test_project_without_access_is_a_404(client_for, project, make_user):
    outsider = make_user(roles.BUILDER)
    assert_access(client_for(outsider), Endpoint(project.get_absolute_url()), NO_PROJECT_ACCESS,
                  hidden=[project.name])


def test_global_privileges_do_not_open_other_projects(client_for, project, make_user):
    admin_role_user = make_user(roles.ADMIN)  # an Admin by role, not a superuser
    assert_access(client_for(admin_role_user), Endpoint(project.get_absolute_url()), NO_PROJECT_ACCESS)


def test_sharing_a_project_opens_it(client_for, builder, project, make_user):
    colleague = make_user(roles.VIEWER)
    client = client_for(builder)
    response = client.post(
        reverse("project_share", args=[project.pk]), {"email": colleague.email, "level": "view_project"}
    )
    assert response.status_code == 302
    client.force_login(colleague)
    response = client.get(project.get_absolute_url())
    assert response.status_code == 200
    assert project.name in response.text
    assert "Share project" not in response.text  # viewers do not manage


def test_sharing_with_a_role_opens_it_to_its_members(client_for, builder, project, make_user):
    from django.contrib.auth.models import Group

    member = make_user(roles.OPERATOR)
    services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE,
                           group=Group.objects.get(name=roles.OPERATOR))
    assert client_for(member).get(project.get_absolute_url()).status_code == 200


def test_only_managers_may_share(client_for, builder, project, make_user):
    user = make_user(roles.BUILDER)
    services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=user)
    share = Endpoint(reverse("project_share", args=[project.pk]), "post",
                     data={"email": user.email, "level": "manage_project"})
    assert_access(client_for(user), share, NO_PROJECT_ACCESS)
    assert not user.has_perm("accounts.manage_project", project)


def test_project_list_shows_only_accessible_projects(client_for, builder, project, make_user):
    other = make_user(roles.BUILDER)
    response = client_for(other).get(reverse("project_list"))
    assert project.name not in response.text
    assert escape(other.default_project.name) in response.text


def test_profile_page_shows_roles(client_for, builder):
    response = client_for(builder).get(reverse("profile"))
    assert response.status_code == 200
    assert "Builder" in response.text

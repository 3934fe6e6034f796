"""Django admin in Splice's words: Roles and Users under Splice's heading, a role's page offering exactly Splice's
privileges by name and grouped, and the OAuth profile form telling an admin what to register."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import roles

pytestmark = pytest.mark.django_db

SPLICE_PRIVILEGE_NAMES = {
    "Projects": ["Create projects"],
    "Connections": ["View connections", "Create connections", "Edit connections", "Delete connections",
                    "Test connections"],
    "Recipes": ["View recipes", "Create recipes", "Edit recipes", "Delete recipes", "Start and stop recipes"],
    "Administration": ["Manage connectors", "View audit log", "Manage runtime user connections",
                       "Manage users and roles"],
}


def offered_privileges(html: str) -> dict[str, list[str]]:
    """The checkboxes of the Privileges field, by group, as a person reads them."""
    field = html[html.index('id="id_privileges"'):]
    field = field[:field.index("</fieldset>")]
    parts = re.split(r"<div><label>([^<]+)</label>", field)[1:]
    return {group.strip(): [label.strip() for label in re.findall(r'name="privileges"[^>]*>\s*([^<]+)</label>', body)]
            for group, body in zip(parts[::2], parts[1::2], strict=True)}


def test_the_admin_index_lists_roles_and_users_under_splices_heading(client_for, admin_user):
    page = client_for(admin_user).get(reverse("admin:index")).text
    assert "Splice: people, roles and projects" in page
    assert ">Roles<" in page and ">Users<" in page
    assert "Authentication and Authorization" not in page


def test_a_roles_page_offers_exactly_splices_privileges_by_name_grouped(client_for, admin_user):
    role = Group.objects.get(name=roles.OPERATOR)
    page = client_for(admin_user).get(reverse("admin:accounts_role_change", args=[role.pk]))
    assert page.status_code == 200
    assert offered_privileges(page.text) == SPLICE_PRIVILEGE_NAMES
    assert "Can add" not in page.text and "Can change" not in page.text  # none of Django's own permissions
    checked = re.findall(r'value="([^"]+)"[^>]*checked', page.text)
    assert sorted(checked) == sorted(roles.BUILTIN_ROLES[roles.OPERATOR])


def test_saving_a_role_keeps_manage_users_and_roles_together(client_for, admin_user, make_user):
    role = Group.objects.create(name="Support leads")
    response = client_for(admin_user).post(reverse("admin:accounts_role_change", args=[role.pk]), {
        "name": "Support leads", "privileges": ["recipes.view_recipe", roles.MANAGE_USERS_AND_ROLES]})
    assert response.status_code == 302, response.text[:2000]
    lead = make_user(role="Support leads")
    assert lead.has_perm("recipes.view_recipe") and lead.has_perm("auth.change_group")
    assert lead.has_perm("accounts.change_user") and not lead.has_perm("recipes.change_recipe")


def test_the_roles_and_users_lists_take_a_fixed_number_of_queries(client_for, admin_user, make_user):
    client = client_for(admin_user)
    for name in ("admin:accounts_role_changelist", "admin:accounts_user_changelist"):
        client.get(reverse(name))  # warm caches (content types, the session)
        with CaptureQueriesContext(connection) as before:
            client.get(reverse(name))
        for _ in range(5):
            make_user()
        with CaptureQueriesContext(connection) as after:
            assert client.get(reverse(name)).status_code == 200
        assert len(after) == len(before), name


def test_the_oauth_profile_form_names_the_variables_and_the_redirect_uri(client_for, admin_user, settings):
    settings.SPLICE_BASE_URL = "https://splice.example.com"
    page = client_for(admin_user).get(reverse("admin:connections_oauthprofile_add")).text
    assert "https://splice.example.com/connections/oauth/callback/" in page
    assert "SPLICE_OAUTH_&lt;APP KEY&gt;_CLIENT_ID" in page and "SPLICE_OAUTH_&lt;APP KEY&gt;_CLIENT_SECRET" in page
    # One field, not a field and a status under the same name.
    assert len(re.findall(r">Client secret:?</", page)) == 1

"""The recipe editor's pages, through the Django client: the new-recipe form's project, the question before a step
is removed, names (not keys) in the switch question, the connection picker's words, the Re-authorize link that
comes back, the apps menu of a running recipe, and the side pane's access rules."""

from __future__ import annotations

from html import unescape

import pytest
from django.urls import reverse

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections.catalog.app_slot import AppSlot
from recipes import services
from recipes.models import Recipe
from tests.permissions import Endpoint, matrix

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def _project_choice(page: str) -> str:
    """The project the new-recipe form offers first: its selected option's text."""
    select = page.split('name="project"', 1)[1].split("</select>", 1)[0]
    return unescape(select.split(" selected>", 1)[1].split("<", 1)[0])


def test_the_new_recipe_form_offers_the_project_the_person_came_from_else_their_own(client_for, builder, project,
                                                                                   make_user):
    account_services.project_create(name="Accounts payable", acting_user=builder)  # first by name, never chosen
    own = account_services.user_setup_defaults(user=builder)
    client = client_for(builder)
    create = reverse("recipe_create")
    assert _project_choice(client.get(create).text) == own.name
    assert _project_choice(client.get(create, {"project": project.pk}).text) == project.name
    # A project the person may not use is not trusted: their own again.
    elsewhere = account_services.project_create(name="Elsewhere", acting_user=make_user(email="other@example.com"))
    assert _project_choice(client.get(create, {"project": elsewhere.pk}).text) == own.name


def test_the_editor_links_a_new_recipe_in_its_project_and_the_recipes_list_in_a_filtered_one(
        client_for, make_recipe, builder, project):
    recipe = make_recipe()
    client = client_for(builder)
    page = client.get(recipe.get_absolute_url()).text
    assert f'href="{reverse("recipe_create")}?project={project.pk}" aria-label="New recipe in {project.name}"' in page
    listing = client.get(reverse("recipe_list"), {"project": project.pk}).text
    assert f'href="{reverse("recipe_create")}?project={project.pk}"' in listing


def test_removing_a_step_asks_first_and_removes_only_once_confirmed(client_for, make_recipe, builder):
    recipe = make_recipe(steps=[("loopback", "new_item", {}), ("loopback", "create_item", {})])
    client = client_for(builder)
    url = reverse("recipe_step_delete", args=[recipe.pk, 2])

    asked = client.post(url)
    assert asked.status_code == 200 and "Remove step 2?" in asked.text and "“Create item” in Loopback" in asked.text
    assert recipe.steps.count() == 2
    dialog = client.post(url, headers=HTMX)  # htmx: only the question, put in the step's place
    assert "<html" not in dialog.text and 'role="alertdialog"' in dialog.text and recipe.steps.count() == 2

    removed = client.post(url, {"confirm": "1"}, follow=True)
    assert "Step 2 removed." in removed.text and recipe.steps.count() == 1


def test_the_switch_question_names_operations_and_apps(client_for, make_recipe, make_connection, builder):
    recipe = make_recipe(steps=[("loopback", "new_item", {}), ("loopback", "create_item", {})])
    first, second = make_connection("loopback", "First"), make_connection("loopback", "Second")
    services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=first, acting_user=builder)
    page = client_for(builder).post(reverse("recipe_binding_set", args=[recipe.pk]),
                                    {"app_key": "loopback", "connection": second.pk}).text
    assert "Step 1 (trigger): New item" in page and "Step 2: Create item" in page
    assert "new_item" not in page.split('id="switch-heading"', 1)[1].split("</section>", 1)[0]


def test_an_unbound_app_says_so_and_its_picker_selects_no_connection(client_for, make_recipe, make_connection,
                                                                     builder):
    recipe = make_recipe(steps=[("loopback", "new_item", {})])
    make_connection("loopback", "Team Loopback")
    page = client_for(builder).get(recipe.get_absolute_url()).text
    assert "No connection yet" not in page and "No Loopback connection yet" not in page
    assert '<option value="" selected>Choose a connection…</option>' in page
    assert "Not connected in this recipe yet: choose one of the Loopback connections below" in page


def test_re_authorize_from_a_design_time_error_comes_back_to_the_recipe(client_for, make_recipe, make_connection,
                                                                        builder):
    recipe = make_recipe(steps=[("loopback", "new_item", {})])
    broken = make_connection("loopback", "Broken", status="error")
    services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=broken, acting_user=builder)
    page = client_for(builder).get(recipe.get_absolute_url()).text
    back = f'{reverse("connection_authorize", args=[broken.pk])}?next=%2Frecipes%2F{recipe.pk}%2F'
    assert f'<a href="{back}">Re-authorize</a>' in page


def test_a_running_recipe_keeps_its_apps_menu_read_only(client_for, make_recipe, builder):
    recipe = make_recipe(steps=[("scheduler", "every", {"minutes": "5"})])
    services.recipe_start(recipe=recipe, acting_user=builder)
    page = client_for(builder).get(recipe.get_absolute_url()).text
    menu = page.split('aria-label="Apps"', 1)[1].split("</nav>", 1)[0]
    assert "Read only while the recipe runs: stop it to add steps." in menu and "Loopback" in menu
    assert "?app=" not in menu  # nothing to add while it runs


def test_before_a_trigger_the_editor_offers_no_actions(client_for, make_recipe, builder):
    recipe = make_recipe()
    page = client_for(builder).get(recipe.get_absolute_url(), {"app": "loopback"}).text
    assert 'aria-label="Add trigger New item"' in page and 'aria-label="Add action' not in page
    assert "A recipe starts with its trigger: add one first (above). Actions come after it." in page


def test_the_side_pane_is_the_connection_form_for_the_recipes_project(client_for, make_recipe, builder, project):
    recipe = make_recipe(steps=[("loopback", "new_item", {})])
    client = client_for(builder)
    url = reverse("recipe_connect_pane", args=[recipe.pk])
    pane = client.get(url, {"app_key": "loopback", "step": "1"}, headers=HTMX).text
    assert "<html" not in pane and "Connect Loopback" in pane and f"In the project “{project.name}”, for step 1" in pane
    assert 'value="My Loopback account"' in pane and 'hx-target="#describe-fields"' in pane
    # Without htmx the pane is no page of its own: the editor.
    assert client.get(url, {"app_key": "loopback"})["Location"] == recipe.get_absolute_url()
    # A name the project has already: said on the pane's form, nothing made.
    make = {"app_key": "loopback", "name": "Taken", "project": project.pk, "environment": "production",
            "auth_method": "basic", "setting_base_url": "http://127.0.0.1:9/"}
    client.post(url, make, headers=HTMX)
    again = client.post(url, make, headers=HTMX).text
    assert "A connection with this name already exists in this project." in again


@pytest.fixture
def pane_recipe(make_recipe, make_connection):
    recipe = make_recipe(steps=[("loopback", "new_item", {})])
    return recipe, make_connection("loopback", "Pending", status="not_connected")


def _pane_endpoints(recipe: Recipe, connection_pk: int) -> dict[str, Endpoint]:
    pk, use = recipe.pk, ProjectAccess.USE
    return {
        "pane": Endpoint(reverse("recipe_connect_pane", args=[pk]) + "?app_key=loopback",
                         privilege="recipes.change_recipe", access=use, headers=HTMX),
        "credentials": Endpoint(reverse("recipe_connect_credentials", args=[pk, connection_pk]), "post",
                                privilege="recipes.change_recipe", access=use, headers=HTMX),
        "authorize": Endpoint(reverse("recipe_connect_authorize", args=[pk, connection_pk]), "post",
                              privilege="recipes.change_recipe", access=use, headers=HTMX, allowed=(200, 204)),
    }


@pytest.mark.parametrize("cell", matrix(_pane_endpoints(Recipe(pk=1), 1)))
def test_side_pane_permission_matrix(permission_matrix, pane_recipe, cell):
    recipe, connection = pane_recipe
    permission_matrix(cell, _pane_endpoints(recipe, connection.pk), hidden=[recipe.name])


def test_the_side_pane_authorizes_only_connections_of_the_recipes_project(client_for, make_recipe, make_connection,
                                                                          builder):
    recipe = make_recipe(steps=[("loopback", "new_item", {})])
    other_project = account_services.project_create(name="Other team", acting_user=builder)
    elsewhere = make_connection("loopback", "Elsewhere", status="not_connected", project_=other_project)
    response = client_for(builder).post(reverse("recipe_connect_credentials", args=[recipe.pk, elsewhere.pk]),
                                        headers=HTMX)
    assert response.status_code == 404

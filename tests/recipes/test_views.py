"""Recipe pages and their htmx/POST endpoints through real HTTP, and what the connection pages show
once real recipes use connections."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import ProjectAccess
from connections.catalog.app_slot import AppSlot
from recipes import services
from recipes.models import Recipe
from tests.permissions import Endpoint, matrix

pytestmark = pytest.mark.django_db


@pytest.fixture
def recipe(make_recipe, make_connection, builder):
    recipe = make_recipe(steps=[("gmail", "new_email", {}), ("gmail", "send_email", {"raw": "{{trigger.id}}"})])
    services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "My Gmail account"),
                         acting_user=builder)
    return recipe


def _endpoints(recipe) -> dict[str, Endpoint]:
    pk, view, use, moved = recipe.pk, ProjectAccess.VIEW, ProjectAccess.USE, (200, 302, 409)

    def change(url, data=None, privilege="recipes.change_recipe"):
        return Endpoint(url, "post", privilege=privilege, access=use, data=data or {}, allowed=moved)

    return {
        "list": Endpoint(reverse("recipe_list"), privilege="recipes.view_recipe"),
        "create": Endpoint(reverse("recipe_create"), privilege="recipes.add_recipe"),
        "editor": Endpoint(reverse("recipe_editor", args=[pk]), privilege="recipes.view_recipe", access=view),
        "history": Endpoint(reverse("recipe_history", args=[pk]), privilege="recipes.view_recipe", access=view),
        "settings": change(reverse("recipe_settings", args=[pk]), {"name": "X", "kind": "standard"}),
        "step_add": change(reverse("recipe_step_add", args=[pk]), {"app_key": "gmail", "operation_key": "get_email"}),
        "step_inputs": change(reverse("recipe_step_inputs", args=[pk, 2]), {"input_raw": "x"}),
        "step_delete": change(reverse("recipe_step_delete", args=[pk, 2])),
        "binding": change(reverse("recipe_binding_set", args=[pk]), {"app_key": "gmail", "connection": "0"}),
        "runtime_user": change(reverse("recipe_binding_runtime_user", args=[pk]), {"app_key": "gmail"}),
        "connect": change(reverse("recipe_connect_start", args=[pk]), {"app_key": "gmail"}),
        "connect_done": Endpoint(reverse("recipe_connect_done", args=[pk]), privilege="recipes.change_recipe",
                                 access=use, allowed=moved),
        "start": change(reverse("recipe_start", args=[pk]), privilege="recipes.start_recipe"),
        "stop": change(reverse("recipe_stop", args=[pk]), privilege="recipes.start_recipe"),
    }


@pytest.mark.parametrize("cell", matrix(_endpoints(Recipe(pk=1))))
def test_permission_matrix(permission_matrix, recipe, cell):
    permission_matrix(cell, _endpoints(recipe), hidden=[recipe.name])


def test_recipes_page_shows_error_counts_apps_and_filters(client_for, recipe, make_recipe, builder):
    make_recipe("Empty recipe", kind="callable")
    client = client_for(builder)
    text = client.get(reverse("recipe_list")).text
    assert "Forward leads" in text and "Empty recipe" in text and "No steps yet" in text
    assert "Gmail" in text
    assert client.get(reverse("recipe_list"), {"kind": "callable"}).text.count("Forward leads") == 0
    assert "No recipe matches" in client.get(reverse("recipe_list"), {"state": "running"}).text


def test_recipes_page_counts_design_time_errors(client_for, make_recipe, builder):
    make_recipe("Broken", steps=[("gmail", "new_email", {})])
    assert "1 error" in client_for(builder).get(reverse("recipe_list")).text


def test_editor_disables_inputs_until_the_app_has_a_valid_connection(client_for, make_recipe, builder):
    recipe = make_recipe(steps=[("gmail", "new_email", {}), ("gmail", "send_email", {})])
    text = client_for(builder).get(recipe.get_absolute_url()).text
    assert "Connect to Gmail to configure this step." in text
    assert "<fieldset disabled>" in text
    assert "2 design-time errors" in text


def test_editor_offers_the_secondary_connector_and_data_pills(client_for, make_recipe, make_connection, builder):
    recipe = make_recipe(steps=[("salesforce", "new_lead", {}), ("salesforce", "query", {"q": "x"})])
    services.binding_set(recipe=recipe, app=AppSlot("salesforce"), connection=make_connection("salesforce", "SF"),
                         acting_user=builder)
    text = client_for(builder).get(recipe.get_absolute_url()).text
    assert "Salesforce (secondary)" in text and "it takes its own connection" in text
    assert 'data-pill="{{trigger.Email}}"' in text


def test_used_by_counts_and_running_recipes_on_the_connections_page(client_for, recipe, make_recipe, builder):
    connection = recipe.bindings.get().connection
    other = make_recipe("Second", steps=[("gmail", "new_email", {})])
    services.binding_set(recipe=other, app=AppSlot("gmail"), connection=connection, acting_user=builder)
    Recipe.objects.filter(pk=recipe.pk).update(running=True)
    text = client_for(builder).get(reverse("connection_list")).text
    assert "Used by 2 recipes (1 running)" in text


def test_disconnect_anyway_then_the_recipe_shows_the_error(client_for, recipe, builder):
    connection = recipe.bindings.get().connection
    Recipe.objects.filter(pk=recipe.pk).update(running=True)
    client = client_for(builder)
    url = reverse("connection_disconnect", args=[connection.pk])
    assert "Disconnect anyway" in client.get(url).text and "Forward leads" in client.get(url).text
    client.post(url, {"force": "1"})
    editor = client.get(recipe.get_absolute_url()).text
    assert "connection “My Gmail account” is disconnected" in editor


def test_deleting_a_connection_a_recipe_uses_is_refused_with_the_list(client_for, recipe, builder):
    connection = recipe.bindings.get().connection
    client = client_for(builder)
    client.post(reverse("connection_disconnect", args=[connection.pk]))
    response = client.post(reverse("connection_delete", args=[connection.pk]))
    assert response.status_code == 400 and "Forward leads" in response.text


def test_start_refusal_lists_the_errors(client_for, make_recipe, builder):
    recipe = make_recipe(steps=[("gmail", "new_email", {})])
    response = client_for(builder).post(reverse("recipe_start", args=[recipe.pk]), follow=True)
    assert "The recipe can&#x27;t start: 1 design-time error" in response.text
    assert "Gmail has no connection" in response.text
    assert not Recipe.objects.get(pk=recipe.pk).running


def _long_recipe(project, builder, *, steps: int, apps: list[str]) -> Recipe:
    """A recipe of `steps` steps taking turns over `apps`, each bound to a connection, every input a data pill."""
    from connections.catalog import registry
    from connections.models import Connection
    from recipes.models import ConnectionBinding, Step

    recipe = Recipe.objects.create(name=f"{steps} steps", project=project, created_by=builder)
    rows = []
    for position in range(1, steps + 1):
        spec = registry().get(apps[(position - 1) % len(apps)])
        operation = spec.triggers[0] if position == 1 else next(a for a in spec.actions if a.input)
        rows.append(Step(recipe=recipe, position=position, is_trigger=position == 1, connector_key=spec.key,
                         operation_key=operation.key,
                         inputs={f.name: "{{trigger.id}}" for f in operation.input if position > 1}))
    Step.objects.bulk_create(rows)
    for app in apps:
        connection = Connection.objects.create(name=f"{app} for {recipe.name}", connector_key=app, project=project,
                                               auth_method="basic", status="connected", created_by=builder)
        ConnectionBinding.objects.create(recipe=recipe, connector_key=app, connection=connection)
    return recipe


def test_the_editor_makes_as_many_queries_for_30_steps_over_4_apps_as_for_5_steps_over_1(
        client_for, builder, project):
    client = client_for(builder)
    counts = {}
    for steps, apps in [(5, ["loopback"]), (30, ["loopback", "gmail", "slack", "github"])]:
        url = _long_recipe(project, builder, steps=steps, apps=apps).get_absolute_url()
        client.get(url)  # warm the session and content types
        with CaptureQueriesContext(db) as queries:
            response = client.get(url)
        assert response.status_code == 200 and f"Save step {steps}" in response.text
        counts[steps] = len(queries)
    assert counts[5] == counts[30], counts


def test_every_step_offers_the_data_pills_of_the_steps_before_it(client_for, builder, project):
    recipe = _long_recipe(project, builder, steps=3, apps=["loopback"])
    text = client_for(builder).get(recipe.get_absolute_url()).text
    trigger_pill = 'data-pill="{{trigger.id}}" aria-label="Insert trigger: ID">trigger: ID</button>'
    step2_pill = 'data-pill="{{step2.id}}"'
    step2, step3 = text.index('id="step-2"'), text.index('id="step-3"')
    assert trigger_pill in text[step2:step3] and step2_pill not in text[step2:step3]
    assert trigger_pill in text[step3:] and step2_pill in text[step3:]
    assert '<label for="step2-name">Name</label>' in text
    assert 'name="input_name" value="{{trigger.id}}"' in text


def test_the_bound_connection_is_offered_beyond_the_first_hundred(client_for, builder, project, make_connection):
    from connections.models import Connection

    recipe = _long_recipe(project, builder, steps=2, apps=["gmail"])
    Connection.objects.bulk_create([
        Connection(name=f"Another Gmail {n:03}", connector_key="gmail", project=project, auth_method="oauth2",
                   status="connected") for n in range(101)
    ])
    text = client_for(builder).get(recipe.get_absolute_url()).text
    bound = recipe.bindings.get().connection
    assert f'<option value="{bound.pk}" selected>gmail for 2 steps (Sales operations, connected)</option>' in text
    assert "Another Gmail 099" in text and "Another Gmail 100" not in text

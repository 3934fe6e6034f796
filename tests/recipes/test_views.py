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
        "call_field_add": change(reverse("recipe_call_field_add", args=[pk]),
                                 {"call_field-name": "email", "call_field-type": "string"}),
        "call_field_delete": change(reverse("recipe_call_field_delete", args=[pk]), {"name": "email"}),
        "webhook_regenerate": change(reverse("recipe_webhook_regenerate", args=[pk]), {"confirm": "1"}),
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


# --- built-in apps, callable recipes, starting, webhooks ----------------------------------------------------------


def _step_add(client, recipe, app_key: str, operation_key: str):
    return client.post(reverse("recipe_step_add", args=[recipe.pk]), {"app_key": app_key,
                                                                     "operation_key": operation_key}, follow=True)


def _apps_menu(text: str) -> str:
    start = text.index('aria-label="Apps"')
    return text[start:text.index("</nav>", start)]


def test_the_scheduler_is_in_the_app_menu_and_its_trigger_needs_no_connection(client_for, make_recipe, builder):
    recipe = make_recipe("Nightly", steps=[])
    client = client_for(builder)
    menu = _apps_menu(client.get(recipe.get_absolute_url()).text)
    assert "Scheduler" in menu and "Loopback" in menu
    assert "Callable recipe" not in menu  # a standard recipe is not called

    chooser = client.get(recipe.get_absolute_url(), {"app": "scheduler"}).text
    assert 'aria-label="Add trigger On a schedule"' in chooser
    page = _step_add(client, recipe, "scheduler", "every").text
    step = recipe.steps.get()
    assert (step.connector_key, step.operation_key, step.inputs) == ("scheduler", "every", {"minutes": 60})
    assert not recipe.bindings.exists()
    assert "need no connection" in page and "Create a new Scheduler connection" not in page
    assert "No design-time errors." in page
    assert 'name="input_minutes" value="60"' in page and "<fieldset disabled>" not in page


def test_the_callable_recipe_app_is_offered_to_callable_recipes_only(client_for, make_recipe, builder):
    standard, callable_ = make_recipe("Standard"), make_recipe("Function", kind="callable")
    client = client_for(builder)
    assert "Add trigger When called" not in client.get(standard.get_absolute_url(), {"app": "recipe_function"}).text
    refused = _step_add(client, standard, "recipe_function", "new_call").text
    assert "Callable recipe steps are only for callable recipes" in refused
    assert not standard.steps.exists()

    assert "Callable recipe" in _apps_menu(client.get(callable_.get_absolute_url()).text)
    chooser = client.get(callable_.get_absolute_url(), {"app": "recipe_function"}).text
    # Actions are offered once the recipe has its trigger.
    assert 'aria-label="Add trigger When called"' in chooser and 'aria-label="Add action Return result"' not in chooser
    assert "A recipe starts with its trigger: add one first" in chooser
    _step_add(client, callable_, "recipe_function", "new_call")
    chooser = client.get(callable_.get_absolute_url(), {"app": "recipe_function"}).text
    assert 'aria-label="Add action Return result"' in chooser and 'aria-label="Add trigger When called"' not in chooser
    _step_add(client, callable_, "recipe_function", "return_result")
    assert list(callable_.steps.values_list("operation_key", flat=True)) == ["new_call", "return_result"]
    assert not callable_.bindings.exists()


def test_make_request_is_offered_for_a_catalog_app_with_json_object_inputs(client_for, recipe, builder):
    client = client_for(builder)
    chooser = client.get(recipe.get_absolute_url(), {"app": "gmail"}).text
    assert 'aria-label="Add action Make request"' in chooser and 'aria-label="Add action Send email"' in chooser
    page = _step_add(client, recipe, "gmail", "make_request").text
    assert '<select id="step3-method" name="input_method"><option value="GET" selected>GET</option>' in page
    assert '<textarea id="step3-query" name="input_query" rows="3" class="code"' in page
    assert '<textarea id="step3-body" name="input_body" rows="3" class="code"' in page
    assert page.count('<span class="help">A JSON object') >= 2

    client.post(reverse("recipe_step_inputs", args=[recipe.pk, 3]),
                {"input_method": "POST", "input_path": "/users/me/labels", "input_body": "{not json"})
    page = client.get(recipe.get_absolute_url()).text
    assert "Step 3: “JSON body” must be a JSON object" in page
    client.post(reverse("recipe_step_inputs", args=[recipe.pk, 3]),
                {"input_method": "POST", "input_path": "/users/me/labels", "input_body": '{"name": "{{trigger.id}}"}'})
    assert "No design-time errors." in client.get(recipe.get_absolute_url()).text


def _add_call_field(client, recipe, name, type_="string", required=False):
    data = {"call_field-name": name, "call_field-type": type_}
    if required:
        data["call_field-required"] = "on"
    return client.post(reverse("recipe_call_field_add", args=[recipe.pk]), data, follow=True)


def test_a_callable_recipe_declares_and_removes_its_input_fields(client_for, make_recipe, builder):
    recipe = make_recipe("Lookup", kind="callable", steps=[("recipe_function", "new_call", {}),
                                                           ("recipe_function", "return_result", {})])
    client = client_for(builder)
    assert "No input fields yet" in client.get(recipe.get_absolute_url()).text
    added = _add_call_field(client, recipe, "email", required=True)
    assert "Input field “email” added." in added.text
    _add_call_field(client, recipe, "count", "integer")
    recipe.refresh_from_db()
    assert recipe.call_fields == [{"name": "email", "type": "string", "required": True},
                                  {"name": "count", "type": "integer", "required": False}]
    assert recipe.versions.first().summary == "Added input field count"
    page = client.get(recipe.get_absolute_url()).text
    assert 'aria-label="Remove input field email"' in page
    assert 'data-pill="{{trigger.email}}"' in page  # the later step offers the call's inputs as data pills
    assert f"/api/v1/recipes/{recipe.pk}/call" in page

    removed = client.post(reverse("recipe_call_field_delete", args=[recipe.pk]), {"name": "count"}, follow=True)
    assert "Input field “count” removed." in removed.text
    recipe.refresh_from_db()
    assert [f["name"] for f in recipe.call_fields] == ["email"]
    assert recipe.versions.first().summary == "Removed input field count"


@pytest.mark.parametrize("name,type_,message", [
    ("1st", "string", "“1st” is not a field name"),
    ("email", "string", "The recipe has an input field “email” already."),
    ("with space", "string", "“with space” is not a field name"),
    ("", "string", "This field is required."),
    ("total", "decimal", "Select a valid choice."),
])
def test_bad_call_fields_are_refused_on_the_form_keeping_what_was_typed(
        client_for, make_recipe, builder, name, type_, message):
    recipe = make_recipe("Lookup", kind="callable", steps=[("recipe_function", "new_call", {})])
    client = client_for(builder)
    _add_call_field(client, recipe, "email")
    version = Recipe.objects.get(pk=recipe.pk).version
    response = _add_call_field(client, recipe, name, type_)
    assert response.status_code == 200 and message in response.text
    if name:
        assert f'name="call_field-name" value="{name}"' in response.text
    recipe.refresh_from_db()
    assert [f["name"] for f in recipe.call_fields] == ["email"] and recipe.version == version


def test_call_fields_change_only_while_stopped_and_are_checked_by_the_service(make_recipe, builder):
    from django.core.exceptions import ValidationError

    recipe = make_recipe("Lookup", kind="callable", steps=[("recipe_function", "new_call", {})])
    with pytest.raises(ValidationError, match="The field “a” is declared twice."):
        services.recipe_set_call_fields(recipe=recipe, fields=[{"name": "a"}, {"name": "a"}], acting_user=builder)
    Recipe.objects.filter(pk=recipe.pk).update(running=True)
    recipe.refresh_from_db()
    with pytest.raises(ValidationError, match="Stop the recipe before you change its input fields"):
        services.recipe_set_call_fields(recipe=recipe, fields=[{"name": "a", "type": "string"}], acting_user=builder)
    with pytest.raises(ValidationError, match="Only a callable recipe"):
        services.recipe_set_call_fields(recipe=make_recipe("Standard"), fields=[], acting_user=builder)


def _return_step_post(client, recipe, **data):
    return client.post(reverse("recipe_step_inputs", args=[recipe.pk, 2]), data, follow=True)


def test_return_result_fields_are_added_from_data_pills_and_removed(client_for, make_recipe, builder):
    recipe = make_recipe("Lookup", kind="callable", steps=[("recipe_function", "new_call", {}),
                                                           ("recipe_function", "return_result", {})])
    services.recipe_set_call_fields(recipe=recipe, fields=[{"name": "email", "type": "string"}], acting_user=builder)
    client = client_for(builder)
    page = client.get(recipe.get_absolute_url()).text
    assert "No fields yet" in page and '<label for="step2-new-name">Field name</label>' in page

    added = _return_step_post(client, recipe, new_field_name="greeting", new_field_value="Hello {{trigger.email}}")
    assert "Field “greeting” added to step 2." in added.text
    _return_step_post(client, recipe, input_greeting="Hi {{trigger.email}}", new_field_name="ok",
                      new_field_value="true")
    step = recipe.steps.get(position=2)
    assert step.inputs == {"greeting": "Hi {{trigger.email}}", "ok": "true"}  # the edit saved with the addition
    page = client.get(recipe.get_absolute_url()).text
    assert 'aria-label="Remove field greeting"' in page and 'value="Hi {{trigger.email}}"' in page
    assert "No design-time errors." in page

    removed = _return_step_post(client, recipe, input_greeting="Hi {{trigger.email}}", input_ok="true",
                                remove_field="greeting")
    assert "Field “greeting” removed from step 2." in removed.text
    step.refresh_from_db()
    assert step.inputs == {"ok": "true"}

    _return_step_post(client, recipe, input_ok="{{trigger.phone}}")
    assert "Step 2: “ok” uses {{trigger.phone}}, which no earlier step provides." in client.get(
        recipe.get_absolute_url()).text


@pytest.mark.parametrize("name,value,message", [
    ("2fast", "x", "“2fast” is not a field name"),
    ("ok", "again", "The result has a field “ok” already"),
    ("", "{{trigger.email}}", "Name the new field"),
])
def test_a_bad_return_result_field_is_refused_keeping_what_was_typed(
        client_for, make_recipe, builder, name, value, message):
    recipe = make_recipe("Lookup", kind="callable", steps=[("recipe_function", "new_call", {}),
                                                           ("recipe_function", "return_result", {"ok": "true"})])
    client = client_for(builder)
    response = _return_step_post(client, recipe, input_ok="changed", new_field_name=name, new_field_value=value)
    assert response.status_code == 200 and message in response.text and "Nothing was saved." in response.text
    assert 'value="changed"' in response.text and f'name="new_field_value" value="{value}"' in response.text
    assert recipe.steps.get(position=2).inputs == {"ok": "true"}


def test_a_poll_recipe_starts_since_a_date(client_for, make_recipe, credential_connection, builder):
    from datetime import UTC, datetime

    from recipes.runtime.models import TriggerState

    recipe = make_recipe("Sync", steps=[("loopback", "new_item", {})])
    connection, _ = credential_connection("basic")
    services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=connection, acting_user=builder)
    client = client_for(builder)
    page = client.get(recipe.get_absolute_url()).text
    assert 'id="id_start-begin_0" checked' in page and "New records from now on" in page
    assert '<input type="datetime-local" name="start-since"' in page

    url = reverse("recipe_start", args=[recipe.pk])
    refused = client.post(url, {"start-begin": "since", "start-since": ""})
    assert refused.status_code == 200 and "Choose the date to start from" in refused.text
    future = client.post(url, {"start-begin": "since", "start-since": "2999-01-01T00:00"})
    assert "Choose a date in the past" in future.text
    garbled = client.post(url, {"start-begin": "since", "start-since": "last tuesday"})
    assert "Enter a valid date/time." in garbled.text
    assert not Recipe.objects.get(pk=recipe.pk).running

    started = client.post(url, {"start-begin": "since", "start-since": "2024-03-05T08:30"}, follow=True)
    assert "“Sync” is running. It starts with records created since 2024-03-05 08:30." in started.text
    assert TriggerState.objects.get(recipe=recipe).since == datetime(2024, 3, 5, 8, 30, tzinfo=UTC)

    client.post(reverse("recipe_stop", args=[recipe.pk]))
    client.post(url, {"start-begin": "now", "start-since": "2024-03-05T08:30"})  # the date is ignored
    assert TriggerState.objects.get(recipe=recipe).since is None


def test_start_is_disabled_while_design_time_errors_exist_and_links_the_first(client_for, make_recipe, builder):
    recipe = make_recipe(steps=[("gmail", "new_email", {})])
    page = client_for(builder).get(recipe.get_absolute_url()).text
    assert '<button type="button" class="button secondary" disabled aria-describedby="start-blocked">' in page
    assert 'The recipe can start once its 1 design-time error is fixed: <a href="#step-1">Gmail has no' in page
    assert f'action="{reverse("recipe_start", args=[recipe.pk])}"' not in page


def test_the_settings_hold_the_retry_limit_and_poll_interval(client_for, recipe, builder):
    client = client_for(builder)
    page = client.get(recipe.get_absolute_url()).text
    assert "Retries of a failing step" in page and "0 to 10." in page and "1 to 1440 (a day)." in page
    url = reverse("recipe_settings", args=[recipe.pk])
    saved = client.post(url, {"name": recipe.name, "kind": "standard", "retry_limit": "5", "poll_minutes": "15"},
                        follow=True)
    assert "Recipe saved." in saved.text
    recipe.refresh_from_db()
    assert (recipe.retry_limit, recipe.poll_minutes) == (5, 15)
    assert recipe.versions.first().summary == "Changed retry limit, poll interval"
    refused = client.post(url, {"name": recipe.name, "kind": "standard", "retry_limit": "11", "poll_minutes": "0"},
                          follow=True)
    assert "Retries of a failing step: Ensure this value is less than or equal to 10." in refused.text
    assert "Poll every (minutes): Ensure this value is greater than or equal to 1." in refused.text
    recipe.refresh_from_db()
    assert (recipe.retry_limit, recipe.poll_minutes) == (5, 15)


def test_the_editor_says_why_splice_stopped_the_recipe(client_for, recipe, builder):
    Recipe.objects.filter(pk=recipe.pk).update(stopped_reason="Stopped after 60 failed authentications.")
    page = client_for(builder).get(recipe.get_absolute_url()).text
    assert "Splice stopped this recipe.</strong> Stopped after 60 failed authentications." in page
    assert "by Splice" in client_for(builder).get(reverse("recipe_list")).text


def test_the_editor_and_the_list_link_the_recipe_jobs(client_for, recipe, builder):
    client = client_for(builder)
    jobs = reverse("recipe_jobs", args=[recipe.pk])
    editor = client.get(recipe.get_absolute_url()).text
    assert f'<a class="button secondary" href="{jobs}" aria-label="Jobs of this recipe">Jobs</a>' in editor
    assert f'<a href="{jobs}" aria-label="Jobs of {recipe.name}">Jobs</a>' in client.get(reverse("recipe_list")).text


@pytest.fixture
def webhook_recipe(make_recipe, make_connection, builder):
    recipe = make_recipe("On push", steps=[("github", "new_push", {})])
    services.binding_set(recipe=recipe, app=AppSlot("github"), connection=make_connection("github", "GitHub"),
                         acting_user=builder)
    return recipe


def test_the_webhook_address_is_shown_to_editors_and_regenerated_after_confirming(
        client_for, webhook_recipe, builder, make_user, project):
    from accounts import services as account_services

    recipe = webhook_recipe
    client = client_for(builder)
    assert "The recipe gets its own address when it first starts" in client.get(recipe.get_absolute_url()).text
    client.post(reverse("recipe_webhook_regenerate", args=[recipe.pk]), {"confirm": "1"})
    first = Recipe.objects.get(pk=recipe.pk).webhook_token
    assert first and len(first) >= 40
    page = client.get(recipe.get_absolute_url()).text
    assert f"/hooks/{first}/" in page

    question = client.post(reverse("recipe_webhook_regenerate", args=[recipe.pk]))
    assert "Regenerate the webhook address?" in question.text and "stops working at once" in question.text
    assert Recipe.objects.get(pk=recipe.pk).webhook_token == first  # not before the person confirms
    done = client.post(reverse("recipe_webhook_regenerate", args=[recipe.pk]), {"confirm": "1"}, follow=True)
    second = Recipe.objects.get(pk=recipe.pk).webhook_token
    assert second != first and "the old one no longer works" in done.text
    assert f"/hooks/{second}/" in done.text and first not in done.text
    assert recipe.versions.first().summary == "Regenerated the webhook address (the old one no longer works)"

    # Someone who may only view the recipe does not get the address, nor does its history name it.
    operator = make_user("Operator")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=operator)
    page = client_for(operator).get(recipe.get_absolute_url()).text
    assert second not in page and "shown to the people who may edit this recipe" in page
    assert second not in client_for(operator).get(reverse("recipe_history", args=[recipe.pk])).text


@pytest.mark.parametrize("data", [{}, {"confirm": "1"}])
def test_only_a_webhook_recipe_has_an_address_to_regenerate(client_for, recipe, builder, data):
    response = client_for(builder).post(reverse("recipe_webhook_regenerate", args=[recipe.pk]), data, follow=True)
    assert "This recipe&#x27;s trigger is not a webhook" in response.text
    assert "Regenerate the webhook address?" not in response.text
    assert Recipe.objects.get(pk=recipe.pk).webhook_token is None


def test_the_editor_makes_as_many_queries_with_built_in_steps(client_for, builder, project, make_recipe):
    client = client_for(builder)
    counts = {}
    plain = _long_recipe(project, builder, steps=5, apps=["loopback"])
    called = make_recipe("Function", kind="callable", steps=[
        ("recipe_function", "new_call", {}), ("loopback", "get_item", {"id": "{{trigger.id}}"}),
        ("recipe_function", "return_result", {"name": "{{step2.name}}"})])
    services.recipe_set_call_fields(recipe=called, fields=[{"name": "id", "type": "string"}], acting_user=builder)
    from connections.models import Connection
    from recipes.models import ConnectionBinding

    ConnectionBinding.objects.filter(recipe=called).update(connection=Connection.objects.filter(
        connector_key="loopback").first())
    for recipe in (plain, called):
        url = recipe.get_absolute_url()
        client.get(url)
        with CaptureQueriesContext(db) as queries:
            assert client.get(url).status_code == 200
        counts[recipe.name] = len(queries)
    assert counts[plain.name] == counts[called.name], counts

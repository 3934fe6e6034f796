"""One connection per app per recipe, secondary connectors, runtime users, and design-time errors."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from connections.catalog.app_slot import SECONDARY, AppSlot
from connections.models import AuditEvent, Connection
from recipes import services
from recipes.design import design_time_errors
from recipes.models import ConnectionBinding, Recipe

pytestmark = pytest.mark.django_db

GMAIL_RECIPE = [("gmail", "new_email", {}), ("gmail", "send_email", {"raw": "{{trigger.id}}"})]
CALLABLE_GMAIL_RECIPE = [("recipe_function", "new_call", {}), ("gmail", "send_email", {"raw": "x"}),
                         ("recipe_function", "return_result", {"sent": "{{step2.id}}"})]


def _codes(recipe):
    return sorted(e.code for e in design_time_errors(recipe))


def test_binding_a_second_gmail_connection_switches_every_gmail_step_after_a_warning(
        make_recipe, make_connection, builder, client_for):
    recipe = make_recipe(steps=GMAIL_RECIPE)
    first = make_connection("gmail", "My Gmail account")
    second = make_connection("gmail", "My second Gmail account")
    services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=first, acting_user=builder)

    response = client_for(builder).post(reverse("recipe_binding_set", args=[recipe.pk]),
                                        {"app_key": "gmail", "connection": second.pk})
    assert response.status_code == 409
    assert "Switch every step to “My second Gmail account”?" in response.text
    assert "Step 1 (trigger): New email" in response.text and "Step 2: Send email" in response.text  # names, not keys
    assert ConnectionBinding.objects.get(recipe=recipe, connector_key="gmail").connection == first  # not yet

    client_for(builder).post(reverse("recipe_binding_set", args=[recipe.pk]),
                             {"app_key": "gmail", "connection": second.pk, "confirm": "1"})
    bindings = ConnectionBinding.objects.filter(recipe=recipe, connector_key="gmail")
    assert [b.connection for b in bindings] == [second]  # one binding serves both steps
    assert AuditEvent.objects.filter(connection=first, action="unbound").exists()
    assert AuditEvent.objects.filter(connection=second, action="bound").exists()


def test_the_service_names_the_steps_that_would_switch(make_recipe, make_connection, builder):
    recipe = make_recipe(steps=GMAIL_RECIPE)
    services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "A"),
                         acting_user=builder)
    with pytest.raises(services.BindingNeedsConfirmation) as pending:
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "B"),
                             acting_user=builder)
    assert [s.position for s in pending.value.steps] == [1, 2]


def test_secondary_connector_takes_its_own_connection(make_recipe, make_connection, builder):
    recipe = make_recipe(steps=[("salesforce", "new_lead", {}),
                                ("salesforce_secondary", "create_record", {"sobject": "Lead", "fields": "{}"})])
    production = make_connection("salesforce", "Salesforce production")
    sandbox = make_connection("salesforce", "Salesforce sandbox", slot="secondary")
    services.binding_set(recipe=recipe, app=AppSlot("salesforce"), connection=production, acting_user=builder)
    services.binding_set(recipe=recipe, app=AppSlot("salesforce", SECONDARY), connection=sandbox, acting_user=builder)

    by_step = {s.position: ConnectionBinding.objects.get(recipe=recipe, **s.app_slot.lookup()).connection
               for s in recipe.steps.all()}
    assert by_step == {1: production, 2: sandbox}
    assert _codes(recipe) == []


def test_an_app_without_a_secondary_connector_cannot_get_a_second_connection(make_recipe, make_connection, builder):
    recipe = make_recipe(steps=GMAIL_RECIPE)
    other = make_connection("gmail", "Second Gmail", slot="secondary")
    with pytest.raises(ValidationError):
        services.binding_set(recipe=recipe, app=AppSlot("gmail", SECONDARY), connection=other, acting_user=builder)
    binding = ConnectionBinding(recipe=recipe, connector_key="gmail", slot="secondary")
    with pytest.raises(ValidationError, match="Gmail has no secondary connector"):
        binding.full_clean()


def test_a_salesforce_connection_cannot_serve_the_secondary_slot(make_recipe, make_connection, builder):
    recipe = make_recipe(steps=[("salesforce_secondary", "query", {"q": "SELECT Id FROM Lead"})])
    with pytest.raises(ValidationError, match="is not a Salesforce \\(secondary\\) connection"):
        services.binding_set(recipe=recipe, app=AppSlot("salesforce", SECONDARY),
                             connection=make_connection("salesforce", "Primary org"), acting_user=builder)


def test_connections_change_only_while_the_recipe_is_stopped(make_recipe, make_connection, builder):
    recipe = make_recipe(steps=GMAIL_RECIPE)
    Recipe.objects.filter(pk=recipe.pk).update(running=True)
    recipe.refresh_from_db()
    with pytest.raises(ValidationError, match="Stop the recipe"):
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "G"),
                             acting_user=builder)


class TestDesignTimeErrors:
    def test_app_without_a_connection(self, make_recipe):
        recipe = make_recipe(steps=GMAIL_RECIPE)
        errors = design_time_errors(recipe)
        assert [e.code for e in errors] == ["no_connection"]
        assert errors[0].steps == (1, 2)
        assert "Connect to Gmail" in errors[0].message

    @pytest.mark.parametrize("status,reason,code", [
        ("error", "credentials_invalid", "connection_error"),
        ("error", "insufficient_permissions", "connection_error"),
        ("disconnected", "", "connection_disconnected"),
    ])
    def test_connection_in_error_or_disconnected(self, make_recipe, make_connection, builder, status, reason, code):
        recipe = make_recipe(steps=GMAIL_RECIPE)
        connection = make_connection("gmail", "My Gmail account")
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=connection, acting_user=builder)
        Connection.objects.filter(pk=connection.pk).update(status=status, error_reason=reason)
        errors = design_time_errors(recipe)
        assert [e.code for e in errors] == [code]
        if reason:
            assert Connection.ErrorReason(reason).label in errors[0].message
            assert errors[0].recommendations  # the seed's fix
            assert errors[0].fix_url == reverse("connection_authorize", args=[connection.pk])

    def test_required_input_and_unresolved_pill(self, make_recipe, make_connection, builder):
        recipe = make_recipe(steps=[("gmail", "new_email", {}), ("gmail", "send_email", {"raw": ""}),
                                    ("gmail", "get_email", {"message_id": "{{step9.id}}"})])
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "G"),
                             acting_user=builder)
        assert _codes(recipe) == ["required_input", "unresolved_pill"]
        step = recipe.steps.get(position=3)
        services.step_update_inputs(step=step, acting_user=builder, inputs={"message_id": "{{trigger.bogus}}"})
        assert _codes(recipe) == ["required_input", "unresolved_pill"]
        services.step_update_inputs(step=step, acting_user=builder, inputs={"message_id": "{{step2.id}}"})
        services.step_update_inputs(step=recipe.steps.get(position=2), acting_user=builder,
                                    inputs={"raw": "{{trigger.threadId}}"})
        assert _codes(recipe) == []

    def test_runtime_user_binding_on_a_standard_recipe(self, make_recipe, make_connection, builder):
        recipe = make_recipe(kind="callable", steps=CALLABLE_GMAIL_RECIPE)
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "G"),
                             acting_user=builder)
        binding = recipe.bindings.get()
        services.binding_set_runtime_user(binding=binding, runtime_user=True, acting_user=builder)
        assert _codes(recipe) == []
        Recipe.objects.filter(pk=recipe.pk).update(kind="standard")  # e.g. changed in admin
        recipe.refresh_from_db()
        # Its call trigger and Return result are refused too: only a callable recipe is called
        assert _codes(recipe) == ["callable_only", "callable_only", "runtime_user_on_standard"]

    def test_errors_block_start_and_clear_when_fixed(self, make_recipe, credential_connection, builder, api_server):
        recipe = make_recipe(steps=[("loopback", "new_item", {}), ("loopback", "create_item", {"name": ""})])
        with pytest.raises(services.RecipeHasErrors) as refused:
            services.recipe_start(recipe=recipe, acting_user=builder)
        assert sorted(e.code for e in refused.value.errors) == ["no_connection", "required_input"]

        connection, _ = credential_connection("basic")
        services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=connection, acting_user=builder)
        services.step_update_inputs(step=recipe.steps.get(position=2), acting_user=builder,
                                    inputs={"name": "{{trigger.name}}"})
        api_server.set_fault("401")  # the password was changed in the app since
        with pytest.raises(services.RecipeHasErrors) as refused:
            services.recipe_start(recipe=recipe, acting_user=builder)
        assert [e.code for e in refused.value.errors] == ["connection_error"]  # start tested it first
        connection.refresh_from_db()
        assert connection.error_reason == "credentials_invalid"

        api_server.clear_fault()
        started = services.recipe_start(recipe=recipe, acting_user=builder)
        assert started.running

    def test_an_unreachable_app_blocks_start_without_marking_the_connection_invalid(
            self, make_recipe, credential_connection, builder, api_server):
        recipe = make_recipe(steps=[("loopback", "new_item", {})])
        connection, _ = credential_connection("basic")
        services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=connection, acting_user=builder)
        api_server.set_fault("500")
        with pytest.raises(services.RecipeHasErrors) as refused:
            services.recipe_start(recipe=recipe, acting_user=builder)
        assert [e.code for e in refused.value.errors] == ["connection_test_failed"]
        connection.refresh_from_db()
        assert connection.status == "connected"


class TestDesignTimeErrorsOfBuiltInSteps:
    def test_a_callable_recipe_starts_with_the_call_trigger(self, make_recipe, make_connection, builder):
        recipe = make_recipe(kind="callable", steps=GMAIL_RECIPE)
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "G"),
                             acting_user=builder)
        errors = design_time_errors(recipe)
        assert [(e.code, e.steps) for e in errors] == [("callable_without_call_trigger", (1,))]
        assert "its trigger must be Callable recipe → When called" in errors[0].message

    def test_only_a_callable_recipe_is_called_or_returns_a_result(self, make_recipe, client_for, builder):
        recipe = make_recipe(kind="callable", steps=[("recipe_function", "new_call", {}),
                                                     ("recipe_function", "return_result", {"ok": "true"})])
        assert _codes(recipe) == []
        services.recipe_update(recipe=recipe, acting_user=builder, name=recipe.name, description="", kind="standard")
        errors = design_time_errors(recipe)
        assert [(e.code, e.steps) for e in errors] == [("callable_only", (1,)), ("callable_only", (2,))]
        assert "“When called” is only for callable recipes" in errors[0].message
        page = client_for(builder).get(recipe.get_absolute_url()).text
        step1 = page[page.index('id="step-1"'):page.index('id="step-2"')]
        assert "“When called” is only for callable recipes" in step1  # next to its step
        with pytest.raises(services.RecipeHasErrors):
            services.recipe_start(recipe=recipe, acting_user=builder)

    @pytest.mark.parametrize("inputs,message", [
        ({"minutes": "0"}, "Run every 1 to 10080 minutes, or give a cron expression."),
        ({"minutes": "often"}, "Run every 1 to 10080 minutes"),
        ({"minutes": "", "cron": "0 9 * *"}, "A cron expression has five fields"),
        ({"cron": "99 9 * * *"}, "The cron expression “99 9 * * *” cannot be read"),
    ])
    def test_a_schedule_that_cannot_run(self, make_recipe, builder, client_for, inputs, message):
        recipe = make_recipe("Nightly", steps=[("scheduler", "every", {})])
        step = recipe.steps.get()
        services.step_update_inputs(step=step, acting_user=builder, inputs=inputs)
        errors = design_time_errors(recipe)
        assert [(e.code, e.steps) for e in errors] == [("schedule_invalid", (1,))]
        assert message in errors[0].message
        with pytest.raises(services.RecipeHasErrors) as refused:
            services.recipe_start(recipe=recipe, acting_user=builder)
        assert [e.code for e in refused.value.errors] == ["schedule_invalid"]  # said once, next to its step
        page = client_for(builder).get(recipe.get_absolute_url()).text
        assert 'href="#step-1">Step 1: ' in page

        services.step_update_inputs(step=step, acting_user=builder, inputs={"minutes": "", "cron": "0 9 * * 1-5"})
        assert _codes(recipe) == []

    def test_no_step_may_follow_return_result(self, make_recipe, make_connection, builder):
        recipe = make_recipe(kind="callable", steps=[("recipe_function", "new_call", {}),
                                                     ("recipe_function", "return_result", {}),
                                                     ("gmail", "send_email", {"raw": "x"})])
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "G"),
                             acting_user=builder)
        errors = design_time_errors(recipe)
        assert [(e.code, e.steps) for e in errors] == [("steps_after_return", (3,))]
        assert "Return result (step 2) ends the job, so step 3 would never run." in errors[0].message

    def test_return_result_fields_use_earlier_data_pills_only(self, make_recipe, builder):
        recipe = make_recipe(kind="callable", steps=[
            ("recipe_function", "new_call", {}), ("recipe_function", "return_result", {"who": "{{trigger.email}}"})])
        assert _codes(recipe) == ["unresolved_pill"]
        services.recipe_set_call_fields(recipe=recipe, fields=[{"name": "email", "type": "string"}],
                                        acting_user=builder)
        assert _codes(recipe) == []

    def test_built_in_steps_need_no_connection(self, make_recipe):
        recipe = make_recipe("Nightly", steps=[("scheduler", "every", {})])
        assert _codes(recipe) == [] and not recipe.bindings.exists()


def test_a_connection_the_health_check_marks_invalid_shows_in_every_recipe_using_it(
        make_recipe, credential_connection, builder, api_server):
    from connections.services import connection_test

    connection, _ = credential_connection("basic")
    recipes = [make_recipe(name, steps=[("loopback", "new_item", {})]) for name in ("Sync A", "Sync B")]
    for recipe in recipes:
        services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=connection, acting_user=builder)
        assert _codes(recipe) == []
    api_server.set_credentials(username="ada", password="changed-in-the-app")
    connection_test(connection=connection)  # what the periodic health check runs
    for recipe in recipes:
        errors = design_time_errors(recipe)
        assert [e.code for e in errors] == ["connection_error"]
        assert "Credentials changed or revoked" in errors[0].message


def test_runtime_user_is_refused_on_standard_recipes_in_model_service_and_editor(
        make_recipe, make_connection, builder, client_for):
    recipe = make_recipe(steps=GMAIL_RECIPE)
    services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "G"),
                         acting_user=builder)
    binding = recipe.bindings.get()
    binding.runtime_user = True
    with pytest.raises(ValidationError, match="only available in callable and workbot recipes"):
        binding.full_clean()
    binding.refresh_from_db()
    with pytest.raises(ValidationError):
        services.binding_set_runtime_user(binding=binding, runtime_user=True, acting_user=builder)
    client = client_for(builder)
    page = client.get(recipe.get_absolute_url()).text
    assert "runtime user" not in page
    client.post(reverse("recipe_binding_runtime_user", args=[recipe.pk]),
                {"app_key": "gmail", "slot": "primary", "runtime_user": "1"})
    assert not ConnectionBinding.objects.get(pk=binding.pk).runtime_user


def test_every_change_is_versioned(make_recipe, make_connection, builder, client_for):
    recipe = make_recipe(steps=GMAIL_RECIPE)
    services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=make_connection("gmail", "G"),
                         acting_user=builder)
    recipe.refresh_from_db()
    versions = list(recipe.versions.values_list("version", "summary"))
    assert versions[0] == (recipe.version, "Gmail uses “G”")
    assert [v for v, _ in versions] == list(range(recipe.version, 0, -1))
    history = client_for(builder).get(reverse("recipe_history", args=[recipe.pk])).text
    assert "Added trigger Gmail: New email" in history and "builder@example.com" in history

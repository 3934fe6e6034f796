"""Building recipes in the browser: two steps, an app connected inline from the editor, a design-time error seen and
fixed, and the recipe started since a date; a callable recipe's input fields and result; a webhook's address."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from recipes.models import ConnectionBinding, Recipe, TriggerState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_build_connect_inline_fix_and_start(browser_as, builder, project, api_server):
    page = browser_as(builder)
    page.goto("/recipes/")
    page.get_by_role("link", name="Create recipe").first.click()
    page.get_by_label("Recipe name").fill("Sync items")
    page.get_by_label("Project").select_option(label="Sales operations")
    page.get_by_role("button", name="Create recipe").click()

    apps = page.get_by_role("navigation", name="Apps")
    apps.get_by_role("link", name="Loopback", exact=True).click()
    page.get_by_role("button", name="Add trigger New item").click()
    apps.get_by_role("link", name="Loopback", exact=True).click()
    page.get_by_role("button", name="Add action Create item", exact=True).click()

    errors = page.get_by_role("region", name=re.compile("design-time error"))
    expect(errors).to_contain_text("Loopback has no connection")
    expect(page.get_by_text("Connect to Loopback to configure this step.").first).to_be_visible()

    # Connect inline: the connection form in the editor's side pane, then the editor with the connection in place.
    page.get_by_role("button", name="Create a new Loopback connection").click()
    pane = page.get_by_role("region", name=re.compile("Connect Loopback"))
    expect(pane).to_contain_text("In the project “Sales operations”")
    pane.get_by_label("Authentication").select_option(label="Username and password")
    expect(pane.get_by_label("Token URL")).to_have_count(0)
    pane.get_by_label("Base URL").fill(api_server.base_url)
    pane.get_by_role("button", name="Continue").click()
    pane.get_by_label("Username", exact=True).fill("ada")
    pane.get_by_label("Password", exact=True).fill(api_server.password)
    pane.get_by_role("button", name="Connect").click()

    expect(page.get_by_role("heading", name="Sync items")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("is connected and used by this recipe")
    expect(errors).to_contain_text("Step 2: “Name” is required.")

    page.get_by_label("Name", exact=True).click()
    page.get_by_role("button", name="Insert trigger: Name").click()
    # The pill shows as a chip; the form still sends the pill's text.
    expect(page.get_by_label("Name", exact=True)).to_have_text("Trigger › Name")
    expect(page.locator("input[name=input_name]")).to_have_value("{{trigger.name}}")
    page.get_by_role("button", name="Save step 2").click()
    expect(page.get_by_text("No design-time errors.")).to_be_visible()

    # A poll trigger asks where it begins: from now, or since a date.
    expect(page.get_by_label("New records from now on")).to_be_checked()
    page.get_by_label("Records created since…").check()
    page.get_by_label("Since date").fill("2024-03-05T08:30")
    page.get_by_role("button", name="Start recipe").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "“Sync items” is running. It starts with records created since 2024-03-05 08:30.")
    recipe = Recipe.objects.get(name="Sync items")
    assert recipe.running
    assert TriggerState.objects.get(recipe=recipe).since == datetime(2024, 3, 5, 8, 30, tzinfo=UTC)
    assert ConnectionBinding.objects.get(recipe=recipe).connection.identity == "ada@example.com"
    jobs = page.get_by_role("link", name="Jobs of this recipe")
    expect(jobs).to_have_attribute("href", f"/recipes/{recipe.pk}/jobs/")


def test_a_callable_recipe_declares_its_inputs_and_returns_a_result(browser_as, builder, project):
    from recipes import services

    recipe = services.recipe_create(project=project, name="Greeter", kind="callable", acting_user=builder)
    page = browser_as(builder)
    page.goto(recipe.get_absolute_url())
    apps = page.get_by_role("navigation", name="Apps")
    apps.get_by_role("link", name="Callable recipe").click()
    page.get_by_role("button", name="Add trigger When called").click()
    expect(page.get_by_text("No input fields yet")).to_be_visible()
    expect(page.get_by_role("region", name=re.compile("design-time error"))).to_have_count(0)

    page.get_by_label("Field name").fill("first name")
    page.get_by_role("button", name="Add input field").click()
    expect(page.get_by_text("“first name” is not a field name")).to_be_visible()
    expect(page.get_by_label("Field name")).to_have_value("first name")
    page.get_by_label("Field name").fill("first_name")
    page.get_by_label("Required").check()
    page.get_by_role("button", name="Add input field").click()
    expect(page.get_by_role("status").first).to_contain_text("Input field “first_name” added.")
    page.get_by_label("Field name").fill("nickname")
    page.get_by_role("button", name="Add input field").click()
    page.get_by_role("button", name="Remove input field nickname").click()
    expect(page.get_by_role("status").first).to_contain_text("Input field “nickname” removed.")

    apps.get_by_role("link", name="Callable recipe").click()
    page.get_by_role("button", name="Add action Return result").click()
    step = page.locator("#step-2")
    step.get_by_label("Field name").fill("greeting")
    step.get_by_label("Value").fill("Hello ")
    step.get_by_role("button", name="Insert trigger: first_name").click()
    expect(step.get_by_label("Value")).to_have_text("Hello Trigger › first_name")  # the pill as a chip
    expect(step.locator("input[name=new_field_value]")).to_have_value("Hello {{trigger.first_name}}")
    step.get_by_label("Value").press("Enter")  # Enter saves with the new field: it removes none
    expect(page.get_by_role("status").first).to_contain_text("Field “greeting” added to step 2.")
    expect(page.get_by_label("greeting", exact=True)).to_have_text("Hello Trigger › first_name")
    expect(page.locator("input[name=input_greeting]")).to_have_value("Hello {{trigger.first_name}}")
    expect(page.get_by_text("No design-time errors.")).to_be_visible()

    recipe.refresh_from_db()
    assert recipe.call_fields == [{"name": "first_name", "type": "string", "required": True}]
    assert recipe.steps.get(position=2).inputs == {"greeting": "Hello {{trigger.first_name}}"}
    page.get_by_role("button", name="Start recipe").click()
    expect(page.get_by_role("status").first).to_contain_text("“Greeter” is running.")


def test_the_webhook_address_is_shown_and_regenerated(browser_as, builder, project):
    from connections.catalog.app_slot import AppSlot
    from connections.models import Connection
    from recipes import services

    recipe = services.recipe_create(project=project, name="On push", acting_user=builder)
    services.step_add(recipe=recipe, app=AppSlot("github"), operation_key="new_push", acting_user=builder)
    github = Connection.objects.create(name="GitHub", connector_key="github", project=project, auth_method="oauth2",
                                       status="connected", created_by=builder)
    services.binding_set(recipe=recipe, app=AppSlot("github"), connection=github, acting_user=builder)
    page = browser_as(builder)
    page.goto(recipe.get_absolute_url())
    page.get_by_role("button", name="Create the address").click()
    address = page.get_by_label("Address")
    expect(address).to_have_value(re.compile(r"/hooks/[A-Za-z0-9_-]{40,}/$"))
    first = address.input_value()

    page.get_by_role("button", name="Regenerate address").click()
    dialog = page.get_by_role("alertdialog", name="Regenerate the webhook address?")
    expect(dialog).to_contain_text("The current address stops working at once")
    dialog.get_by_role("button", name="Regenerate address").click()
    expect(page.get_by_role("status").first).to_contain_text("the old one no longer works")
    second = page.get_by_label("Address").input_value()
    assert second != first and second.endswith(f"/hooks/{Recipe.objects.get(pk=recipe.pk).webhook_token}/")

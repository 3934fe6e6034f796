"""The recipe editor as a person meets it in Chromium: the new-recipe form offers the project they came from; Start
is disabled while design-time errors exist, says why and links the first; data pills show as chips; a step is
removed only once confirmed; a new connection is made, authorized and bound in the side pane (Basic against the
Demo CRM, OAuth 2.0 against the suite's authorization server) without leaving the recipe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from connections import services as connection_services
from connections.catalog.app_slot import AppSlot
from demo.views import DEMO_ACCOUNT, demo_reset
from recipes import services
from recipes.models import ConnectionBinding

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _recipe(project, builder, name: str, steps):
    recipe = services.recipe_create(project=project, name=name, acting_user=builder)
    for app_key, operation_key, inputs in steps:
        step = services.step_add(recipe=recipe, acting_user=builder, app=AppSlot.from_catalog_key(app_key),
                                 operation_key=operation_key)
        if inputs:
            services.step_update_inputs(step=step, acting_user=builder, inputs=inputs)
    return recipe


def test_editor_new_recipe_offers_the_project_of_the_project_page_and_of_the_recipe(browser_as, builder, project):
    account_services.project_create(name="Accounts payable", acting_user=builder)  # first by name
    zeta = account_services.project_create(name="Zeta team", acting_user=builder)
    recipe = _recipe(zeta, builder, "Zeta sync", [])
    page = browser_as(builder)

    page.goto(project.get_absolute_url())
    page.get_by_role("link", name="Create recipe").click()
    expect(page.get_by_label("Project")).to_have_value(str(project.pk))

    page.goto(recipe.get_absolute_url())
    page.get_by_role("link", name="New recipe in Zeta team").click()
    expect(page.get_by_label("Project")).to_have_value(str(zeta.pk))
    page.get_by_label("Recipe name").fill("Zeta follow-ups")
    page.get_by_role("button", name="Create recipe").click()
    expect(page.get_by_role("heading", name="Zeta follow-ups")).to_be_visible()
    expect(page.get_by_role("link", name="Zeta team", exact=True)).to_be_visible()


def test_editor_start_is_disabled_with_errors_pills_are_chips_and_removing_asks(browser_as, builder, project):
    recipe = _recipe(project, builder, "Copy items", [("loopback", "new_item", {}),
                                                     ("loopback", "create_item", {"name": "Copy of {{trigger.name}}"})])
    page = browser_as(builder)
    page.goto(recipe.get_absolute_url())

    start = page.get_by_role("button", name="Start recipe")
    expect(start).to_be_disabled()
    expect(start).to_have_accessible_description(re.compile(r"^Start recipe is disabled\. The recipe can start once "
                                                            r"its 1 design-time error is fixed: Loopback has no"))
    page.locator("#start-blocked").get_by_role("link", name=re.compile("Loopback has no connection")).click()
    expect(page).to_have_url(re.compile(r"#step-1$"))

    # The saved pill reads as a chip; the form still holds its text.
    name = page.locator("#step-2").get_by_label("Name", exact=True)
    expect(name).to_have_text("Copy of Trigger › Name")
    expect(name.locator(".chip")).to_have_text("Trigger › Name")
    expect(page.locator("input[name=input_name]")).to_have_value("Copy of {{trigger.name}}")

    # Removing a step asks first; keeping it changes nothing.
    page.get_by_role("button", name="Remove step 2").click()
    question = page.get_by_role("alertdialog", name="Remove step 2?")
    expect(question).to_contain_text("“Create item” in Loopback")
    question.get_by_role("link", name="Keep the step").click()
    expect(question).to_have_count(0)
    assert recipe.steps.count() == 2
    page.get_by_role("button", name="Remove step 2").click()
    page.get_by_role("alertdialog", name="Remove step 2?").get_by_role("button", name="Remove step 2").click()
    expect(page.get_by_role("status").first).to_contain_text("Step 2 removed.")
    expect(page.locator("#step-2")).to_have_count(0)
    assert recipe.steps.count() == 1


def test_editor_side_pane_connects_the_demo_crm_with_basic_and_binds_it(browser_as, builder, project, splice):
    demo_reset()
    recipe = _recipe(project, builder, "New contacts", [("demo_crm", "new_contact", {}),
                                                        ("demo_crm", "create_task", {})])
    page = browser_as(builder)
    page.goto(recipe.get_absolute_url())
    page.get_by_role("button", name="Create a new Demo CRM connection").click()

    pane = page.get_by_role("region", name=re.compile("Connect Demo CRM"))
    expect(pane.get_by_label("Connection name")).to_have_value("My Demo CRM account")
    expect(pane.get_by_label("Authentication")).to_have_value("basic")  # the app's first method
    pane.get_by_label("API address").fill(f"{splice}/demo-crm/api")
    pane.get_by_role("button", name="Continue").click()
    user_field = pane.get_by_label(re.compile(r"^(Username|Email)$"))
    user_field.fill(DEMO_ACCOUNT["email"])
    pane.get_by_label("Password", exact=True).fill("not-the-password")
    pane.get_by_role("button", name="Connect").click()
    expect(pane.get_by_role("alert")).to_be_visible()  # refused in the pane; still on the recipe
    expect(page).to_have_url(re.compile(rf"/recipes/{recipe.pk}/"))
    pane.get_by_label(re.compile(r"^(Username|Email)$")).fill(DEMO_ACCOUNT["email"])
    pane.get_by_label("Password", exact=True).fill(DEMO_ACCOUNT["password"])
    pane.get_by_role("button", name="Connect").click()

    expect(page).to_have_url(re.compile(rf"/recipes/{recipe.pk}/\?connected=\d+#step-1$"))
    expect(page.get_by_role("status").first).to_contain_text("“My Demo CRM account” is connected and used by this "
                                                             "recipe.")
    panel = page.locator("#connections")
    expect(panel).to_contain_text("Uses My Demo CRM account")
    binding = ConnectionBinding.objects.get(recipe=recipe)
    assert binding.connection.status == "connected" and binding.connection.identity == DEMO_ACCOUNT["email"]
    demo_reset()


def test_editor_side_pane_connects_oauth2_and_comes_back_to_the_step_bound(browser_as, builder, project,
                                                                          oauth2_server, splice):
    connection_services.oauth_profile_create(
        connector_key="loopback", name="Loopback", client_id=oauth2_server.client_id,
        client_secret=oauth2_server.client_secret, acting_user=builder, is_default=True,
        endpoints=oauth2_server.endpoints)
    oauth2_server.add_redirect_uri(f"{splice}/connections/oauth/callback/")
    recipe = _recipe(project, builder, "Items to items", [("loopback", "new_item", {}),
                                                          ("loopback", "create_item", {})])
    page = browser_as(builder)
    page.goto(f"{recipe.get_absolute_url()}#step-2")
    page.get_by_role("button", name="Create a new Loopback connection").click()

    pane = page.get_by_role("region", name=re.compile("Connect Loopback"))
    pane.get_by_label("Connection name").fill("Team OAuth")
    expect(pane.get_by_label("Authentication")).to_have_value("oauth2")
    pane.get_by_label("Base URL").fill(oauth2_server.base_url)
    pane.get_by_label("Authorization URL").fill(oauth2_server.authorize_url)
    pane.get_by_label("Token URL").fill(oauth2_server.token_url)
    pane.get_by_role("button", name="Continue").click()
    pane.get_by_role("button", name="Connect to Loopback").click()

    page.get_by_label("Email").fill("ada@example.com")  # the app's own pages
    page.get_by_label("Password").fill("ada-pass-123")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Authorize").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(splice)}/recipes/{recipe.pk}/#step-1$"))
    expect(page.get_by_role("status").first).to_contain_text("“Team OAuth” is connected and used by this recipe.")
    expect(page.locator("#connections")).to_contain_text("Uses Team OAuth")
    binding = ConnectionBinding.objects.get(recipe=recipe)
    assert binding.connection.name == "Team OAuth" and binding.connection.status == "connected"

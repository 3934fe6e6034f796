"""Building a recipe in the browser: two steps, an app connected inline from the editor, a design-time
error seen and fixed, and the recipe started."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from recipes.models import ConnectionBinding, Recipe

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
    page.get_by_role("button", name="Add action Create item").click()

    errors = page.get_by_role("region", name=re.compile("design-time error"))
    expect(errors).to_contain_text("Loopback has no connection")
    expect(page.get_by_text("Connect to Loopback to configure this step.").first).to_be_visible()

    # Connect inline: the wizard, then straight back to the editor with the connection in place.
    page.get_by_role("button", name="Create a new Loopback connection").click()
    expect(page.get_by_label("Project")).to_have_value(str(project.pk))
    page.get_by_label("Authentication").select_option(label="Username and password")
    expect(page.get_by_label("Token URL")).to_have_count(0)
    page.get_by_label("Base URL").fill(api_server.base_url)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Username", exact=True).fill("ada")
    page.get_by_label("Password", exact=True).fill(api_server.password)
    page.get_by_role("button", name="Connect").click()

    expect(page.get_by_role("heading", name="Sync items")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("is connected and used by this recipe")
    expect(errors).to_contain_text("Step 2: “Name” is required.")

    page.get_by_label("Name", exact=True).click()
    page.get_by_role("button", name="Insert trigger: Name").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("{{trigger.name}}")
    page.get_by_role("button", name="Save step 2").click()
    expect(page.get_by_text("No design-time errors.")).to_be_visible()

    page.get_by_role("button", name="Start recipe").click()
    expect(page.get_by_role("status").first).to_contain_text("“Sync items” is running.")
    recipe = Recipe.objects.get(name="Sync items")
    assert recipe.running
    assert ConnectionBinding.objects.get(recipe=recipe).connection.identity == "ada@example.com"

"""The wizard leaves nothing half-made (issue 16): leaving it at any step, cancelling it, or failing a first
authorization leaves no connection row in the list; an OAuth app with no OAuth client says "Needs admin setup"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connections.models import Connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _pick_loopback(page):
    page.goto("/connections/new/")
    page.get_by_label("Search apps").press_sequentially("Loopb")  # `input` filters (typing, paste, autofill)
    page.get_by_role("link", name=re.compile(r"^\s*Loopback")).first.click()


def _describe_basic(page, api_server, name: str):
    page.get_by_label("Connection name").fill(name)
    page.get_by_label("Authentication").select_option(label="Username and password")
    expect(page.get_by_label("Token URL")).to_have_count(0)  # htmx re-rendered the settings for Basic
    page.get_by_label("Base URL").fill(api_server.base_url)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_label("Password", exact=True)).to_be_visible()


def _no_rows_left(page):
    page.goto("/connections/")
    expect(page.get_by_text("No connections yet.")).to_be_visible()
    expect(page.get_by_role("table", name="Connections")).to_have_count(0)


def test_abandoning_the_wizard_at_each_step_leaves_no_connection_row(browser_as, builder, project, api_server):
    page = browser_as(builder)
    _pick_loopback(page)                                  # step 1 → 2, then leave
    _no_rows_left(page)

    _pick_loopback(page)
    _describe_basic(page, api_server, "Left at step 3")  # step 3, then leave
    _no_rows_left(page)

    _pick_loopback(page)
    _describe_basic(page, api_server, "Wrong password")  # a failed first authorization, then leave
    page.get_by_label("Username", exact=True).fill("ada")
    page.get_by_label("Password", exact=True).fill("not-it")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_text("The username or password is incorrect.")).to_be_visible()
    expect(page.get_by_text("changed or revoked")).to_have_count(0)
    _no_rows_left(page)

    _pick_loopback(page)
    _describe_basic(page, api_server, "Cancelled")        # Cancel removes it at once
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Nothing was connected")).to_be_visible()
    assert not Connection.objects.filter(name="Cancelled").exists()
    _no_rows_left(page)


def test_an_oauth_app_without_a_client_needs_admin_setup_and_makes_nothing(browser_as, builder, project):
    page = browser_as(builder)
    page.goto("/connections/new/")
    tile = page.get_by_role("link", name=re.compile(r"^\s*Loopback"))
    expect(tile.first).to_contain_text("OAuth needs admin setup")  # Basic still works, OAuth waits for an admin
    tile.first.click()
    page.get_by_label("Authentication").select_option(label="OAuth 2.0")
    panel = page.locator("#admin-setup")
    expect(panel).to_contain_text("Loopback needs admin setup")
    expect(panel).to_contain_text("/connections/oauth/callback/")  # the exact redirect URI to register
    expect(panel).to_contain_text("SPLICE_OAUTH_LOOPBACK_CLIENT_ID")
    expect(page.get_by_role("button", name="Continue")).to_have_count(0)
    expect(page.get_by_role("button", name="Try again")).to_have_count(0)
    assert not Connection.objects.exists()
    _no_rows_left(page)


def test_the_wizard_offers_the_project_the_list_showed_else_the_personal_one(browser_as, builder, project):
    from accounts import services as account_services

    account_services.project_create(name="Accounts payable", acting_user=builder)  # first by name
    zeta = account_services.project_create(name="Zeta team", acting_user=builder)
    personal = account_services.user_setup_defaults(user=builder)
    page = browser_as(builder)

    for listed, offered in ((f"/connections/?project={zeta.pk}", zeta), ("/connections/", personal)):
        page.goto(listed)
        page.get_by_role("link", name="Create connection").first.click()
        page.get_by_label("Search apps").press_sequentially("Loopb")
        page.get_by_role("link", name=re.compile(r"^\s*Loopback")).first.click()
        expect(page.get_by_label("Project")).to_have_value(str(offered.pk))

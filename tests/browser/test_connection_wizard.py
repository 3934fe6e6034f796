"""A person creating connections in the browser, end to end."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections import services
from connections.models import Connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _start_wizard(page, app_name: str):
    page.goto("/connections/")
    page.get_by_role("link", name="Create connection").first.click()
    page.get_by_label("Search apps").fill(app_name)
    page.get_by_role("link", name=re.compile(rf"^\s*{app_name}")).first.click()


def test_builder_creates_a_basic_auth_connection_and_recovers_from_a_wrong_password(browser_as, builder, project,
                                                                                      api_server):
    page = browser_as(builder)
    _start_wizard(page, "Loopback")
    expect(page.get_by_label("Connection name")).to_have_value("My Loopback account")
    page.get_by_label("Connection name").fill("Ops API")
    page.get_by_label("Sandbox").check()
    page.get_by_label("Authentication").select_option(label="Username and password")
    expect(page.get_by_label("Token URL")).to_have_count(0)  # htmx re-rendered the settings for Basic
    page.get_by_label("Base URL").fill(api_server.base_url)
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Tip: use a dedicated account")).to_be_visible()
    page.get_by_label("Username", exact=True).fill("ada")
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Connect").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The username or password is incorrect.")  # a first authorization (issue 16)
    expect(alert).to_contain_text("Check the username and password and try again.")
    expect(page.get_by_label("Username", exact=True)).to_have_value("ada")  # nothing else to retype

    page.get_by_label("Password", exact=True).fill(api_server.password)
    page.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("status").first).to_contain_text("is connected as ada@example.com")
    expect(page.get_by_role("heading", name="Ops API")).to_be_visible()
    connection = Connection.objects.get(name="Ops API")
    assert (connection.status, connection.environment) == ("connected", "sandbox")


def test_builder_connects_oauth2_through_the_apps_login_and_consent_pages(browser_as, builder, project,
                                                                            oauth2_server, splice):
    services.oauth_profile_create(connector_key="loopback", name="Loopback", client_id=oauth2_server.client_id,
                                  client_secret=oauth2_server.client_secret, acting_user=builder, is_default=True,
                                  endpoints=oauth2_server.endpoints)
    oauth2_server.add_redirect_uri(f"{splice}/connections/oauth/callback/")  # as an admin registers Splice
    page = browser_as(builder)
    _start_wizard(page, "Loopback")
    page.get_by_label("Connection name").fill("Team OAuth")
    expect(page.get_by_label("Authentication")).to_have_value("oauth2")  # the app's first method
    page.get_by_label("Base URL").fill(oauth2_server.base_url)
    page.get_by_label("Authorization URL").fill(oauth2_server.authorize_url)
    page.get_by_label("Token URL").fill(oauth2_server.token_url)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Connect to Loopback").click()

    # The app's own pages, on its own server.
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("ada-pass-123")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Authorize").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(splice)}/connections/\d+/$"))
    expect(page.get_by_role("status").first).to_contain_text("is connected as ada@example.com")
    assert Connection.objects.get(name="Team OAuth").status == "connected"


def test_viewer_sees_no_create_connection_button(browser_as, viewer, builder, project):
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.VIEW, user=viewer)
    page = browser_as(viewer)
    page.goto("/connections/")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    expect(page.get_by_role("link", name="Create connection")).to_have_count(0)
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_role("link", name="Create connection")).to_have_count(0)
    page.goto("/connections/new/")
    expect(page.get_by_text("Create connections")).to_be_visible()  # the 403 names the privilege

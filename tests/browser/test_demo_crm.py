"""A new user's first minutes with `make run`: the demo's Demo CRM connection authorized in the browser, broken
by an admin changing the demo account's password, found broken by Test now."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from accounts.models import User
from demo.views import DEMO_ACCOUNT, demo_credentials, demo_reset

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def fresh_demo_account():
    demo_reset()
    yield
    demo_reset()


def test_the_demo_connection_is_authorized_broken_and_found_broken(builtin_roles, browser_as, splice):
    call_command("load_demo", stdout=io.StringIO())
    builder, admin = User.objects.get(email="builder@example.com"), User.objects.get(email="admin@example.com")

    page = browser_as(builder)
    page.goto("/connections/")
    page.get_by_role("link", name="Demo CRM (sales team)").click()
    page.get_by_role("link", name="Authorize").click()
    page.get_by_label("Username", exact=True).fill(DEMO_ACCOUNT["email"])
    page.get_by_label("Password", exact=True).fill(DEMO_ACCOUNT["password"])
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status").first).to_contain_text(f"is connected as {DEMO_ACCOUNT['email']}")
    connection_url = page.url

    page = browser_as(admin)
    page.goto("/demo-crm/")
    page.get_by_role("button", name="Change password and API key").click()
    expect(page.get_by_role("status")).to_have_count(0)
    assert demo_credentials() == DEMO_ACCOUNT  # the browser asks for the box first
    page.get_by_label("I understand that connections using the current credentials will stop working").check()
    page.get_by_role("button", name="Change password and API key").click()
    expect(page.get_by_role("status")).to_contain_text("The password and API key were changed")

    page.goto(connection_url)
    page.get_by_role("button", name="Test now").click()
    expect(page.get_by_text("Credentials were changed or revoked in the app.", exact=True)).to_be_visible()
    checks = page.get_by_role("region", name="Recent checks")
    expect(checks.get_by_role("row").nth(1)).to_contain_text("Failed")  # the new check, without a reload
    expect(checks).to_contain_text(f"Test now ({admin.email})")

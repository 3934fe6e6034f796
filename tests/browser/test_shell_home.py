"""The home page in Chromium, at desktop and phone width: a new user is told what to do first; with the demo loaded,
the demo admin gets a "Try the demo" card with the demo credentials, which a builder's card does not show."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import User
from demo.views import DEMO_ACCOUNT, demo_reset

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = Path("/tmp/splice/shots")


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"shell-{name}-{width}.png"), full_page=True)


def test_a_new_users_home_says_what_to_do_first(browser_as, make_user):
    page = browser_as(make_user())
    page.goto("/")
    assert page.get_by_role("heading", name="Start here").is_visible()
    page.get_by_role("link", name="Create your first connection").click()
    page.wait_for_url("**/connections/new/")
    page.go_back()
    assert page.get_by_role("heading", name="Try the demo").count() == 0  # no demo loaded
    shoot(page, "home-new-user")


def test_the_demo_admin_sees_the_demo_card_with_its_credentials_and_a_builder_without(browser_as, builtin_roles):
    demo_reset()
    call_command("load_demo", stdout=io.StringIO())
    admin, builder = User.objects.get(email="admin@example.com"), User.objects.get(email="builder@example.com")

    page = browser_as(admin)
    page.goto("/")
    card = page.get_by_role("region", name="Try the demo")
    assert card.get_by_text(DEMO_ACCOUNT["password"]).is_visible()
    assert card.get_by_role("table", name="Demo accounts").get_by_text("splice-builder-demo").is_visible()
    shoot(page, "home-demo-admin")
    page.set_viewport_size({"width": 1280, "height": 900})
    card.get_by_role("link", name="Open “Demo CRM (sales team)”").click()
    assert page.get_by_role("heading", name="Demo CRM (sales team)").is_visible()

    page = browser_as(builder)
    page.goto("/")
    card = page.get_by_role("region", name="Try the demo")
    assert card.get_by_role("link", name="Open “Demo CRM (sales team)”").is_visible()
    assert DEMO_ACCOUNT["password"] not in page.content() and "splice-builder-demo" not in page.content()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Demo CRM").is_visible()
    shoot(page, "home-demo-builder")

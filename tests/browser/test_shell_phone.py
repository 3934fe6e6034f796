"""At phone width (375 px) the main pages fit the screen (nothing scrolls sideways), tables stack, and the top bar's
Menu button opens the navigation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from connections.catalog.app_slot import AppSlot
from connections.models import Connection
from recipes import services as recipe_services

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = Path("/tmp/splice/shots")
WIDTH = 375
# What sticks out, to say which element a failure is about: the deepest elements whose right edge is off screen.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > innerWidth + 1
    && ![...el.children].some(child => child.getBoundingClientRect().right > innerWidth + 1))
  .slice(0, 3).map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ': '
  + (el.textContent || '').trim().slice(0, 40))"""


def test_the_main_pages_fit_a_phone_and_the_menu_opens(browser_as, admin_user, project):
    connection = Connection.objects.create(
        name="Operations API with a rather long name", connector_key="loopback", project=project,
        created_by=admin_user, auth_method="basic", status=Connection.Status.ERROR,
        identity="someone.with.a.very.long.address@subdomain.example.com")
    recipe = recipe_services.recipe_create(project=project, name="Forward leads", kind="standard",
                                           acting_user=admin_user)
    recipe_services.step_add(recipe=recipe, acting_user=admin_user, app=AppSlot("loopback"),
                             operation_key="list_items")
    pages = {
        "home": reverse("home"),
        "connections": reverse("connection_list"),
        "connection": reverse("connection_detail", args=[connection.pk]),
        "wizard": reverse("connection_create"),
        "wizard-describe": reverse("connection_create_app", args=["loopback"]),
        "recipes": reverse("recipe_list"),
        "editor": reverse("recipe_editor", args=[recipe.pk]),
        "jobs": reverse("job_list"),
        "projects": reverse("project_list"),
        "project": reverse("project_detail", args=[project.pk]),
        "profile": reverse("profile"),
        "notifications": reverse("notification_list"),
        "health": reverse("connection_health"),
        "audit-log": reverse("connection_audit_log"),
    }
    page = browser_as(admin_user)
    page.set_viewport_size({"width": WIDTH, "height": 800})
    SHOTS.mkdir(parents=True, exist_ok=True)
    too_wide = {}
    for name, path in pages.items():
        page.goto(path)
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > WIDTH:
            too_wide[name] = (width, page.evaluate(WIDEST))
        page.screenshot(path=str(SHOTS / f"shell-phone-{name}-{WIDTH}.png"), full_page=True)
    assert too_wide == {}, f"pages wider than {WIDTH} px: {too_wide}"

    page.goto(pages["home"])
    menu = page.get_by_role("button", name="Menu")
    notifications = page.get_by_role("navigation", name="Main").get_by_role("link", name="Notifications")
    assert menu.get_attribute("aria-expanded") == "false" and not notifications.is_visible()
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true" and notifications.is_visible()
    colour, background = notifications.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el.closest('.topbar')).backgroundColor]")
    assert colour != background  # readable: light text on the dark bar
    page.screenshot(path=str(SHOTS / f"shell-phone-menu-open-{WIDTH}.png"))
    notifications.click()
    page.wait_for_url("**/notifications/")

    page.set_viewport_size({"width": 1280, "height": 800})
    assert not page.get_by_role("button", name="Menu").is_visible()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Notifications").is_visible()

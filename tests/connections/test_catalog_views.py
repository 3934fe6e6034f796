"""The app catalog pages: any signed-in user may browse and search them; each app shows how it connects and
what it can do, secondary entries appear as apps of their own, and custom connectors are marked."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from connections.catalog import registry
from connections.custom import custom_connector_save, custom_connectors_unload
from tests.connections.test_custom_connectors import ACME_YAML
from tests.permissions import Endpoint, matrix


@pytest.fixture(autouse=True)
def _unload_custom_connectors():
    yield
    custom_connectors_unload()


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def keys(response) -> list[str]:
    return [app.spec.key for app in response.context["apps"]]


def _endpoints() -> dict[str, Endpoint]:
    """Any signed-in person may browse the catalog: no privilege, no project."""
    return {"catalog": Endpoint(reverse("catalog")), "app": Endpoint(reverse("catalog_app", args=["slack"]))}


@pytest.mark.parametrize("cell", matrix(_endpoints()))
def test_permission_matrix(permission_matrix, cell):
    permission_matrix(cell, _endpoints())


def test_a_viewer_browses_every_app_with_secondary_entries_as_apps_of_their_own(client_for, viewer):
    response = client_for(viewer).get(reverse("catalog"))
    assert response.status_code == 200
    assert set(keys(response)) == {spec.key for spec in registry().apps()}
    body = page_text(response)
    assert "Salesforce (secondary)" in body and "Slack (secondary)" in body
    assert 'href="/connections/apps/salesforce_secondary/"' in body
    assert '<a href="/connections/apps/" aria-current="page">Apps</a>' in body
    # Each tile: its icon, auth methods, trigger and action counts, whether it has a secondary.
    salesforce = registry().get("salesforce")
    assert f'fill="{salesforce.icon.color}"' in body
    assert "Has secondary" in body
    assert f"{len(salesforce.triggers)} trigger" in body


def test_search_narrows_the_list_and_says_when_nothing_matches(client_for, viewer):
    client = client_for(viewer)
    sales = client.get(reverse("catalog"), {"q": "  sales  "})
    assert sales.context["query"] == "sales"
    assert "salesforce" in keys(sales) and "salesforce_secondary" in keys(sales)
    assert "slack" not in keys(sales)

    nothing = client.get(reverse("catalog"), {"q": "zzzz-no-such-app"})
    assert keys(nothing) == []
    body = page_text(nothing)
    assert "No app matches “zzzz-no-such-app”." in body
    assert 'href="/connections/apps/http/"' in body  # the generic connector is suggested


def test_htmx_search_returns_only_the_results(client_for, viewer):
    response = client_for(viewer).get(reverse("catalog"), {"q": "slack"}, headers={
        "HX-Request": "true", "HX-Target": "app-results"})
    body = page_text(response)
    assert "<html" not in body and "<form" not in body
    assert "Slack" in body and "Salesforce" not in body


def test_the_app_page_lists_auth_methods_settings_triggers_and_actions(client_for, viewer):
    spec = registry().get("zendesk")
    response = client_for(viewer).get(reverse("catalog_app", args=["zendesk"]))
    assert response.status_code == 200
    body = page_text(response)
    for method in spec.auth:
        assert method.label in body
    for setting in spec.settings.values():
        assert setting.label in body
    for op in spec.operations:
        assert op.name in body
        if op.description:
            assert op.description in body
    assert spec.docs_url in body
    assert 'href="/connections/apps/zendesk_secondary/"' in body
    # A Viewer cannot create connections, so the page does not offer it.
    assert "Create connection" not in body


def test_a_secondary_entry_links_back_to_its_app(client_for, builder):
    body = page_text(client_for(builder).get(reverse("catalog_app", args=["salesforce_secondary"])))
    assert "Salesforce (secondary)" in body
    assert 'href="/connections/apps/salesforce/"' in body
    assert "Create connection" in body


def test_an_unknown_app_is_404(client_for, viewer):
    assert client_for(viewer).get(reverse("catalog_app", args=["no_such_app"])).status_code == 404


def test_custom_connectors_are_marked_and_editable_only_by_admins(client_for, admin_user, viewer):
    custom_connector_save(yaml_text=ACME_YAML, acting_user=admin_user)
    as_viewer = page_text(client_for(viewer).get(reverse("catalog_app", args=["acme_tickets"])))
    assert "Custom connector, added by an admin" in as_viewer
    assert reverse("custom_connector_edit", args=["acme_tickets"]) not in as_viewer

    client = client_for(admin_user)
    listing = page_text(client.get(reverse("catalog"), {"q": "acme"}))
    assert "Acme Tickets" in listing and "Custom" in listing
    as_admin = page_text(client.get(reverse("catalog_app", args=["acme_tickets"])))
    assert reverse("custom_connector_edit", args=["acme_tickets"]) in as_admin

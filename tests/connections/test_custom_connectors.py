"""Custom connectors: validated like spec files (upload form and admin), usable at once, versioned, disabled
and re-enabled, kept in step across processes, and only for people with the "Manage connectors" privilege."""

from __future__ import annotations

import html
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from connections.catalog import SpecError, UnknownConnector, registry
from connections.custom import (
    custom_connector_save,
    custom_connector_set_enabled,
    custom_connectors_unload,
    ensure_custom_connectors_loaded,
)
from connections.models import Connection, CustomConnector
from tests.permissions import ALLOWED, ANONYMOUS, NO_PRIVILEGE, Endpoint, assert_access

ACME_YAML = """\
key: acme_tickets
name: Acme Tickets
description: Tickets in our in-house helpdesk.
icon: {letter: A, color: "#7C3AED"}
categories: [Internal]
docs_url: https://developer.acme.example/tickets
base_url: "https://{tenant}.tickets.acme.example/api"
settings:
  tenant: {label: Tenant, pattern: "^[a-z0-9-]+$", example: demo}
auth:
  - type: oauth2
    authorize_url: https://login.acme.example/authorize
    token_url: https://login.acme.example/token
  - type: api_key
    name: Authorization
    format: "Bearer {api_key}"
test: {path: /me, identity: email}
triggers:
  - key: new_ticket
    name: New ticket
    description: A ticket was opened.
    kind: poll
    method: GET
    path: /tickets
    id_field: id
    output: [{name: id, label: Ticket ID}, {name: subject, label: Subject}]
actions:
  - key: create_ticket
    name: Create ticket
    description: Open a ticket.
    method: POST
    path: /tickets
    input: [{name: subject, label: Subject, required: true}]
"""

NO_TOKEN_URL = ACME_YAML.replace("    token_url: https://login.acme.example/token\n", "")
UNKNOWN_AUTH = ACME_YAML.replace("  - type: api_key\n", "  - type: magic\n")
BAD_PATTERN = ACME_YAML.replace('pattern: "^[a-z0-9-]+$"', 'pattern: "^[a-z0-9-+$"')
BUILTIN_KEY = ACME_YAML.replace("key: acme_tickets", "key: slack")

INVALID = {
    "missing token_url": (NO_TOKEN_URL, ["custom:acme_tickets: auth.0.token_url: Field required"]),
    "unknown auth type": (UNKNOWN_AUTH, [
        "custom:acme_tickets: auth.1.type: unknown auth type 'magic' (expected one of oauth2, oauth1, basic, api_key)",
    ]),
    "bad pattern": (BAD_PATTERN, [
        "custom:acme_tickets: settings.tenant.pattern: invalid regular expression: "
        "unterminated character set at position 1",
    ]),
    "built-in key": (BUILTIN_KEY, [
        "custom:slack: key: 'slack' is a built-in connector and cannot be replaced by a custom one",
    ]),
}


@pytest.fixture(autouse=True)
def _unload_custom_connectors():
    """The registry is process-wide; the database rows roll back after each test, the registry must too."""
    yield
    custom_connectors_unload()


@pytest.fixture
def acme(admin_user):
    return custom_connector_save(yaml_text=ACME_YAML, acting_user=admin_user)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def catalog_keys(client) -> list[str]:
    return [app.spec.key for app in client.get(reverse("catalog")).context["apps"]]


# --- validation: the upload form and admin give the loader's messages -------------------------------------


@pytest.mark.parametrize("case", list(INVALID))
def test_upload_form_shows_each_problem_as_the_loader_words_it_and_keeps_the_text(client_for, admin_user, case):
    text, expected = INVALID[case]
    response = client_for(admin_user).post(reverse("custom_connector_create"), {"yaml_text": text})
    assert response.status_code == 400
    assert response.context["form"].errors["yaml_text"] == expected
    body = page_text(response)
    for problem in expected:
        assert f"<li>{problem}</li>" in body
    assert text in body  # the pasted spec is still in the text box
    assert not CustomConnector.objects.exists()


def test_upload_form_refuses_a_key_another_custom_connector_has(client_for, admin_user, acme):
    response = client_for(admin_user).post(reverse("custom_connector_create"), {"yaml_text": ACME_YAML})
    assert response.context["form"].errors["yaml_text"] == [
        "custom:acme_tickets: key: a custom connector with key 'acme_tickets' already exists: edit it instead",
    ]
    assert CustomConnector.objects.count() == 1


def test_an_invalid_uploaded_file_comes_back_in_the_text_box_to_fix(client_for, admin_user):
    upload = SimpleUploadedFile("acme.yaml", NO_TOKEN_URL.encode(), content_type="application/yaml")
    response = client_for(admin_user).post(reverse("custom_connector_create"), {"spec_file": upload})
    assert response.context["form"].errors["yaml_text"] == ["custom:acme_tickets: auth.0.token_url: Field required"]
    assert NO_TOKEN_URL in page_text(response)


def test_upload_form_asks_for_a_spec_and_refuses_yaml_that_is_not_a_mapping(client_for, admin_user):
    client = client_for(admin_user)
    empty = client.post(reverse("custom_connector_create"), {"yaml_text": "  "})
    assert empty.context["form"].non_field_errors() == ["Upload a YAML file or paste the spec."]
    broken = client.post(reverse("custom_connector_create"), {"yaml_text": "key: [unclosed"})
    assert broken.status_code == 400
    assert broken.context["form"].errors["yaml_text"][0].startswith("custom:new: invalid YAML at line")


@pytest.mark.parametrize("case", list(INVALID))
def test_admin_shows_the_same_problems(client_for, admin_user, case):
    text, expected = INVALID[case]
    response = client_for(admin_user).post(reverse("admin:connections_customconnector_add"),
                                           {"yaml": text, "enabled": "on", "versions-TOTAL_FORMS": "0",
                                            "versions-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["yaml"] == expected
    body = page_text(response)
    for problem in expected:
        assert problem in body
    assert not CustomConnector.objects.exists()


def test_admin_adds_and_versions_a_custom_connector(client_for, admin_user):
    client = client_for(admin_user)
    management = {"versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"}
    response = client.post(reverse("admin:connections_customconnector_add"),
                           {"yaml": ACME_YAML, "enabled": "on", **management})
    assert response.status_code == 302, response.context["adminform"].form.errors
    connector = CustomConnector.objects.get()
    assert registry().get("acme_tickets").name == "Acme Tickets"

    changed = ACME_YAML.replace("name: Acme Tickets", "name: Acme Helpdesk")
    response = client.post(reverse("admin:connections_customconnector_change", args=[connector.pk]),
                           {"yaml": changed, "enabled": "on", "note": "renamed", **management})
    assert response.status_code == 302
    assert [v.number for v in connector.versions.all()] == [2, 1]
    assert connector.versions.get(number=2).summary == "Changed name — renamed"
    assert registry().get("acme_tickets").name == "Acme Helpdesk"

    page = client.get(reverse("admin:connections_customconnector_change", args=[connector.pk]))
    assert "Changed name — renamed" in page_text(page)

    response = client.post(reverse("admin:connections_customconnector_changelist"),
                           {"action": "disable_selected", "_selected_action": [connector.pk]})
    assert response.status_code == 302
    assert "acme_tickets" not in registry()


def test_admin_pages_need_manage_connectors_not_superuser(client_for, make_user, acme):
    staff_admin = make_user("Admin", email="staff-admin@example.com", is_staff=True)
    client = client_for(staff_admin)
    for url in (reverse("admin:connections_customconnector_changelist"),
                reverse("admin:connections_customconnector_add"),
                reverse("admin:connections_customconnector_change", args=[acme.pk])):
        assert client.get(url).status_code == 200, url
    assert client.get(reverse("admin:index")).status_code == 200
    staff_builder = make_user("Builder", email="staff-builder@example.com", is_staff=True)
    response = client_for(staff_builder).get(reverse("admin:connections_customconnector_changelist"))
    assert response.status_code == 403


def test_admin_refuses_a_key_change(client_for, admin_user, acme):
    response = client_for(admin_user).post(
        reverse("admin:connections_customconnector_change", args=[acme.pk]),
        {"yaml": ACME_YAML.replace("key: acme_tickets", "key: acme_other"), "enabled": "on",
         "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"},
    )
    assert response.context["adminform"].form.errors["yaml"] == [
        "custom:acme_tickets: key: cannot change from 'acme_tickets' to 'acme_other': connections store the key. "
        "Add a new custom connector instead",
    ]


# --- usable at once ---------------------------------------------------------------------------------------


def test_an_uploaded_connector_is_usable_at_once(client_for, admin_user, builder, project):
    client = client_for(admin_user)
    upload = SimpleUploadedFile("acme.yaml", ACME_YAML.encode(), content_type="application/yaml")
    response = client.post(reverse("custom_connector_create"), {"spec_file": upload})
    assert response.status_code == 302
    assert response["Location"] == reverse("catalog_app", args=["acme_tickets"])

    assert registry().get("acme_tickets").name == "Acme Tickets"
    catalog = client.get(reverse("catalog"), {"q": "acme"})
    assert "Acme Tickets" in page_text(catalog)
    detail = client.get(reverse("catalog_app", args=["acme_tickets"]))
    assert detail.status_code == 200 and "Create ticket" in page_text(detail)

    from connections.services import connection_create

    connection = connection_create(project=project, connector_key="acme_tickets", name="Acme support",
                                   acting_user=builder, auth_method="api_key", settings_values={"tenant": "demo"})
    assert connection.connector_key == "acme_tickets"
    assert connection.settings == {"tenant": "demo"}

    version = CustomConnector.objects.get(key="acme_tickets").versions.get()
    assert (version.number, version.changed_by, version.summary) == (1, admin_user, "Created Acme Tickets")


# --- privilege: Manage connectors -------------------------------------------------------------------------


def _custom_endpoints(key: str, method: str = "get", data: dict | None = None) -> list[Endpoint]:
    urls = [
        reverse("custom_connector_list"),
        reverse("custom_connector_create"),
        reverse("custom_connector_edit", args=[key]),
        reverse("custom_connector_history", args=[key]),
        reverse("custom_connector_disable", args=[key]),
        reverse("custom_connector_enable", args=[key]),
    ]
    return [Endpoint(url, method, privilege="connections.manage_connectors", data=data or {}) for url in urls]


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_builder_gets_403_on_every_custom_connector_page(client_for, builder, acme, method):
    client = client_for(builder)
    for endpoint in _custom_endpoints(acme.key, method, {"yaml_text": ACME_YAML.replace("Acme Tickets", "Hijacked")}):
        assert_access(client, endpoint, NO_PRIVILEGE)  # the page names "Manage connectors"
    acme.refresh_from_db()
    assert acme.enabled and acme.name == "Acme Tickets" and acme.versions.count() == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_people_are_sent_to_sign_in(client, acme, method):
    for endpoint in _custom_endpoints(acme.key, method):
        assert_access(client, endpoint, ANONYMOUS)


def test_an_admin_sees_every_custom_connector_page(client_for, admin_user, acme):
    client = client_for(admin_user)
    for endpoint in _custom_endpoints(acme.key)[:5]:
        assert_access(client, endpoint, ALLOWED)
    assert client.get(reverse("custom_connector_edit", args=["nope"])).status_code == 404


# --- versions, disable, enable ----------------------------------------------------------------------------


def test_editing_twice_gives_three_versions_with_who_and_when(client_for, admin_user, make_user, acme):
    editor = make_user("Admin", email="editor@example.com")
    client = client_for(editor)
    second = ACME_YAML.replace("description: Open a ticket.", "description: Open a ticket in a queue.")
    third = second.replace("categories: [Internal]", "categories: [Internal, Support]")
    for text in (second, third):
        response = client.post(reverse("custom_connector_edit", args=[acme.key]), {"yaml_text": text})
        assert response.status_code == 302
        assert response["Location"] == reverse("custom_connector_history", args=[acme.key])

    versions = list(acme.versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2, 3]
    assert [v.changed_by for v in versions] == [admin_user, editor, editor]
    assert versions[0].changed_at <= versions[1].changed_at <= versions[2].changed_at
    assert versions[1].summary == "Changed action create_ticket"
    assert versions[2].summary == "Changed categories"
    assert versions[2].yaml == third
    acme.refresh_from_db()
    assert acme.yaml == third and acme.updated_by == editor

    history = page_text(client.get(reverse("custom_connector_history", args=[acme.key])))
    assert "editor@example.com" in history and "Changed categories" in history and "admin@example.com" in history
    assert "Support" in registry().get("acme_tickets").categories


def test_the_edit_form_keeps_the_key_and_saving_the_same_text_adds_no_version(client_for, admin_user, acme):
    client = client_for(admin_user)
    form = client.get(reverse("custom_connector_edit", args=[acme.key]))
    assert ACME_YAML in page_text(form)
    response = client.post(reverse("custom_connector_edit", args=[acme.key]),
                           {"yaml_text": ACME_YAML.replace("\n", "\r\n")})  # what a browser sends
    assert response.status_code == 302
    assert acme.versions.count() == 1
    renamed = client.post(reverse("custom_connector_edit", args=[acme.key]),
                          {"yaml_text": ACME_YAML.replace("key: acme_tickets", "key: acme_renamed")})
    assert renamed.context["form"].errors["yaml_text"] == [
        "custom:acme_tickets: key: cannot change from 'acme_tickets' to 'acme_renamed': connections store the key. "
        "Add a new custom connector instead",
    ]


def test_disabling_removes_it_from_the_catalog_and_registry_and_enabling_restores_it(
        client_for, admin_user, builder, project, acme):
    from connections.services import connection_create

    connection = connection_create(project=project, connector_key="acme_tickets", name="Acme", acting_user=builder,
                                   auth_method="api_key", settings_values={"tenant": "demo"})
    client = client_for(admin_user)
    confirm = client.get(reverse("custom_connector_disable", args=[acme.key]))
    assert confirm.status_code == 200
    assert "1 connection uses this app" in page_text(confirm)
    assert "acme_tickets" in registry()  # a GET changes nothing

    response = client.post(reverse("custom_connector_disable", args=[acme.key]))
    assert response.status_code == 302
    assert "acme_tickets" not in registry()
    with pytest.raises(UnknownConnector):
        registry().get("acme_tickets")
    assert "acme_tickets" not in catalog_keys(client)
    assert client.get(reverse("catalog_app", args=["acme_tickets"])).status_code == 404
    connection.refresh_from_db()
    assert connection.connector_key == "acme_tickets"  # existing connections keep their key

    response = client.post(reverse("custom_connector_enable", args=[acme.key]))
    assert response.status_code == 302
    assert registry().get("acme_tickets").name == "Acme Tickets"
    assert "acme_tickets" in catalog_keys(client)


def test_enabling_a_spec_that_now_clashes_with_a_built_in_key_is_refused(client_for, admin_user, acme):
    custom_connector_set_enabled(connector=acme, enabled=False, acting_user=admin_user)
    CustomConnector.objects.filter(pk=acme.pk).update(yaml=BUILTIN_KEY, key="slack")
    response = client_for(admin_user).post(reverse("custom_connector_enable", args=["slack"]))
    assert response.status_code == 400
    assert "custom:slack: key: 'slack' is a built-in connector and cannot be replaced by a custom one" in page_text(
        response)
    assert not CustomConnector.objects.get(pk=acme.pk).enabled
    assert registry().is_builtin("slack")


# --- other processes --------------------------------------------------------------------------------------


def test_another_process_picks_up_new_versions_and_disabling(admin_user, acme, django_assert_num_queries):
    # What a second process (a Celery worker) holds: nothing loaded yet.
    custom_connectors_unload()
    assert "acme_tickets" not in registry()
    ensure_custom_connectors_loaded()
    assert registry().get("acme_tickets").name == "Acme Tickets"

    with django_assert_num_queries(1):  # nothing changed: one aggregate query
        ensure_custom_connectors_loaded()

    # Another process saved a new version and then disabled it: only the database changed here.
    newer = ACME_YAML.replace("name: Acme Tickets", "name: Acme Desk")
    CustomConnector.objects.filter(pk=acme.pk).update(yaml=newer, revision=acme.revision + 1)
    ensure_custom_connectors_loaded()
    assert registry().get("acme_tickets").name == "Acme Desk"
    CustomConnector.objects.filter(pk=acme.pk).update(enabled=False, revision=acme.revision + 2)
    ensure_custom_connectors_loaded()
    assert "acme_tickets" not in registry()


def test_an_invalid_stored_spec_is_skipped_with_a_warning_naming_it(admin_user, acme, caplog):
    custom_connector_save(yaml_text=ACME_YAML.replace("acme_tickets", "acme_other"), acting_user=admin_user)
    CustomConnector.objects.filter(pk=acme.pk).update(yaml=NO_TOKEN_URL, revision=5)
    custom_connectors_unload()  # a fresh process starting
    with caplog.at_level(logging.WARNING, logger="connections.custom"):
        ensure_custom_connectors_loaded()
    assert "acme_tickets" not in registry()
    assert registry().get("acme_other")  # the others still load
    assert "'acme_tickets' is not loaded" in caplog.text
    assert "custom:acme_tickets: auth.0.token_url: Field required" in caplog.text

    caplog.clear()
    ensure_custom_connectors_loaded()
    assert caplog.text == ""  # warned once, not on every request


def test_the_list_page_shows_a_stored_spec_that_no_longer_loads(client_for, admin_user, acme):
    CustomConnector.objects.filter(pk=acme.pk).update(yaml=NO_TOKEN_URL, revision=9)
    custom_connectors_unload()
    body = page_text(client_for(admin_user).get(reverse("custom_connector_list")))
    assert "Not loaded" in body
    assert "custom:acme_tickets: auth.0.token_url: Field required" in body


def test_the_service_refuses_built_in_keys_and_key_changes(admin_user, acme):
    with pytest.raises(SpecError) as refused:
        custom_connector_save(yaml_text=BUILTIN_KEY, acting_user=admin_user)
    assert [str(p) for p in refused.value.problems] == INVALID["built-in key"][1]
    with pytest.raises(SpecError):
        custom_connector_save(yaml_text=ACME_YAML.replace("key: acme_tickets", "key: x"), acting_user=admin_user,
                              connector=acme)
    assert Connection.objects.count() == 0

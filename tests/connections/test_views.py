"""The connection pages through real HTTP (Django test client): privileges, project access, the wizard,
the list, and retiring connections."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections import services, views
from connections.models import Connection
from connections.selectors import SORTS
from recipes.models import ConnectionBinding, Recipe
from tests.permissions import Endpoint, matrix

pytestmark = pytest.mark.django_db


@pytest.fixture
def basic_connection(credential_connection):
    connection, outcome = credential_connection("basic")
    assert outcome.ok, outcome.message
    return connection


def _urls(connection) -> dict[str, Endpoint]:
    pk, use, hx = connection.pk, ProjectAccess.USE, {"HX-Request": "true"}
    return {
        "list": Endpoint(reverse("connection_list"), privilege="connections.view_connection"),
        "detail": Endpoint(reverse("connection_detail", args=[pk]), privilege="connections.view_connection",
                           access=ProjectAccess.VIEW),
        "wizard": Endpoint(reverse("connection_create"), privilege="connections.add_connection"),
        "wizard_app": Endpoint(reverse("connection_create_app", args=["loopback"]),
                               privilege="connections.add_connection"),
        "authorize": Endpoint(reverse("connection_authorize", args=[pk]), privilege="connections.add_connection",
                              access=use),
        "test": Endpoint(reverse("connection_test", args=[pk]), "post", privilege="connections.test_connection",
                         access=use, headers=hx),
        "edit": Endpoint(reverse("connection_edit", args=[pk]), privilege="connections.change_connection",
                         access=use),
        "disconnect": Endpoint(reverse("connection_disconnect", args=[pk]),
                               privilege="connections.change_connection", access=use),
        "delete": Endpoint(reverse("connection_delete", args=[pk]), privilege="connections.delete_connection",
                           access=use),
        "audit": Endpoint(reverse("connection_audit_log"), privilege="connections.view_auditlog"),
    }


@pytest.mark.parametrize("cell", matrix(_urls(Connection(pk=1))))
def test_permission_matrix(permission_matrix, basic_connection, cell):
    permission_matrix(cell, _urls(basic_connection), hidden=[basic_connection.name])


def test_viewers_see_connections_but_no_create_button(client_for, basic_connection, project, builder, viewer):
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.VIEW, user=viewer)
    response = client_for(viewer).get(reverse("connection_list"))
    assert basic_connection.name in response.text
    assert "Create connection" not in response.text
    detail = client_for(viewer).get(basic_connection.get_absolute_url())
    assert "Test now" not in detail.text and "Re-authorize" not in detail.text


def test_list_row_shows_what_a_person_needs(client_for, basic_connection, builder):
    recipe = Recipe.objects.create(name="Sync leads", project=basic_connection.project, running=True)
    ConnectionBinding.objects.create(recipe=recipe, connector_key="loopback", connection=basic_connection)
    stopped = Recipe.objects.create(name="Weekly digest", project=basic_connection.project)
    ConnectionBinding.objects.create(recipe=stopped, connector_key="loopback", connection=basic_connection)
    text = client_for(builder).get(reverse("connection_list")).text
    for expected in ("Loopback", basic_connection.name, "Sales operations", "Connected as ada@example.com",
                     "Production", "Used by 2 recipes (1 running)", "Connected"):
        assert expected in text


def test_list_filters_and_empty_states(client_for, basic_connection, builder):
    client = client_for(builder)
    assert basic_connection.name in client.get(reverse("connection_list"), {"status": "connected"}).text
    filtered = client.get(reverse("connection_list"), {"environment": "sandbox"}).text
    assert basic_connection.name not in filtered and "No connection matches these filters" in filtered
    assert "No connection matches" in client.get(reverse("connection_list"), {"q": "nothing-like-this"}).text
    bogus = client.get(reverse("connection_list"), {"project": "x", "status": "bogus", "sort": "hack", "page": "999"})
    assert bogus.status_code == 200


def test_empty_state_explains_and_offers_the_wizard(client_for, builder):
    text = client_for(builder).get(reverse("connection_list")).text
    assert "No connections yet." in text
    assert reverse("connection_create") in text


@pytest.mark.parametrize("count", [10, 500])
def test_the_list_makes_a_fixed_number_of_queries(client_for, builder, project, count, django_assert_max_num_queries):
    Connection.objects.bulk_create([
        Connection(name=f"Conn {i:04}", connector_key="loopback", project=project, auth_method="basic",
                   status=Connection.Status.CONNECTED if i % 3 else Connection.Status.ERROR,
                   error_reason="" if i % 3 else Connection.ErrorReason.CREDENTIALS_INVALID)
        for i in range(count)
    ])
    client = client_for(builder)
    client.get(reverse("connection_list"))  # warm the session and content types
    with CaptureQueriesContext(db) as queries:
        response = client.get(reverse("connection_list"))
    assert response.status_code == 200
    assert "Conn 0000" in response.text
    # The navigation counts connections needing attention and unread notifications: one query each.
    assert len(queries) <= 13, [q["sql"][:120] for q in queries]
    test_the_list_makes_a_fixed_number_of_queries.counts = getattr(
        test_the_list_makes_a_fixed_number_of_queries, "counts", {}) | {count: len(queries)}
    if len(test_the_list_makes_a_fixed_number_of_queries.counts) == 2:
        assert len(set(test_the_list_makes_a_fixed_number_of_queries.counts.values())) == 1


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_the_pages_of_each_sort_follow_one_another(client_for, builder, project, make_user, monkeypatch, sort):
    """The page's ids are sorted on their own and its rows read after: together the pages must list every
    visible connection once, in the database's order, and nobody else's personal connection."""
    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    other = account_services.project_create(name="Another project", acting_user=builder)
    statuses = [Connection.Status.CONNECTED, Connection.Status.ERROR, Connection.Status.NOT_CONNECTED]
    shared = [Connection.objects.create(name=f"Conn {n}", connector_key=["gmail", "slack", "loopback"][n % 3],
                                        project=[project, other][n % 2], auth_method="basic",
                                        status=statuses[n % 3]) for n in range(9)]
    Connection.objects.create(name="Mine", connector_key="gmail", project=project, auth_method="oauth2",
                              owner=builder, parent=shared[0])
    Connection.objects.create(name="Someone else's", connector_key="gmail", project=project, auth_method="oauth2",
                              owner=make_user("Builder"), parent=shared[0])
    expected = list(Connection.objects.exclude(name="Someone else's").order_by(*SORTS[sort])
                    .values_list("pk", flat=True))

    client = client_for(builder)
    listed = []
    for number in (1, 2, 3):
        # Runtime user connections are listed when asked for ("personal"): the person's own, nobody else's.
        text = client.get(reverse("connection_list"), {"sort": sort, "page": number, "personal": "1"}).text
        assert f"Page {number} of 3 (10 in all)" in text
        listed += [int(pk) for pk in re.findall(r'<td data-label="Connection"><a href="/connections/(\d+)/">', text)]
    assert listed == expected


# --- the wizard -------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["connection_list", "recipe_list", "project_detail"])
def test_the_wizard_is_reachable_from_the_three_entry_points(client_for, builder, project, entry):
    url = reverse(entry, args=[project.pk]) if entry == "project_detail" else reverse(entry)
    text = client_for(builder).get(url).text
    expected = reverse("connection_create") + (f"?project={project.pk}" if entry == "project_detail" else "")
    assert f'href="{expected}"' in text


def test_project_is_preselected_from_a_project_page(client_for, builder, project):
    client = client_for(builder)
    grid = client.get(reverse("connection_create"), {"project": project.pk}).text
    assert f'{reverse("connection_create_app", args=["loopback"])}?project={project.pk}' in grid
    form = client.get(reverse("connection_create_app", args=["loopback"]), {"project": project.pk}).text
    assert f'<option value="{project.pk}" selected>' in form
    assert 'value="My Loopback account"' in form


def test_wizard_search_finds_apps_and_secondary_ones(client_for, builder):
    text = client_for(builder).get(reverse("connection_create"), {"q": "salesforce"}).text
    grid = text.split('id="app-grid"')[1]
    assert "Salesforce (secondary)" in grid and "Gmail" not in grid


def test_wizard_basic_auth_wrong_then_right_password(client_for, builder, project, api_server):
    client = client_for(builder)
    response = client.post(reverse("connection_create_app", args=["loopback"]), {
        "name": "Ops API", "project": project.pk, "environment": "sandbox", "auth_method": "basic",
        "setting_base_url": api_server.base_url,
    })
    connection = Connection.objects.get(name="Ops API")
    assert response["Location"] == reverse("connection_authorize", args=[connection.pk])
    assert connection.environment == "sandbox" and connection.status == "not_connected"

    wrong = client.post(response["Location"], {"username": "ada", "password": "wrong-password"})
    assert wrong.status_code == 400
    # A first authorization: the typed credentials are wrong, not "changed or revoked" (issue 16).
    assert "The username or password is incorrect." in wrong.text
    assert "Credentials were changed or revoked" not in wrong.text
    assert "Check the username and password and try again." in wrong.text
    assert 'value="ada"' in wrong.text  # the user name is still filled in
    assert "wrong-password" not in wrong.text

    right = client.post(response["Location"], {"username": "ada", "password": api_server.password}, follow=True)
    assert "Connected as ada@example.com" in right.text
    connection.refresh_from_db()
    assert connection.status == "connected" and connection.identity == "ada@example.com"


def test_wizard_keeps_what_was_typed_on_bad_input(client_for, builder, project, basic_connection):
    response = client_for(builder).post(reverse("connection_create_app", args=["loopback"]), {
        "name": basic_connection.name, "project": project.pk, "environment": "production", "auth_method": "basic",
        "setting_base_url": "http://evil.example.com/",
    })
    assert response.status_code == 200
    assert "A connection with this name already exists in this project." in response.text
    assert "http://evil.example.com/" in response.text
    assert Connection.objects.filter(name=basic_connection.name).count() == 1


def test_wizard_refuses_a_malformed_subdomain_beside_the_field(client_for, builder, project):
    response = client_for(builder).post(reverse("connection_create_app", args=["zendesk"]), {
        "name": "Support desk", "project": project.pk, "environment": "production", "auth_method": "api_token",
        "setting_subdomain": "evil.com/", "setting_email": "ada@example.com",
    })
    assert response.status_code == 200
    assert re.search(r'aria-describedby="[^"]*id_setting_subdomain_error', response.text)  # read with its field
    assert '<ul class="errorlist" id="id_setting_subdomain_error">' in response.text
    assert 'value="evil.com/"' in response.text
    assert not Connection.objects.filter(name="Support desk").exists()


def test_auth_method_choice_rerenders_the_settings_with_htmx(client_for, builder):
    response = client_for(builder).get(reverse("connection_create_app", args=["loopback"]),
                                       {"auth_method": "oauth2"}, headers={"HX-Request": "true"})
    assert "<html" not in response.text
    assert "Token URL" in response.text


def test_oauth_wizard_redirects_to_the_app(client_for, builder, project, oauth2_server):
    services.oauth_profile_create(connector_key="loopback", name="Loopback", client_id=oauth2_server.client_id,
                                  client_secret=oauth2_server.client_secret, acting_user=builder, is_default=True,
                                  endpoints=oauth2_server.endpoints)
    client = client_for(builder)
    response = client.post(reverse("connection_create_app", args=["loopback"]), {
        "name": "OAuth app", "project": project.pk, "environment": "production", "auth_method": "oauth2",
        "setting_base_url": oauth2_server.base_url, "setting_authorize_url": oauth2_server.authorize_url,
        "setting_token_url": oauth2_server.token_url,
    })
    page = client.get(response["Location"])
    assert "Connect to Loopback" in page.text and "dedicated account" in page.text
    assert "exactly the permissions of the account" in page.text
    redirect = client.post(response["Location"])
    assert redirect.status_code == 302 and redirect["Location"].startswith(oauth2_server.authorize_url)


# --- a connection's actions ------------------------------------------------------------------


def test_test_now_renders_the_result_in_place(client_for, basic_connection, builder, api_server):
    api_server.set_fault("403")
    response = client_for(builder).post(reverse("connection_test", args=[basic_connection.pk]),
                                        headers={"HX-Request": "true"})
    assert "<html" not in response.text
    assert "The user who authorized this connection lacks permission." in response.text
    assert "Verify the authorizing user&#x27;s permissions" in response.text


def test_test_now_also_refreshes_the_audit_trail_and_replaces_the_earlier_flash(client_for, basic_connection,
                                                                                 builder):
    response = client_for(builder).post(reverse("connection_test", args=[basic_connection.pk]),
                                        headers={"HX-Request": "true"})
    trail = re.search(r'<section class="card" id="audit-trail"[^>]*hx-swap-oob="true".*?</section>', response.text,
                      re.S)
    assert trail is not None
    assert "Tested" in trail.group(0) and builder.email in trail.group(0)  # the test's own event, in place
    assert '<div id="messages" hx-swap-oob="innerHTML"></div>' in response.text  # the earlier flash goes


def test_test_now_on_credentials_that_cannot_be_opened_says_so_instead_of_failing(client_for, basic_connection,
                                                                                 credential_connection, builder,
                                                                                 api_server):
    """A ciphertext altered in the database (here: copied from another connection) is as good as revoked."""
    other, _ = credential_connection("basic", name="Other")
    Connection.objects.filter(pk=basic_connection.pk).update(password=other.password)
    api_server.reset()

    response = client_for(builder).post(reverse("connection_test", args=[basic_connection.pk]),
                                        headers={"HX-Request": "true"})

    assert response.status_code == 200
    # Its own reason, with the admin's fix (issue 16); the vault's row and key ids are not in a builder's page.
    assert "Splice cannot open the stored credentials." in response.text
    assert "SPLICE_CREDENTIAL_KEYS" in response.text and api_server.password not in response.text
    assert "The vault says" not in response.text
    basic_connection.refresh_from_db()
    assert (basic_connection.status, basic_connection.error_reason) == ("error", "credentials_unreadable")
    assert api_server.stats()["by_path"].get("/api/me", 0) == 0  # nothing was sent


def test_edit_tests_new_credentials_before_replacing_them(client_for, basic_connection, builder, api_server):
    client = client_for(builder)
    url = reverse("connection_edit", args=[basic_connection.pk])
    form = client.get(url).text
    assert "Leave blank to keep the current one" in form and api_server.password not in form
    bad = client.post(url, {"name": "Renamed", "setting_base_url": api_server.base_url, "username": "ada",
                            "password": "not-it"})
    assert bad.status_code == 400 and "The username or password is incorrect." in bad.text
    assert services.connection_test(connection=basic_connection).ok  # old password still there
    good = client.post(url, {"name": "Renamed", "description": "Ops", "tags": "ops, api",
                             "setting_base_url": api_server.base_url, "username": "ada", "password": ""})
    assert good.status_code == 302
    basic_connection.refresh_from_db()
    assert basic_connection.name == "Renamed" and basic_connection.tags == ["ops", "api"]


def test_disconnect_with_a_running_recipe_needs_disconnect_anyway(client_for, basic_connection, builder):
    recipe = Recipe.objects.create(name="Sync leads", project=basic_connection.project, running=True)
    ConnectionBinding.objects.create(recipe=recipe, connector_key="loopback", connection=basic_connection)
    client = client_for(builder)
    url = reverse("connection_disconnect", args=[basic_connection.pk])
    page = client.get(url).text
    assert "Sync leads" in page and "Disconnect anyway" in page
    client.post(url)  # no force: nothing happens
    basic_connection.refresh_from_db()
    assert basic_connection.status == "connected"
    client.post(url, {"force": "1"})
    basic_connection.refresh_from_db()
    assert basic_connection.status == "disconnected" and basic_connection.password == ""


def test_delete_is_refused_while_a_recipe_uses_it(client_for, basic_connection, builder):
    recipe = Recipe.objects.create(name="Sync leads", project=basic_connection.project)
    ConnectionBinding.objects.create(recipe=recipe, connector_key="loopback", connection=basic_connection)
    client = client_for(builder)
    client.post(reverse("connection_disconnect", args=[basic_connection.pk]))
    response = client.post(reverse("connection_delete", args=[basic_connection.pk]))
    assert response.status_code == 400
    assert "Sync leads" in response.text
    assert Connection.objects.filter(pk=basic_connection.pk).exists()
    recipe.delete()
    assert client.post(reverse("connection_delete", args=[basic_connection.pk])).status_code == 302
    assert not Connection.objects.filter(pk=basic_connection.pk).exists()


def test_delete_needs_a_disconnected_connection(client_for, basic_connection, builder):
    response = client_for(builder).get(reverse("connection_delete", args=[basic_connection.pk]))
    assert "Only a disconnected connection can be deleted" in response.text


def test_audit_log_filters_by_event(client_for, basic_connection, admin_user, builder):
    client = client_for(admin_user)
    text = client.get(reverse("connection_audit_log"), {"action": "authorized"}).text
    assert basic_connection.name in text and "Authorized" in text
    assert "Created" not in client.get(reverse("connection_audit_log"), {"action": "authorized"}).text.split(
        "<tbody>")[1]


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "/\\/evil.example", "https://evil.example/",
                                    "/\t/evil.example"])
def test_the_wizard_sends_people_back_only_inside_splice(target, client_for, builder, project, api_server):
    """`next` (the recipe editor's way back) never leads to another site, however it is written."""
    client = client_for(builder)
    response = client.post(reverse("connection_create_app", args=["loopback"]) + f"?next={quote(target)}", {
        "name": "Back home", "project": project.pk, "environment": "production", "auth_method": "basic",
        "setting_base_url": api_server.base_url, "next": target,
    })
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]

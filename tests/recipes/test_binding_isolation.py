"""A recipe uses only shared connections of its own project (issue 12), whatever else the acting user may use,
and a recipe page shows nothing of a bound connection the viewer cannot see."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services as account_services
from connections import services as connection_services
from connections.catalog.app_slot import AppSlot
from connections.models import AuditEvent, Connection
from recipes import services
from recipes.models import ConnectionBinding, Recipe
from recipes.selectors import candidate_connections_for_user
from recipes.views import PENDING_BINDING

pytestmark = pytest.mark.django_db

GMAIL_RECIPE = [("gmail", "new_email", {}), ("gmail", "send_email", {"raw": "{{trigger.id}}"})]
ONLY_HERE = "Only connections in the project “Sales operations” can be used in this recipe."


@pytest.fixture
def recipe(make_recipe):
    return make_recipe(steps=GMAIL_RECIPE)


@pytest.fixture
def gmail(builder):
    """gmail(project, name) -> a Gmail connection made as the wizard makes it (not authorized)."""

    def make(project, name: str, *, acting_user=None):
        return connection_services.connection_create(project=project, connector_key="gmail", name=name,
                                                     acting_user=acting_user or builder)

    return make


@pytest.fixture
def marketing(builder):
    """A second project the builder manages: they may use its connections, but not in Sales operations' recipes."""
    return account_services.project_create(name="Marketing", acting_user=builder)


@pytest.fixture
def outsider(make_user):
    return make_user("Builder", email="outsider@example.com")


@pytest.fixture
def elsewhere(outsider):
    """A project the builder cannot access at all."""
    return account_services.project_create(name="Finance", acting_user=outsider)


def _bound(recipe):
    return ConnectionBinding.objects.get(recipe=recipe, connector_key="gmail").connection


def _nothing_stored(recipe, connection):
    assert _bound(recipe) is None
    assert not AuditEvent.objects.filter(connection=connection, action=AuditEvent.Action.BOUND).exists()
    assert Recipe.objects.get(pk=recipe.pk).version == recipe.version


def _bind_post(client, recipe, connection_id, **extra):
    return client.post(reverse("recipe_binding_set", args=[recipe.pk]),
                       {"app_key": "gmail", "connection": connection_id, **extra})


# --- the binding service ----------------------------------------------------------------------------------


def test_the_service_refuses_a_connection_of_another_project_the_user_may_use(recipe, gmail, marketing, builder):
    theirs = gmail(marketing, "Marketing Gmail")
    with pytest.raises(ValidationError) as refused:
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=theirs, acting_user=builder, confirm=True)
    assert refused.value.messages == [ONLY_HERE]
    _nothing_stored(recipe, theirs)


def test_the_service_refuses_a_connection_of_a_project_the_user_cannot_access_with_the_same_message(
        recipe, gmail, elsewhere, outsider, builder):
    theirs = gmail(elsewhere, "Finance Gmail", acting_user=outsider)
    with pytest.raises(ValidationError) as refused:
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=theirs, acting_user=builder, confirm=True)
    assert refused.value.messages == [ONLY_HERE]
    _nothing_stored(recipe, theirs)


def test_the_service_refuses_a_personal_runtime_user_connection(recipe, gmail, project, builder):
    parent = gmail(project, "Team Gmail")
    own = Connection.objects.create(name="Builder own Gmail", connector_key="gmail", project=project, owner=builder,
                                    parent=parent, auth_method="oauth2", status="connected", created_by=builder)
    with pytest.raises(ValidationError, match="runtime user"):
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=own, acting_user=builder)
    _nothing_stored(recipe, own)


def test_the_service_refuses_a_connection_of_another_app(recipe, project, builder):
    slack = connection_services.connection_create(project=project, connector_key="slack", name="Team Slack",
                                                  acting_user=builder)
    with pytest.raises(ValidationError, match="is not a Gmail connection"):
        services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=slack, acting_user=builder)
    _nothing_stored(recipe, slack)


def test_a_connection_of_the_recipes_project_is_bound(recipe, gmail, project, builder):
    ours = gmail(project, "Sales Gmail")
    services.binding_set(recipe=recipe, app=AppSlot("gmail"), connection=ours, acting_user=builder)
    assert _bound(recipe) == ours


# --- the editor's forms -----------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [{}, {"confirm": "1"}], ids=["as-the-form-posts-it", "confirmed"])
def test_the_editor_form_refuses_another_projects_connection_the_user_may_use(
        recipe, gmail, marketing, builder, client_for, extra):
    theirs = gmail(marketing, "Marketing Gmail")
    response = _bind_post(client_for(builder), recipe, theirs.pk, **extra)
    assert response.status_code == 200  # the editor again, with the reason on the Gmail connection form
    assert re.search(r'<p class="field-error" role="alert" id="connection-gmail-error">[^<]*'
                     + re.escape(ONLY_HERE), response.text)
    _nothing_stored(recipe, theirs)


def test_a_crafted_post_with_a_connection_the_user_cannot_see_is_answered_as_a_missing_one(
        recipe, gmail, elsewhere, outsider, builder, client_for):
    theirs = gmail(elsewhere, "Finance Gmail", acting_user=outsider)
    client = client_for(builder)
    hidden = _bind_post(client, recipe, theirs.pk, confirm="1")
    missing = _bind_post(client, recipe, theirs.pk + 1000, confirm="1")
    beyond_any_id = _bind_post(client, recipe, "9" * 30, confirm="1")
    assert hidden.status_code == missing.status_code == beyond_any_id.status_code == 200

    def refusal(response):
        return re.search(r'id="connection-gmail-error">([^<]*)<', response.text).group(1)

    assert refusal(hidden) == refusal(missing) == refusal(beyond_any_id)
    assert ONLY_HERE in refusal(hidden)
    assert "Finance Gmail" not in hidden.text
    _nothing_stored(recipe, theirs)


def test_coming_back_from_the_wizard_with_another_projects_connection_binds_nothing(
        recipe, gmail, marketing, builder, client_for):
    theirs = gmail(marketing, "Made in Marketing")  # the person picked another project in the wizard
    client = client_for(builder)
    session = client.session
    session[PENDING_BINDING] = {"recipe": recipe.pk, "app_key": "gmail"}
    session.save()
    response = client.get(reverse("recipe_connect_done", args=[recipe.pk]), {"connection": theirs.pk})
    assert response.status_code == 200 and ONLY_HERE in response.text
    _nothing_stored(recipe, theirs)


def test_the_editors_picker_offers_only_shared_connections_of_the_recipes_project(
        recipe, gmail, project, marketing, elsewhere, outsider, builder, client_for):
    ours = gmail(project, "Sales Gmail")
    in_marketing = gmail(marketing, "Marketing Gmail")
    in_finance = gmail(elsewhere, "Finance Gmail", acting_user=outsider)
    own = Connection.objects.create(name="Builder own Gmail", connector_key="gmail", project=project, owner=builder,
                                    parent=ours, auth_method="oauth2", status="connected", created_by=builder)

    text = client_for(builder).get(recipe.get_absolute_url()).text
    picker = re.search(r'<select id="connection-gmail" name="connection"[^>]*>(.*?)</select>', text, re.S).group(1)
    assert re.findall(r'<option value="(\d+)"', picker) == [str(ours.pk)]
    for other in (in_marketing, in_finance, own):
        assert other.name not in text

    offered = candidate_connections_for_user(builder, [AppSlot("gmail")], project=project)
    assert [c.pk for c in offered[AppSlot("gmail")]] == [ours.pk]


# --- bindings made before the fix (or directly) -------------------------------------------------------------


@pytest.fixture
def bound_elsewhere(recipe, gmail, elsewhere, outsider):
    """The recipe bound to a Finance connection the builder cannot see, as a binding made before the fix."""
    theirs = gmail(elsewhere, "Finance Gmail", acting_user=outsider)
    Connection.objects.filter(pk=theirs.pk).update(status="error", error_reason="credentials_invalid",
                                                   error_message="Token of cfo@finance.example revoked",
                                                   identity="cfo@finance.example")
    ConnectionBinding.objects.filter(recipe=recipe, connector_key="gmail").update(connection=theirs)
    theirs.refresh_from_db()
    return theirs


def _shows_nothing_of(text, connection):
    for leak in (connection.name, connection.identity, connection.error_message, "Credentials changed or revoked",
                 reverse("connection_detail", args=[connection.pk]),
                 reverse("connection_authorize", args=[connection.pk]), f'value="{connection.pk}"'):
        assert not leak or leak not in text, leak


def test_a_recipe_page_shows_nothing_of_a_bound_connection_the_viewer_cannot_see(
        recipe, bound_elsewhere, builder, client_for):
    text = client_for(builder).get(recipe.get_absolute_url()).text
    assert "A connection you cannot see" in text
    assert "Gmail uses a connection from another project." in text  # a design-time error, named for no one
    _shows_nothing_of(text, bound_elsewhere)


def test_a_viewer_who_sees_both_projects_sees_the_connection_and_the_same_design_time_error(
        recipe, bound_elsewhere, elsewhere, outsider, builder, client_for):
    from accounts.models import ProjectAccess

    account_services.project_share(project=elsewhere, acting_user=outsider, level=ProjectAccess.VIEW, user=builder)
    text = client_for(builder).get(recipe.get_absolute_url()).text
    assert "Finance Gmail" in text and "A connection you cannot see" not in text
    assert "Gmail uses a connection from another project." in text
    picker = re.search(r'<select id="connection-gmail" name="connection"[^>]*>(.*?)</select>', text, re.S).group(1)
    assert str(bound_elsewhere.pk) not in picker  # not offered, even as the bound one


def test_a_cross_project_binding_blocks_start_without_testing_that_connection(recipe, bound_elsewhere, builder):
    with pytest.raises(services.RecipeHasErrors) as refused:
        services.recipe_start(recipe=recipe, acting_user=builder)
    assert [e.code for e in refused.value.errors] == ["connection_other_project"]
    assert "Finance Gmail" not in refused.value.errors[0].message
    assert not bound_elsewhere.checks.exists()


def test_switching_away_from_a_connection_the_viewer_cannot_see_never_names_it(
        recipe, bound_elsewhere, gmail, project, builder, client_for):
    ours = gmail(project, "Sales Gmail")
    client = client_for(builder)
    question = _bind_post(client, recipe, ours.pk)
    assert question.status_code == 409 and "a connection you cannot see" in question.text
    _shows_nothing_of(question.text, bound_elsewhere)

    _bind_post(client, recipe, ours.pk, confirm="1")
    assert _bound(recipe) == ours
    history = client.get(reverse("recipe_history", args=[recipe.pk])).text
    assert "Gmail uses “Sales Gmail” (was a connection from another project)" in history
    _shows_nothing_of(history, bound_elsewhere)


def test_someone_elses_personal_connection_bound_directly_is_hidden_and_an_error(
        recipe, gmail, project, outsider, builder, client_for):
    from accounts.models import ProjectAccess

    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=outsider)
    parent = gmail(project, "Team Gmail")
    personal = Connection.objects.create(name="Outsider personal Gmail", connector_key="gmail", project=project,
                                         owner=outsider, parent=parent, auth_method="oauth2", status="connected",
                                         identity="outsider@example.com", created_by=outsider)
    ConnectionBinding.objects.filter(recipe=recipe, connector_key="gmail").update(connection=personal)

    text = client_for(builder).get(recipe.get_absolute_url()).text
    assert "A connection you cannot see" in text
    assert "Gmail uses a person&#x27;s own (runtime user) connection" in text
    _shows_nothing_of(text, personal)

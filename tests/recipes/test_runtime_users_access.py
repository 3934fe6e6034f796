"""Runtime user connections without a worker: the binding switch and its checks, children kept out of every picker
and binding, one person's child invisible and unusable to another, My connections and its actions (audited), the
connect link's refusals, the connections list's filter and the jobs list's run-as filter."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections import runtime_users
from connections import services as connection_services
from connections.catalog.app_slot import AppSlot
from connections.models import AuditEvent, Connection
from recipes import services
from recipes.models import ConnectionBinding, Recipe
from recipes.runtime.models import Job
from recipes.selectors import candidate_connections_for_user
from recipes.services import RecipeHasErrors
from tests.connections.conftest import credential_connection  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

STEPS = [("recipe_function", "new_call", {}), ("loopback", "get_item", {"id": "1"})]


@pytest.fixture
def parent(credential_connection):  # noqa: F811
    return credential_connection("basic", name="Team loopback")[0]


@pytest.fixture
def person(make_user, project, builder):
    def make(role="Operator"):
        user = make_user(role)
        account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=user)
        return user

    return make


@pytest.fixture
def child_of(api_server):
    """child_of(person, parent) -> the person's connected child of `parent`."""

    def make(owner, parent_connection):
        child = runtime_users.child_create(person=owner, parent=parent_connection)
        outcome = connection_services.connection_set_credentials(
            connection=child, acting_user=owner,
            credentials={"username": api_server.username, "password": api_server.password})
        assert outcome.ok, outcome.message
        child.refresh_from_db()
        return child

    return make


def test_the_runtime_user_switch_is_refused_on_a_standard_recipe(make_recipe, parent, builder, client_for):
    recipe = make_recipe(kind=Recipe.Kind.STANDARD, steps=[("loopback", "get_item", {"id": "1"})])
    services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=parent, acting_user=builder)
    binding = recipe.bindings.get()
    with pytest.raises(ValidationError, match="is a standard recipe: only callable and Workbot recipes"):
        services.binding_set_runtime_user(binding=binding, runtime_user=True, acting_user=builder)
    client_for(builder).post(reverse("recipe_binding_runtime_user", args=[recipe.pk]),
                             {"app_key": "loopback", "runtime_user": "1"})
    assert not ConnectionBinding.objects.get(pk=binding.pk).runtime_user


def test_a_runtime_user_binding_needs_a_connected_parent_to_start(make_recipe, parent, builder):
    recipe = make_recipe(kind=Recipe.Kind.CALLABLE, steps=STEPS)
    binding = recipe.bindings.get()
    services.binding_set_runtime_user(binding=binding, runtime_user=True, acting_user=builder)
    with pytest.raises(RecipeHasErrors) as refused:
        services.recipe_start(recipe=recipe, acting_user=builder)
    assert "runtime_user_no_parent" in [e.code for e in refused.value.errors]

    services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=parent, acting_user=builder)
    connection_services.connection_disconnect(connection=parent, acting_user=builder)
    with pytest.raises(RecipeHasErrors) as refused:
        services.recipe_start(recipe=recipe, acting_user=builder)
    assert "connection_disconnected" in [e.code for e in refused.value.errors]
    assert not Recipe.objects.get(pk=recipe.pk).running


def test_a_child_is_in_no_picker_and_cannot_be_bound_by_a_crafted_post(make_recipe, parent, child_of, builder,
                                                                       client_for):
    mine = child_of(builder, parent)
    recipe = make_recipe(kind=Recipe.Kind.CALLABLE, steps=STEPS)
    offered = candidate_connections_for_user(builder, [AppSlot("loopback")], project=recipe.project)
    assert [choice.pk for choice in offered[AppSlot("loopback")]] == [parent.pk]

    response = client_for(builder).post(reverse("recipe_binding_set", args=[recipe.pk]),
                                        {"app_key": "loopback", "connection": mine.pk})
    assert "(runtime user) connection cannot be a recipe" in response.content.decode()  # the editor says why
    assert recipe.bindings.get().connection_id is None
    assert not AuditEvent.objects.filter(connection=mine, action=AuditEvent.Action.BOUND).exists()


def test_another_person_cannot_see_test_or_use_a_child(parent, child_of, person, client_for, make_user):
    owner, other = person(), person("Builder")
    child = child_of(owner, parent)
    client = client_for(other)
    for name in ("my_connection_detail", "my_connection_reauthorize", "my_connection_disconnect",
                 "my_connection_delete", "connection_detail"):
        assert client.get(reverse(name, args=[child.pk])).status_code == 404, name
    assert client.post(reverse("my_connection_test", args=[child.pk])).status_code == 404
    assert client.post(reverse("connection_test", args=[child.pk])).status_code == 404
    assert child.name not in client.get(reverse("my_connections")).content.decode()
    assert runtime_users.child_connection_for(other, parent) is None  # what a job of theirs would run on

    owners = client_for(owner)
    assert owners.get(reverse("my_connection_detail", args=[child.pk])).status_code == 200
    assert child.name in owners.get(reverse("my_connections")).content.decode()


def test_people_who_manage_runtime_connections_see_everyones_by_person_and_app(parent, child_of, person, make_user,
                                                                              client_for, project, builder):
    one, two = person(), person()
    first, second = child_of(one, parent), child_of(two, parent)
    admin = make_user("Admin")
    admin.user_permissions.add(Permission.objects.get(codename="manage_runtime_connections"))
    client = client_for(admin)
    # Everyone's in the projects they may see: none yet.
    assert first.name not in client.get(reverse("my_connections")).content.decode()
    assert client.get(reverse("my_connection_detail", args=[first.pk])).status_code == 404
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=admin)
    page = client.get(reverse("my_connections")).content.decode()
    assert first.name in page and second.name in page
    narrowed = client.get(reverse("my_connections"), {"person": one.email, "app": "loopback"}).content.decode()
    assert first.name in narrowed and second.name not in narrowed
    by_id = client.get(reverse("my_connections"), {"person": str(two.pk)}).content.decode()
    assert second.name in by_id and first.name not in by_id
    assert client.get(reverse("my_connection_detail", args=[first.pk])).status_code == 200
    # Re-authorizing (or editing) would make the credentials the admin's: the owner's alone, on every page.
    for page in ("my_connection_reauthorize", "connection_authorize", "connection_edit"):
        assert client.get(reverse(page, args=[first.pk])).status_code == 404, page
    assert client.get(reverse("connection_detail", args=[first.pk])).status_code == 200


def test_my_connections_lists_app_parent_recipes_status_and_last_used(parent, child_of, person, client_for,
                                                                      make_recipe, builder):
    owner = person()
    empty = client_for(owner).get(reverse("my_connections")).content.decode()
    assert "No connections of your own yet." in empty
    recipe = make_recipe("Create a lead as me", kind=Recipe.Kind.CALLABLE, steps=STEPS)
    services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=parent, acting_user=builder)
    child = child_of(owner, parent)
    page = client_for(owner).get(reverse("my_connections")).content.decode()
    assert child.name in page and "Team loopback" in page and "Create a lead as me" in page
    assert "Connected" in page and "Never" in page


def test_disconnect_and_delete_ask_first_and_are_audited_with_the_person(parent, child_of, person, client_for):
    owner = person()
    child = child_of(owner, parent)
    client = client_for(owner)
    assert "Disconnect “" in client.get(reverse("my_connection_disconnect", args=[child.pk])).content.decode()
    assert Connection.objects.get(pk=child.pk).status == Connection.Status.CONNECTED  # asking changed nothing
    client.post(reverse("my_connection_disconnect", args=[child.pk]))
    assert Connection.objects.get(pk=child.pk).status == Connection.Status.DISCONNECTED
    assert "Delete connection" in client.get(reverse("my_connection_delete", args=[child.pk])).content.decode()
    assert client.post(reverse("my_connection_delete", args=[child.pk])).status_code == 302
    assert not Connection.objects.filter(pk=child.pk).exists()
    actions = set(AuditEvent.objects.filter(connection_name=child.name, actor=owner).values_list("action", flat=True))
    assert {"created", "authorized", "disconnected", "deleted"} <= actions


def test_a_connect_link_forged_or_for_another_parent_is_a_404_and_an_old_one_says_so(parent, person, client_for,
                                                                                      settings):
    owner = person()
    link = runtime_users.connect_link_path(person=owner, parent=parent, recipe_id=None, job_id=None)
    client = client_for(owner)
    assert client.get(link).status_code == 200
    assert client.get(link[:-3] + "xyz/").status_code == 404
    settings.SPLICE_RUNTIME_CONNECT_LINK_HOURS = 0
    old = client.get(link)
    assert old.status_code == 410 and "older than 0 hours" in old.content.decode()


def test_children_are_hidden_from_the_connections_list_unless_asked_for(parent, child_of, builder, client_for):
    child = child_of(builder, parent)
    client = client_for(builder)
    assert child.name not in client.get(reverse("connection_list")).content.decode()
    assert child.name in client.get(reverse("connection_list"), {"personal": "1"}).content.decode()


def test_the_jobs_list_filters_by_run_as_person(make_recipe, person, builder, client_for):
    recipe = make_recipe(kind=Recipe.Kind.CALLABLE, steps=STEPS)
    one, two = person(), person()
    for who in (one, two):
        Job.objects.create(recipe=recipe, trigger_kind=Job.Trigger.CALL, run_as=who, status=Job.Status.FAILED)
    page = client_for(builder).get(reverse("job_list"), {"run_as": one.email.upper()}).content.decode()
    assert one.email in page and two.email not in page

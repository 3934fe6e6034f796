"""Runtime user connections end to end: a callable recipe whose "Create item" runs as each caller, called through the
API by two people who connected their own accounts through their connect links, on a real Celery worker against
the API test server (which records the credentials of every call). The parent's account (ada) is never used."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections.models import AuditEvent, Connection
from recipes import services
from recipes.models import Recipe
from recipes.runtime.models import Job, JobStep
from tests.recipes.runtime import workers

pytestmark = pytest.mark.django_db(transaction=True)
jobs_worker, worker = workers.jobs_worker, workers.worker

STEPS = [
    ("recipe_function", "new_call", {}),
    ("loopback", "create_item", {"name": "Lead from {{trigger.who}}"}),
    ("recipe_function", "return_result", {"id": "{{step2.id}}"}),
]
REPS = {"rep-one": "one-pass-123", "rep-two": "two-pass-456"}


@pytest.fixture
def runtime_recipe(running_recipe, builder):
    """A started callable recipe whose loopback binding (the parent, authorized as ada) runs as the caller."""
    recipe = running_recipe(STEPS, kind=Recipe.Kind.CALLABLE, name="Create a lead as me", start=False)
    services.recipe_set_call_fields(recipe=recipe, fields=[{"name": "who", "type": "string", "required": True}],
                                    acting_user=builder)
    services.binding_set_runtime_user(binding=recipe.bindings.get(), runtime_user=True, acting_user=builder)
    services.recipe_start(recipe=recipe, acting_user=builder)
    return recipe


@pytest.fixture
def rep(make_user, project, builder):
    """rep() -> an Operator who may use the recipe's project, with an API token (`.token`)."""

    def make():
        person = make_user("Operator")
        account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=person)
        person.token = account_services.api_token_create(user=person, name="Calls")[1]
        return person

    return make


def call(recipe, person, who: str):
    response = Client().post(reverse("recipe_call", args=[recipe.pk]), json.dumps({"who": who}),
                             content_type="application/json", headers={"Authorization": f"Bearer {person.token}"})
    return response


def signed_in(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


def connect(person, link: str, username: str, password: str):
    return signed_in(person).post(link, {"username": username, "password": password})


def basic_user(request: dict) -> str:
    value = {k.lower(): v for k, v in request["headers"].items()}["authorization"]
    return base64.b64decode(value.split(" ", 1)[1]).decode().partition(":")[0]


def created_by(api_server) -> list[str]:
    return [basic_user(r) for r in api_server.stats()["recent"] if r["method"] == "POST" and r["path"] == "/api/items"]


def test_two_people_call_the_recipe_and_each_call_is_made_as_them(worker, api_server, runtime_recipe, rep):
    api_server.set_credentials({"username": "ada", "password": "ada-pass-123"},
                               *({"username": u, "password": p} for u, p in REPS.items()))
    one, two = rep(), rep()
    parent = runtime_recipe.bindings.get().connection

    # Each first call stops before any request, with the caller's own link; each connects through theirs.
    links = {}
    for person in (one, two):
        answer = call(runtime_recipe, person, person.email)
        assert answer.status_code == 502, answer.content
        job = Job.objects.get(pk=answer.json()["job"])
        assert job.error.startswith("Connect your Loopback account to run this recipe.")
        assert job.action_url.startswith("/connect/") and job.run_as == person
        links[person.pk] = job.action_url
    assert created_by(api_server) == []

    for person, (username, password) in zip((one, two), REPS.items(), strict=True):
        response = connect(person, links[person.pk], username, password)
        assert response.status_code == 302, response.content.decode()[:2000]
    children = {c.owner_id: c for c in Connection.objects.filter(parent=parent)}
    assert set(children) == {one.pk, two.pk}
    assert {c.status for c in children.values()} == {Connection.Status.CONNECTED}
    assert all((c.project_id, c.connector_key, c.environment) == (parent.project_id, "loopback", parent.environment)
               for c in children.values())

    for person in (one, two):
        answer = call(runtime_recipe, person, person.email)
        assert answer.status_code == 200, answer.content
    assert created_by(api_server) == ["rep-one", "rep-two"]  # never ada, the parent's account

    for person in (one, two):
        job = Job.objects.filter(run_as=person, status=Job.Status.SUCCEEDED).get()
        step = job.steps.get(position=2)
        assert (step.connection_id, step.run_as_id) == (children[person.pk].pk, person.pk)
    # First use by a job is audited once per child, with the person.
    first_uses = AuditEvent.objects.filter(action=AuditEvent.Action.FIRST_USED)
    assert sorted(first_uses.values_list("connection_id", "actor_id")) == sorted(
        (children[p.pk].pk, p.pk) for p in (one, two))


def test_a_person_without_a_child_connects_through_their_link_and_the_re_run_succeeds_as_them(
        worker, api_server, runtime_recipe, rep):
    api_server.set_credentials({"username": "ada", "password": "ada-pass-123"}, username="rep-one",
                               password=REPS["rep-one"])
    person, other = rep(), rep()
    job = Job.objects.get(pk=call(runtime_recipe, person, "me").json()["job"])
    link = job.action_url

    # The job page shows the person the button; the link is a 404 for anyone else, and spends nothing.
    page = signed_in(person).get(job.get_absolute_url())
    assert f'href="{link}"' in page.content.decode() and "Connect your account" in page.content.decode()
    assert signed_in(other).get(link).status_code == 404
    assert signed_in(other).post(link, {"username": "rep-one", "password": REPS["rep-one"]}).status_code == 404
    assert not Connection.objects.filter(owner__isnull=False).exists()

    wrong = connect(person, link, "rep-one", "not-the-password")
    assert wrong.status_code == 400 and not Connection.objects.get(owner=person).authorized_at
    done = connect(person, link, "rep-one", REPS["rep-one"])
    assert done.status_code == 302
    landing = signed_in(person).get(done["Location"])
    assert "Your Loopback account is connected" in landing.content.decode()
    assert f'action="{reverse("job_rerun", args=[job.pk])}"' in landing.content.decode()
    assert signed_in(person).get(link).status_code == 410  # single use

    rerun = signed_in(person).post(reverse("job_rerun", args=[job.pk]))
    assert rerun.status_code == 302
    again = Job.objects.get(rerun_of=job)
    worker.wait_for(lambda: Job.objects.filter(pk=again.pk, status__in=Job.FINISHED).exists(), "the re-run")
    again.refresh_from_db()
    assert again.status == Job.Status.SUCCEEDED, again.error
    assert created_by(api_server) == ["rep-one"]
    child = Connection.objects.get(owner=person)
    assert list(AuditEvent.objects.filter(connection=child).order_by("pk").values_list("action", "actor_id")) == [
        ("created", person.pk), ("authorization_failed", person.pk), ("authorized", person.pk),
        ("status_changed", person.pk), ("first_used", person.pk)]


def test_revoked_child_credentials_fail_only_their_owners_jobs_with_the_reason_and_a_link(
        worker, api_server, runtime_recipe, rep):
    api_server.set_credentials({"username": "ada", "password": "ada-pass-123"},
                               *({"username": u, "password": p} for u, p in REPS.items()))
    one, two = rep(), rep()
    for person, (username, password) in zip((one, two), REPS.items(), strict=True):
        link = Job.objects.get(pk=call(runtime_recipe, person, "x").json()["job"]).action_url
        assert connect(person, link, username, password).status_code == 302
    # rep-one's account is revoked at the app.
    api_server.set_credentials({"username": "ada", "password": "ada-pass-123"}, username="rep-two",
                               password=REPS["rep-two"])

    failed = call(runtime_recipe, one, "after revocation")
    assert failed.status_code == 502
    job = Job.objects.get(pk=failed.json()["job"])
    assert job.error_code == "credentials_invalid"
    assert "credentials changed or revoked" in job.error and "Re-authorize your Loopback account" in job.error
    assert job.action_url.startswith("/connect/")
    assert Connection.objects.get(owner=one).status == Connection.Status.ERROR
    assert call(runtime_recipe, two, "still fine").status_code == 200
    assert Connection.objects.get(owner=two).status == Connection.Status.CONNECTED
    assert runtime_recipe.bindings.get().connection.status == Connection.Status.CONNECTED  # the parent is untouched

    # The link re-authorizes the same child.
    api_server.set_credentials({"username": "rep-one", "password": "new-pass-789"},
                               {"username": "rep-two", "password": REPS["rep-two"]})
    assert connect(one, job.action_url, "rep-one", "new-pass-789").status_code == 302
    assert Connection.objects.filter(owner=one).count() == 1
    assert Connection.objects.get(owner=one).status == Connection.Status.CONNECTED
    assert AuditEvent.objects.filter(connection__owner=one, action=AuditEvent.Action.REAUTHORIZED,
                                     actor=one).exists()


def test_no_child_secret_in_jobs_pages_logs_or_task_arguments(worker, api_server, runtime_recipe, rep):
    secret = "child-secret-Zq81x"
    api_server.set_credentials({"username": "ada", "password": "ada-pass-123"}, username="rep-one",
                               password=secret)
    person = rep()
    link = Job.objects.get(pk=call(runtime_recipe, person, "x").json()["job"]).action_url
    assert connect(person, link, "rep-one", secret).status_code == 302
    answer = call(runtime_recipe, person, "x")
    assert answer.status_code == 200, answer.content
    child = Connection.objects.get(owner=person)

    stored = json.dumps([list(Job.objects.values("trigger_data", "result", "error")),
                         list(JobStep.objects.values("input", "output", "error"))], default=str)
    assert secret not in stored
    client = signed_in(person)
    for url in [reverse("my_connections"), reverse("my_connection_detail", args=[child.pk]),
                *(job.get_absolute_url() for job in Job.objects.all())]:
        page = client.get(url)
        assert page.status_code == 200 and secret not in page.content.decode(), url
    log = Path(django_settings.BASE_DIR) / "var" / f"{worker.queue}.log"
    assert "splice.jobs.run" in log.read_text() and secret not in log.read_text()  # task arguments: ids only

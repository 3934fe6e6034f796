"""The jobs pages through real HTTP: who may see them, what they show of a job and its steps, their filters and
pages, their live refresh, and re-running a failed job that really ran against the API test server."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections.models import Connection
from connections.problems import SEED_RECOMMENDATIONS
from recipes.runtime.jobs import job_create, job_rerun
from recipes.runtime.masking import MASK
from recipes.runtime.models import Job, JobStep
from recipes.runtime.runner import job_run
from tests.permissions import NO_PRIVILEGE, Endpoint, matrix, page_text
from tests.recipes.runtime.conftest import running_recipe  # noqa: F401

pytestmark = pytest.mark.django_db

# The API server starts with items 1 and 2: the item the job's first action creates is item 3.
NEW_ITEM_PATH = "/api/items/3"
STEPS = [("scheduler", "every", {"minutes": "5"}),
         ("loopback", "create_item", {"name": "Order of {{trigger.scheduled_at}}"}),
         ("loopback", "get_item", {"id": "{{step2.id}}"})]


@pytest.fixture
def recipe(running_recipe):  # noqa: F811
    return running_recipe(STEPS, name="Copy orders")


@pytest.fixture
def failed_job(recipe, api_server):
    """A job that really ran: step 2 created item 3 at the app, then step 3 met an error reading it."""
    api_server.set_fault(404, NEW_ITEM_PATH)
    job = job_create(recipe=recipe, trigger_kind=Job.Trigger.SCHEDULE, trigger_data={"scheduled_at": "noon"})
    job_run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED, job.error
    return job


def _posts(api_server, path="/api/items") -> int:
    return sum(1 for r in api_server.stats()["recent"] if r["method"] == "POST" and r["path"] == path)


def _gets(api_server, path) -> int:
    return sum(1 for r in api_server.stats()["recent"] if r["method"] == "GET" and r["path"] == path)


def _jobs(recipe, count: int, *, status=Job.Status.SUCCEEDED, days_ago: float = 0, run_as=None, steps: int = 0):
    """`count` job rows (as a runner leaves them), created `days_ago`, each with `steps` steps."""
    now = timezone.now() - timedelta(days=days_ago)
    jobs = Job.objects.bulk_create([
        Job(recipe=recipe, status=status, trigger_kind=Job.Trigger.SCHEDULE, trigger_data={"n": n}, run_as=run_as,
            created_at=now - timedelta(seconds=n), started_at=now - timedelta(seconds=n),
            finished_at=None if status in (Job.Status.PENDING, Job.Status.RUNNING) else now)
        for n in range(count)])
    JobStep.objects.bulk_create([
        JobStep(job=job, position=position, connector_key="loopback", operation_key="get_item", name="Get item",
                status=JobStep.Status.SUCCEEDED, input={"id": position}, output={"id": position}, attempts=1)
        for job in jobs for position in range(2, 2 + steps)])
    return jobs


# --- who may see them ----------------------------------------------------------------------------


def _endpoints(job_pk: int, recipe_pk: int, project_pk: int) -> dict[str, Endpoint]:
    view, use = ProjectAccess.VIEW, ProjectAccess.USE
    return {
        "recipe_jobs": Endpoint(reverse("recipe_jobs", args=[recipe_pk]), privilege="recipes.view_recipe",
                                access=view),
        "project_jobs": Endpoint(reverse("project_jobs", args=[project_pk]), privilege="recipes.view_recipe",
                                 access=view),
        "job_list": Endpoint(reverse("job_list"), privilege="recipes.view_recipe"),
        "job_detail": Endpoint(reverse("job_detail", args=[job_pk]), privilege="recipes.view_recipe", access=view),
        "job_rerun": Endpoint(reverse("job_rerun", args=[job_pk]), "post", privilege="recipes.start_recipe",
                              access=use, allowed=(302,)),
    }


def _cells():
    """Every view's matrix with a person of no role at all as the one without the privilege, and re-running's
    again with a Viewer (who may see jobs, not start them)."""
    endpoints = _endpoints(1, 1, 1)
    viewer = [pytest.param(*cell.values, id=f"{cell.id}-viewer") for cell in matrix(endpoints)
              if cell.values[0].expected == NO_PRIVILEGE]
    return matrix(endpoints, no_privilege_role=None) + viewer


@pytest.mark.parametrize("cell", _cells())
def test_permission_matrix(permission_matrix, failed_job, cell):
    recipe = failed_job.recipe
    permission_matrix(cell, _endpoints(failed_job.pk, recipe.pk, recipe.project_id),
                      hidden=[recipe.name, recipe.project.name, "Order of noon"])


def test_lists_show_only_the_jobs_of_projects_the_person_may_see(client_for, failed_job, make_user, builder,
                                                                 make_recipe):
    elsewhere = account_services.project_create(name="Finance", acting_user=builder)
    hidden_recipe = make_recipe("Pay invoices")
    hidden_recipe.project = elsewhere
    hidden_recipe.save(update_fields=["project"])
    hidden = _jobs(hidden_recipe, 1)[0]
    person = make_user("Operator")
    account_services.project_share(project=failed_job.recipe.project, acting_user=builder,
                                   level=ProjectAccess.VIEW, user=person)
    client = client_for(person)

    text = client.get(reverse("job_list")).text
    assert f"Job {failed_job.pk}" in text and "Copy orders" in text
    assert f"Job {hidden.pk}<" not in text and "Pay invoices" not in text and "Finance" not in text
    assert "No job matches" in client.get(reverse("job_list"), {"project": elsewhere.pk}).text
    assert "No job matches" in client.get(reverse("job_list"), {"recipe": hidden_recipe.pk}).text
    assert client.get(reverse("job_detail", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("recipe_jobs", args=[hidden_recipe.pk])).status_code == 404
    assert client.get(reverse("project_jobs", args=[elsewhere.pk])).status_code == 404


def test_the_nav_and_the_project_page_lead_to_the_jobs(client_for, builder, project, viewer, make_user):
    text = client_for(builder).get(project.get_absolute_url()).text
    assert f'href="{reverse("project_jobs", args=[project.pk])}"' in text
    assert f'href="{reverse("job_list")}"' in text
    nobody = make_user(None)
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.VIEW, user=nobody)
    assert f'href="{reverse("job_list")}"' not in client_for(nobody).get(project.get_absolute_url()).text


# --- what a list shows -----------------------------------------------------------------------------


def test_a_recipes_jobs_show_status_started_duration_trigger_and_run_as(client_for, failed_job, builder, operator):
    rerun = job_rerun(job=failed_job, acting_user=operator)
    Job.objects.filter(pk=failed_job.pk).update(started_at=timezone.now() - timedelta(seconds=3, milliseconds=200),
                                                finished_at=timezone.now())
    text = page_text(client_for(builder).get(reverse("recipe_jobs", args=[failed_job.recipe_id])))
    assert "Jobs of Copy orders" in text
    assert re.search(rf"Job {failed_job.pk}\s+Failed\s+Step 3 \(Get item\).*HTTP 404", text), text
    assert re.search(r"\d+\.\d s\s+Schedule\s+The recipe's connections", text), text
    assert re.search(rf"Job {rerun.pk}\s+Pending\s+Not started\s+—\s+Re-run\s+operator@example.com", text), text
    assert text.index(f"Job {rerun.pk}") < text.index(f"Job {failed_job.pk}")  # newest first


def test_lists_filter_by_status_and_dates(client_for, recipe, builder):
    old = _jobs(recipe, 2, status=Job.Status.FAILED, days_ago=10)
    recent = _jobs(recipe, 3, days_ago=1)
    today = _jobs(recipe, 1, status=Job.Status.RUNNING)
    client, url = client_for(builder), reverse("recipe_jobs", args=[recipe.pk])

    def listed(**query) -> set[int]:
        return {int(pk) for pk in re.findall(r">Job (\d+)</a>", client.get(url, query).text)}

    def day(job) -> str:
        return timezone.localdate(job.created_at).isoformat()

    assert listed() == {j.pk for j in old + recent + today}
    assert listed(status="failed") == {j.pk for j in old}
    assert listed(status="running") == {today[0].pk}
    assert listed(**{"from": day(recent[0])}) == {j.pk for j in recent + today}
    assert listed(to=day(old[0])) == {j.pk for j in old}
    assert listed(**{"from": day(recent[0]), "to": day(recent[0])}) == {j.pk for j in recent}
    assert listed(status="succeeded", to=day(recent[0])) == {j.pk for j in recent}

    swapped = client.get(url, {"from": day(recent[0]), "to": day(old[0])})
    assert "The “To” date was before the “From” date" in swapped.text
    bad = client.get(url, {"from": "last tuesday", "status": "exploded", "page": "x"})
    assert bad.status_code == 200
    assert "“From” must be a date such as 2025-01-31" in page_text(bad)
    assert len(re.findall(r">Job \d+</a>", bad.text)) == 6
    assert "No job matches these filters." in client.get(url, {"status": "cancelled"}).text


def test_the_project_and_global_lists_filter_by_recipe_and_project(client_for, recipe, make_recipe, builder):
    other_recipe = make_recipe("Archive orders")
    mine, theirs = _jobs(recipe, 2), _jobs(other_recipe, 1)
    other_project = account_services.project_create(name="Support", acting_user=builder)
    client = client_for(builder)

    def listed(url, **query) -> set[int]:
        return {int(pk) for pk in re.findall(r">Job (\d+)</a>", client.get(url, query).text)}

    project_url = reverse("project_jobs", args=[recipe.project_id])
    assert listed(project_url) == {j.pk for j in mine + theirs}
    assert listed(project_url, recipe=other_recipe.pk) == {theirs[0].pk}
    assert listed(reverse("job_list"), recipe=recipe.pk) == {j.pk for j in mine}
    assert listed(reverse("job_list"), project=recipe.project_id) == {j.pk for j in mine + theirs}
    assert listed(reverse("job_list"), project=other_project.pk) == set()
    page = client.get(reverse("job_list")).text
    assert "Sales operations" in page and 'name="project"' in page and 'name="recipe"' in page


def test_lists_are_paginated_and_keep_their_filters(client_for, recipe, builder):
    _jobs(recipe, 60, status=Job.Status.FAILED)
    _jobs(recipe, 5)
    client, url = client_for(builder), reverse("recipe_jobs", args=[recipe.pk])
    first = client.get(url, {"status": "failed"}).text
    assert "Page 1 of 2 (60 in all)" in first
    assert len(re.findall(r">Job \d+</a>", first)) == 50
    assert 'href="?status=failed&amp;page=2"' in first
    second = client.get(url, {"status": "failed", "page": 2}).text
    assert len(re.findall(r">Job \d+</a>", second)) == 10
    shown = set(re.findall(r">Job (\d+)</a>", first)) | set(re.findall(r">Job (\d+)</a>", second))
    assert len(shown) == 60


def test_empty_states(client_for, recipe, builder):
    client, url = client_for(builder), reverse("recipe_jobs", args=[recipe.pk])
    text = client.get(url).text
    assert "No jobs yet." in text and "A job is one run of a recipe" in text
    assert "The recipe is running" in text
    filtered = client.get(url, {"status": "failed"}).text
    assert "No job matches these filters." in filtered and f'href="{url}"' in filtered


def test_a_list_refreshes_itself_while_a_job_runs_and_stops_after(client_for, recipe, builder):
    running = _jobs(recipe, 1, status=Job.Status.RUNNING)[0]
    _jobs(recipe, 2)
    client, url = client_for(builder), reverse("recipe_jobs", args=[recipe.pk])
    page = client.get(url, {"status": ""})
    assert 'hx-trigger="every 2s"' in page.text and f'hx-get="{url}?status="' in page.text
    assert "HX-Request" in page["Vary"]

    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="job-rows"') and "<html" not in fragment.text
    assert 'hx-trigger="every 2s"' in fragment.text and "Running" in fragment.text

    Job.objects.filter(pk=running.pk).update(status=Job.Status.SUCCEEDED, finished_at=timezone.now())
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert "hx-trigger" not in fragment.text and "Running" not in fragment.text
    assert "hx-trigger" not in client.get(url).text


@pytest.mark.parametrize("name", ["recipe_jobs", "project_jobs", "job_list"])
def test_a_list_makes_as_many_queries_for_fifty_jobs_as_for_two(client_for, recipe, builder, operator, name,
                                                                django_assert_max_num_queries):
    url = reverse(name, args=[] if name == "job_list" else [recipe.pk if name == "recipe_jobs" else
                                                             recipe.project_id])
    client = client_for(builder)
    _jobs(recipe, 2, run_as=operator, steps=2)
    client.get(url)  # the session and content types, read once
    with CaptureQueriesContext(db) as few:
        client.get(url)
    _jobs(recipe, 48, run_as=operator, steps=2)
    _jobs(recipe, 10, status=Job.Status.RUNNING, steps=1)
    with django_assert_max_num_queries(len(few)):
        text = client.get(url).text
    assert len(re.findall(r">Job \d+</a>", text)) == 50 and "operator@example.com" in text


# --- one job ------------------------------------------------------------------------------------


def test_a_jobs_page_shows_each_steps_record_connection_run_as_and_error(client_for, failed_job, builder):
    response = client_for(builder).get(failed_job.get_absolute_url())
    text = page_text(response)
    connection = failed_job.steps.get(position=2).connection
    assert re.search(r"Job \d+\s+Failed", text)
    assert re.search(r"Trigger\s*Schedule", text) and '"scheduled_at": "noon"' in text
    assert "Why it failed" in text and "Step 3 (Get item): Loopback answered “Get item” with HTTP 404." in text
    assert all(tip in text for tip in SEED_RECOMMENDATIONS)

    create, read = text.split("Step 2: Loopback · Create item")[1].split("Step 3: Loopback · Get item")
    assert "Succeeded" in create and '"name": "Order of noon"' in create and '"id": 3' in create
    assert re.search(r"Run as\s*builder@example.com\s*Attempts\s*1", create)
    assert "Failed" in read and '"id": 3' in read and '"error": "injected"' in read
    assert f'href="{connection.get_absolute_url()}">{connection.name}</a>' in response.text
    assert "Re-run this job" in text and "Run every step again from the start" in text
    assert "resumes at step 3" in text


def test_a_viewer_sees_the_job_but_no_rerun(client_for, failed_job, viewer, builder):
    account_services.project_share(project=failed_job.recipe.project, acting_user=builder,
                                   level=ProjectAccess.VIEW, user=viewer)
    text = client_for(viewer).get(failed_job.get_absolute_url()).text
    assert "Step 3 (Get item)" in text
    assert "Re-run this job" not in text and reverse("job_rerun", args=[failed_job.pk]) not in text


def test_a_step_names_no_connection_the_viewer_cannot_see(client_for, failed_job, builder, make_user):
    elsewhere = account_services.project_create(name="Finance", acting_user=builder)
    secret_place = Connection.objects.create(name="Treasury account", connector_key="loopback", project=elsewhere,
                                             auth_method="basic", status=Connection.Status.CONNECTED)
    failed_job.steps.filter(position=2).update(connection=secret_place, connection_name=secret_place.name)
    person = make_user("Builder")
    account_services.project_share(project=failed_job.recipe.project, acting_user=builder, level=ProjectAccess.USE,
                                   user=person)
    text = client_for(person).get(failed_job.get_absolute_url()).text
    assert "A connection you cannot see" in text and "Treasury account" not in text
    assert secret_place.get_absolute_url() not in text


def test_a_callable_jobs_page_shows_its_result(client_for, running_recipe, builder):  # noqa: F811
    recipe = running_recipe([("recipe_function", "new_call", {}), ("loopback", "get_item", {"id": "1"}),
                             ("recipe_function", "return_result", {"item": "{{step2.name}}"})], kind="callable")
    job = job_create(recipe=recipe, trigger_kind=Job.Trigger.CALL, trigger_data={}, run_as=builder)
    job_run(job.pk)
    text = page_text(client_for(builder).get(reverse("job_detail", args=[job.pk])))
    assert re.search(r"Job \d+\s+Succeeded", text), text
    assert re.search(r'Result\s+What the recipe\'s Return result step gave its caller.\s+\{\s+"item": "First item"',
                     text), text
    assert re.search(r"Run as\s*builder@example.com", text)


def test_a_jobs_page_refreshes_while_it_runs_and_stops_when_it_ends(client_for, recipe, builder):
    job = _jobs(recipe, 1, status=Job.Status.RUNNING, steps=1)[0]
    client, url = client_for(builder), reverse("job_detail", args=[job.pk])
    assert 'hx-trigger="every 2s"' in client.get(url).text
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="job-live"') and "<html" not in fragment.text
    assert f'hx-get="{url}"' in fragment.text and 'id="job-status">Running<' in fragment.text
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, finished_at=timezone.now())
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert "hx-trigger" not in fragment.text and 'id="job-status">Succeeded<' in fragment.text


def test_a_jobs_page_makes_as_many_queries_for_many_steps_as_for_two(client_for, recipe, builder,
                                                                     django_assert_max_num_queries):
    few_steps, many_steps = _jobs(recipe, 1, status=Job.Status.FAILED, steps=2)[0], \
        _jobs(recipe, 1, status=Job.Status.FAILED, steps=30)[0]
    connection = recipe.bindings.get().connection
    JobStep.objects.update(connection=connection, run_as=builder)
    client = client_for(builder)
    client.get(few_steps.get_absolute_url())
    with CaptureQueriesContext(db) as few:
        client.get(few_steps.get_absolute_url())
    with django_assert_max_num_queries(len(few)):
        text = client.get(many_steps.get_absolute_url()).text
    assert text.count(f">{connection.name}</a>") == 30


# --- re-running ----------------------------------------------------------------------------------


def test_a_rerun_resumes_at_the_failed_step_and_sends_no_completed_step_again(client_for, failed_job, builder,
                                                                             api_server):
    assert _posts(api_server) == 1 and _gets(api_server, NEW_ITEM_PATH) == 1
    api_server.clear_fault(NEW_ITEM_PATH)  # the app is fixed

    response = client_for(builder).post(reverse("job_rerun", args=[failed_job.pk]))
    rerun = Job.objects.get(rerun_of=failed_job)
    assert response.status_code == 302 and response["Location"] == rerun.get_absolute_url()
    assert _gets(api_server, "/api/me") >= 1  # its connection was tested first
    assert rerun.trigger_kind == Job.Trigger.RERUN and rerun.run_as == builder

    job_run(rerun.pk)
    rerun.refresh_from_db()
    assert rerun.status == Job.Status.SUCCEEDED, rerun.error
    assert _posts(api_server) == 1, "the completed step created its item again"
    assert _gets(api_server, NEW_ITEM_PATH) == 2
    assert rerun.steps.get(position=3).output["name"] == "Order of noon"

    text = page_text(client_for(builder).get(rerun.get_absolute_url()))
    assert re.search(rf"Job {rerun.pk}\s+Succeeded", text)
    assert re.search(rf"Trigger\s*Re-run of job {failed_job.pk}", text)
    assert "Job " + str(rerun.pk) + " started: a re-run of job" in text
    assert re.search(rf"Re-run as\s*job {rerun.pk} \(succeeded\)",
                     page_text(client_for(builder).get(failed_job.get_absolute_url())))


def test_a_rerun_from_the_start_runs_every_step_again(client_for, failed_job, builder, api_server):
    api_server.clear_fault(NEW_ITEM_PATH)
    client_for(builder).post(reverse("job_rerun", args=[failed_job.pk]), {"from_start": "1"})
    rerun = Job.objects.get(rerun_of=failed_job)
    job_run(rerun.pk)
    rerun.refresh_from_db()
    assert rerun.status == Job.Status.SUCCEEDED, rerun.error
    assert _posts(api_server) == 2
    assert rerun.steps.get(position=2).output["id"] == 4


def test_a_rerun_is_refused_when_a_connection_fails_its_test(client_for, failed_job, builder, api_server):
    api_server.clear_fault(NEW_ITEM_PATH)
    api_server.set_credentials(username="ada", password="changed-in-the-app")  # the password changed at the app
    connection = failed_job.recipe.bindings.get().connection

    response = client_for(builder).post(reverse("job_rerun", args=[failed_job.pk]))
    assert response.status_code == 200
    text = page_text(response)
    assert "Not re-run: 1 connection fails its test" in text and "No job was started." in text
    assert re.search(rf"{connection.name}\s+\(Loopback\)", text)
    assert "credentials" in text.split("Not re-run")[1].lower()
    assert "We recommend" in text.split("Not re-run")[1]
    assert f'href="{connection.get_absolute_url()}"' in response.text
    assert not Job.objects.filter(rerun_of=failed_job).exists()
    assert _posts(api_server) == 1
    assert api_server.password not in response.text


def test_a_second_rerun_waits_for_the_first(client_for, failed_job, builder, api_server):
    api_server.clear_fault(NEW_ITEM_PATH)
    client = client_for(builder)
    client.post(reverse("job_rerun", args=[failed_job.pk]))
    first = Job.objects.get(rerun_of=failed_job)
    response = client.post(reverse("job_rerun", args=[failed_job.pk]), follow=True)
    assert response.redirect_chain[-1][0] == first.get_absolute_url()
    assert f"Job {first.pk}, a re-run of job {failed_job.pk}, has not finished yet" in page_text(response)
    assert Job.objects.filter(rerun_of=failed_job).count() == 1


def test_only_a_failed_job_can_be_rerun(client_for, recipe, builder):
    job = _jobs(recipe, 1)[0]
    response = client_for(builder).post(reverse("job_rerun", args=[job.pk]), follow=True)
    assert "Only a failed job can be re-run: job" in page_text(response)
    assert not Job.objects.filter(rerun_of=job).exists()


# --- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth_method", ["basic", "bearer"])
def test_no_page_shows_a_connection_secret(client_for, running_recipe, credential_connection, api_server,  # noqa: F811
                                           builder, auth_method):
    """A step's input that holds the connection's password or API key, and a trigger record with a password field:
    the runner records them masked, and no jobs page renders the secret anywhere."""
    secret = api_server.password if auth_method == "basic" else api_server.api_key
    credentials = None if auth_method == "basic" else {"api_key": secret}
    connection, _ = credential_connection(auth_method, credentials)
    note = f"Note for {secret} at " + "{{trigger.scheduled_at}}"
    recipe = running_recipe([("scheduler", "every", {"minutes": "5"}), ("loopback", "create_item", {"name": note}),
                             ("loopback", "get_item", {"id": "{{step2.id}}"})], connection=connection)
    api_server.set_fault(404, NEW_ITEM_PATH)
    job = job_create(recipe=recipe, trigger_kind=Job.Trigger.WEBHOOK,
                     trigger_data={"scheduled_at": "noon", "password": secret, "nested": {"api_key": secret}})
    job_run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    # The app got the secret it was given (it is its own), the records did not keep it.
    assert any(secret in r["body"] for r in api_server.stats()["recent"] if r["method"] == "POST")
    records = json.dumps([job.trigger_data, job.error, job.result,
                          *JobStep.objects.filter(job=job).values_list("input", "output", "error")], ensure_ascii=False)
    assert secret not in records and MASK in records

    client = client_for(builder)
    pages = [client.get(url) for url in (job.get_absolute_url(), reverse("recipe_jobs", args=[recipe.pk]),
                                         reverse("project_jobs", args=[recipe.project_id]), reverse("job_list"))]
    pages.append(client.get(job.get_absolute_url(), headers={"HX-Request": "true"}))
    api_server.set_credentials(username="someone", password="else")  # the re-run's connection test fails
    pages.append(client.post(reverse("job_rerun", args=[job.pk])))
    assert "Not re-run" in pages[-1].text
    for response in pages:
        assert response.status_code == 200
        assert secret not in response.text, response.request["PATH_INFO"]
    detail = page_text(pages[0])
    assert f"Note for {MASK} at noon" in detail and f'"password": "{MASK}"' in detail

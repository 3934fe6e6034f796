"""The runner on real Celery workers: a job plays its steps in order with data pills and records each one; a
step that succeeded is never sent again (a worker killed mid-job and restarted, a redelivered message); two
deliveries of one job at once run it once (its lease); an early delivery does not cut a retry's wait short. And
what a callable job costs in database statements.

The worker here gives an app 30 s to answer (a test holds a request at the app, then kills the worker or sends
the job again meanwhile) and waits at most 5 s between attempts.
"""

from __future__ import annotations

import pytest
import requests
from django.conf import settings as django_settings

from recipes import services
from recipes.runtime.jobs import job_create, jobs_recover
from recipes.runtime.models import Job, JobStep
from recipes.runtime.runner import OUTCOME_UNKNOWN, job_run
from tests.recipes.runtime import workers
from tests.recipes.runtime.workers import move_back

pytestmark = pytest.mark.django_db(transaction=True)

jobs_worker, worker, own_queue = workers.jobs_worker, workers.worker, workers.own_queue
WORKER_ENV = {"SPLICE_HTTP_TIMEOUT": "30", "SPLICE_JOB_RETRY_MAX_DELAY": "5"}
SCHEDULE = ("scheduler", "every", {"minutes": "5"})
# Long enough for its lease (the task's time limit and a margin) and the recovery delay to have passed.
LEASE_AND_RECOVERY = django_settings.CELERY_TASK_TIME_LIMIT + 30 + django_settings.SPLICE_JOB_RECOVER_AFTER + 1


def started(recipe) -> Job:
    return job_create(recipe=recipe, trigger_kind=Job.Trigger.SCHEDULE, trigger_data={"scheduled_at": "noon"})


def finished(worker, job: Job) -> Job:
    return worker.wait_for(lambda: Job.objects.filter(pk=job.pk, status__in=Job.FINISHED).first(),
                           f"job {job.pk} to finish")


def requests_to(api_server, method: str, path: str) -> list[dict]:
    return [r for r in api_server.stats()["recent"] if r["method"] == method and r["path"] == path]


def items_named(api_server, name: str) -> int:
    listed = requests.get(api_server.items_url, auth=(api_server.username, api_server.password), timeout=5)
    return sum(1 for item in listed.json()["items"] if item["name"] == name)


def test_a_job_plays_its_steps_in_order_and_records_each(worker, running_recipe, api_server, builder):
    recipe = running_recipe([SCHEDULE, ("loopback", "create_item", {"name": "Lead at {{trigger.scheduled_at}}"}),
                             ("loopback", "get_item", {"id": "{{step2.id}}"})])
    connection = recipe.bindings.get().connection

    job = finished(worker, started(recipe))
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.started_at <= job.finished_at and job.duration_ms is not None
    assert (job.lease_owner, job.lease_until) == ("", None)
    created, read = job.steps.order_by("position")
    assert (created.position, created.name, created.input) == (2, "Create item", {"name": "Lead at noon"})
    assert created.output == {"id": 3, "name": "Lead at noon"}
    assert (read.input, read.output["name"]) == ({"id": 3}, "Lead at noon")
    for step in (created, read):
        assert (step.status, step.attempts, step.error) == (JobStep.Status.SUCCEEDED, 1, "")
        assert (step.connection, step.connection_name, step.run_as) == (connection, connection.name, builder)
        assert step.duration_ms is not None and step.started_at <= step.finished_at
    assert [r["body"] for r in requests_to(api_server, "POST", "/api/items")] == ['{"name": "Lead at noon"}']
    assert len(requests_to(api_server, "GET", "/api/items/3")) == 1

    # The same message delivered again once the job is done: nothing is sent, nothing recorded.
    seen = api_server.stats()["requests"]
    assert worker.run("splice.jobs.run", job.pk) is None
    assert api_server.stats()["requests"] == seen
    assert [step.attempts for step in job.steps.order_by("position")] == [1, 1]


@pytest.mark.parametrize("in_flight", ["safe", "unsafe"])
def test_a_worker_killed_mid_job_never_sends_a_completed_step_again(own_queue, running_recipe, api_server,
                                                                   in_flight):
    """Killed while the app holds a step's request. Restarted and recovered, the job resumes after its completed
    steps: a step safe to repeat (a GET) is sent again; one that is not (a POST) fails as an unknown outcome."""
    if in_flight == "safe":
        steps = [SCHEDULE, ("loopback", "create_item", {"name": "Made once"}),
                 ("loopback", "get_item", {"id": "{{step2.id}}"})]
        held = "/api/items/3"
    else:
        steps = [SCHEDULE, ("loopback", "get_item", {"id": "1"}), ("loopback", "create_item", {"name": "Made once"})]
        held = "/api/items"
    recipe = running_recipe(steps)
    api_server.set_fault("hang", held, hang_seconds=30)

    with own_queue.started(pool="solo", SPLICE_HTTP_TIMEOUT="30"):
        job = started(recipe)
        api_server.wait_for_requests(held)
        own_queue.process.kill()
        assert own_queue.died() == -9
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    assert [s.status for s in job.steps.order_by("position")] == [JobStep.Status.SUCCEEDED, JobStep.Status.RUNNING]
    api_server.clear_fault(held)  # the app goes on with the request it held

    with own_queue.started():
        move_back(job, LEASE_AND_RECOVERY)
        assert jobs_recover() == 1
        job = finished(own_queue, job)
    first, second = job.steps.order_by("position")
    assert first.attempts == 1  # never sent again
    api_server.control("GET", "wait", params={"path": "/api/items", "count": 1, "served": 1})
    assert len(requests_to(api_server, "POST", "/api/items")) == 1
    assert items_named(api_server, "Made once") == 1
    if in_flight == "safe":
        assert job.status == Job.Status.SUCCEEDED, job.error
        assert (second.status, second.attempts) == (JobStep.Status.SUCCEEDED, 2)
        assert len(requests_to(api_server, "GET", held)) == 2
    else:
        assert (job.status, job.error_code) == (Job.Status.FAILED, "outcome_unknown")
        assert OUTCOME_UNKNOWN in job.error and second.status == JobStep.Status.FAILED


def test_two_deliveries_of_one_job_at_once_run_it_once(worker, running_recipe, api_server):
    recipe = running_recipe([SCHEDULE, ("loopback", "create_item_once", {"name": "Once"})])
    api_server.set_fault("hang", "/api/items", hang_seconds=30)
    job = started(recipe)
    api_server.wait_for_requests("/api/items")  # the first delivery's step is at the app

    assert worker.run("splice.jobs.run", job.pk) is None  # a second delivery meanwhile: the lease is held
    held = Job.objects.get(pk=job.pk)
    assert held.status == Job.Status.RUNNING and held.lease_owner
    assert len(requests_to(api_server, "POST", "/api/items")) == 1

    api_server.clear_fault("/api/items")
    job = finished(worker, job)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.steps.get().attempts == 1
    assert len(requests_to(api_server, "POST", "/api/items")) == 1 and items_named(api_server, "Once") == 1


def test_an_early_delivery_does_not_cut_a_retry_short(worker, running_recipe, api_server):
    recipe = running_recipe([SCHEDULE, ("loopback", "create_item_once", {"name": "After the wait"})])
    api_server.set_fault("429", "/api/items", times=1, retry_after=3)
    job = started(recipe)
    step = worker.wait_for(lambda: JobStep.objects.filter(job=job, status=JobStep.Status.RETRYING).first(),
                           "the first attempt to be refused")

    assert worker.run("splice.jobs.run", job.pk) is None  # delivered again during the wait (a recovery)
    assert JobStep.objects.get(pk=step.pk).attempts == 1
    assert len(requests_to(api_server, "POST", "/api/items")) == 1

    job = finished(worker, job)
    assert job.status == Job.Status.SUCCEEDED, job.error
    first, second = requests_to(api_server, "POST", "/api/items")
    assert second["at"] - first["at"] >= 3
    assert JobStep.objects.get(pk=step.pk).attempts == 2


def test_a_callable_job_costs_nine_statements(own_queue, running_recipe, builder, api_server,
                                              django_assert_num_queries, django_assert_max_num_queries):
    """The hot path of a callable recipe (one Basic-auth GET, then Return result), run here: claim, read the job,
    the custom connectors' stamp, the steps, the bindings, the step's record, its result, Return result's record,
    the job's end. Making the job is one INSERT."""
    recipe = running_recipe([("recipe_function", "new_call", {}), ("loopback", "get_item", {"id": "{{trigger.id}}"}),
                             ("recipe_function", "return_result", {"item": "{{step2.name}}"})],
                            kind="callable", start=False)
    services.recipe_set_call_fields(recipe=recipe, fields=[{"name": "id", "type": "string", "required": True}],
                                    acting_user=builder)
    services.recipe_start(recipe=recipe, acting_user=builder)
    job_run(job_create(recipe=recipe, trigger_kind=Job.Trigger.CALL, trigger_data={"id": "1"}, run_as=builder).pk)

    with django_assert_num_queries(1):
        job = job_create(recipe=recipe, trigger_kind=Job.Trigger.CALL, trigger_data={"id": "2"}, run_as=builder)
    with django_assert_max_num_queries(9):
        assert job_run(job.pk).retry_in is None
    job.refresh_from_db()
    assert (job.status, job.result) == (Job.Status.SUCCEEDED, {"item": "Second item"})


def test_a_runtime_user_step_runs_on_the_callers_own_connection(own_queue, running_recipe, credential_connection,
                                                                builder, make_user, api_server):
    """Never on the recipe's: without a connection of their own, the caller's job stops and says so."""
    from connections.models import Connection

    recipe = running_recipe([("recipe_function", "new_call", {}), ("loopback", "get_item", {"id": "1"})],
                            kind="callable", start=False)
    binding = recipe.bindings.get()
    services.binding_set_runtime_user(binding=binding, runtime_user=True, acting_user=builder)
    services.recipe_start(recipe=recipe, acting_user=builder)
    caller = make_user("Operator")
    sent = api_server.stats()["requests"]

    job = job_create(recipe=recipe, trigger_kind=Job.Trigger.CALL, trigger_data={}, run_as=caller)
    job_run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "runtime_user_missing")
    assert job.error.startswith("Connect your Loopback account to run this recipe.")
    assert job.action_url.startswith("/connect/") and caller.email in job.recommendations[0]
    assert api_server.stats()["requests"] == sent  # the recipe's own connection was not used instead

    own, _ = credential_connection("basic", name="The caller's own")
    Connection.objects.filter(pk=own.pk).update(owner=caller, parent=binding.connection)
    job = job_create(recipe=recipe, trigger_kind=Job.Trigger.CALL, trigger_data={}, run_as=caller)
    job_run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    step = job.steps.get()
    assert (step.connection_id, step.connection_name, step.run_as) == (own.pk, "The caller's own", caller)

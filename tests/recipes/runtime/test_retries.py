"""What a job does when its app fails, on a real worker against the API test server: passing failures (500, 429
with Retry-After, a timeout) are retried with the same idempotency key and create one record; a timeout after
sending an action that is not safe to repeat is "outcome unknown"; 401 and 403 fail the job with the seed's
recommendations and mark the connection, so its recipes show the design-time error.

The worker times a request out after 1 s and waits at most 2 s between attempts (WORKER_SETTINGS).
"""

from __future__ import annotations

import pytest
import requests
from django.conf import settings as django_settings
from django.urls import reverse

from connections.models import Connection, ConnectionCheck
from connections.problems import SEED_RECOMMENDATIONS
from recipes.runtime.jobs import job_create
from recipes.runtime.models import Job, JobStep
from recipes.runtime.runner import OUTCOME_UNKNOWN, retry_ceiling, retry_delay
from tests.recipes.runtime import workers
from tests.recipes.runtime.workers import WORKER_HTTP_TIMEOUT, WORKER_SETTINGS

jobs_worker, worker = workers.jobs_worker, workers.worker
MAX_DELAY = float(WORKER_SETTINGS["SPLICE_JOB_RETRY_MAX_DELAY"])


def create_once(name: str = "Exactly once"):
    return [("scheduler", "every", {"minutes": "5"}), ("loopback", "create_item_once", {"name": name})]


def started(recipe) -> Job:
    return job_create(recipe=recipe, trigger_kind=Job.Trigger.SCHEDULE, trigger_data={"scheduled_at": "noon"})


def finished(worker, job: Job) -> Job:
    return worker.wait_for(lambda: Job.objects.filter(pk=job.pk, status__in=Job.FINISHED).first(),
                           f"job {job.pk} to finish")


def posts(api_server) -> list[dict]:
    return [r for r in api_server.stats()["recent"] if r["method"] == "POST" and r["path"] == "/api/items"]


def items_named(api_server, name: str) -> int:
    listed = requests.get(api_server.items_url, auth=(api_server.username, api_server.password), timeout=5)
    return sum(1 for item in listed.json()["items"] if item["name"] == name)


# --- passing failures ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", ["500", "429", "hang"])
def test_a_passing_failure_is_retried_and_creates_one_record(worker, running_recipe, api_server, fault):
    recipe = running_recipe(create_once())
    # "hang": the app holds the request past the worker's timeout, then still creates the item.
    api_server.set_fault(fault, "/api/items", times=1, retry_after=1, hang_seconds=WORKER_HTTP_TIMEOUT + 0.5)

    job = finished(worker, started(recipe))
    assert job.status == Job.Status.SUCCEEDED, job.error
    step = job.steps.get()
    assert (step.status, step.attempts, step.error) == (JobStep.Status.SUCCEEDED, 2, "")
    api_server.control("GET", "wait", params={"path": "/api/items", "count": 2, "served": 1})  # the hung one too
    sent = posts(api_server)
    assert len(sent) == 2
    keys = {request["headers"]["Idempotency-Key"] for request in sent}
    assert keys == {step.idempotency_key} and len(step.idempotency_key) == 32  # the same key on each attempt
    assert items_named(api_server, "Exactly once") == 1
    if fault == "429":
        assert sent[1]["at"] - sent[0]["at"] >= 1  # Retry-After: 1 was honoured


@pytest.mark.django_db(transaction=True)
def test_retry_after_is_clamped_to_the_longest_delay(worker, running_recipe, api_server):
    recipe = running_recipe(create_once())
    api_server.set_fault("429", "/api/items", times=1, retry_after=3600)

    job = finished(worker, started(recipe))
    assert job.status == Job.Status.SUCCEEDED, job.error
    first, second = posts(api_server)
    assert MAX_DELAY - 0.1 <= second["at"] - first["at"] < MAX_DELAY + 5  # not an hour


@pytest.mark.django_db(transaction=True)
def test_a_step_that_keeps_failing_stops_after_its_retry_limit(worker, running_recipe, api_server):
    recipe = running_recipe(create_once())
    assert recipe.retry_limit == 3  # the default
    api_server.set_fault("503", "/api/items")

    job = finished(worker, started(recipe))
    assert (job.status, job.error_code) == (Job.Status.FAILED, "transient")
    assert "Tried 4 times" in job.error
    assert job.steps.get().attempts == 4 and len(posts(api_server)) == 4
    api_server.clear_fault("/api/items")
    assert items_named(api_server, "Exactly once") == 0


@pytest.mark.django_db(transaction=True)
def test_a_timeout_after_sending_an_unsafe_action_is_an_unknown_outcome(worker, running_recipe, api_server):
    recipe = running_recipe([("scheduler", "every", {"minutes": "5"}), ("loopback", "create_item", {"name": "Maybe"})])
    api_server.set_fault("hang", "/api/items", times=1, hang_seconds=WORKER_HTTP_TIMEOUT + 0.5)

    job = finished(worker, started(recipe))
    assert (job.status, job.error_code) == (Job.Status.FAILED, "outcome_unknown")
    assert OUTCOME_UNKNOWN in job.error
    step = job.steps.get()
    assert (step.status, step.attempts, step.error_code) == (JobStep.Status.FAILED, 1, "outcome_unknown")
    api_server.control("GET", "wait", params={"path": "/api/items", "count": 1, "served": 1})
    # The app did act on it: sending it again would have made a second item.
    assert len(posts(api_server)) == 1 and items_named(api_server, "Maybe") == 1


# --- the app refuses the connection --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_step_answered_401_fails_the_job_and_marks_the_connection(worker, running_recipe, api_server,
                                                                    client_for, builder):
    recipe = running_recipe(create_once(), name="Copy orders")
    connection = recipe.bindings.get().connection
    api_server.set_credentials(username=api_server.username, password="changed-in-the-app")

    job = finished(worker, started(recipe))
    assert (job.status, job.error_code) == (Job.Status.FAILED, "credentials_invalid")
    assert f"{connection.name}: credentials changed or revoked" in job.error
    assert job.recommendations == SEED_RECOMMENDATIONS and len(SEED_RECOMMENDATIONS) == 3
    assert job.steps.get().attempts == 1  # not retried

    connection.refresh_from_db()
    assert (connection.status, connection.error_reason) == (Connection.Status.ERROR,
                                                            Connection.ErrorReason.CREDENTIALS_INVALID)
    check = ConnectionCheck.objects.filter(connection=connection).latest("pk")
    assert (check.source, check.status_code) == (ConnectionCheck.Source.JOB, 401)
    editor = client_for(builder).get(reverse("recipe_editor", args=[recipe.pk])).content.decode()
    assert "design-time error" in editor
    assert f"connection “{connection.name}”: Credentials changed or revoked" in editor
    assert reverse("connection_authorize", args=[connection.pk]) in editor  # Re-authorize


@pytest.mark.django_db(transaction=True)
def test_a_step_answered_403_fails_the_job_with_insufficient_permissions(worker, running_recipe, api_server):
    recipe = running_recipe(create_once())
    connection = recipe.bindings.get().connection
    api_server.set_fault("403", "/api/items")

    job = finished(worker, started(recipe))
    assert (job.status, job.error_code) == (Job.Status.FAILED, "insufficient_permissions")
    assert f"{connection.name}: insufficient permissions" in job.error
    assert job.recommendations == SEED_RECOMMENDATIONS
    connection.refresh_from_db()
    assert (connection.status, connection.error_reason) == (Connection.Status.ERROR,
                                                            Connection.ErrorReason.INSUFFICIENT_PERMISSIONS)


# --- the delays ----------------------------------------------------------------------------------


def test_every_countdown_stays_below_the_brokers_visibility_timeout(settings):
    """A message not acknowledged within the visibility timeout is delivered again: a retry waiting longer
    would run its job twice. The settings keep the longest delay well below it, and the runner never waits
    longer than half of it whatever they say."""
    visibility = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    if visibility is not None:  # Redis (CI); the embedded transport redelivers nothing
        assert django_settings.SPLICE_JOB_RETRY_MAX_DELAY < visibility / 2
        settings.SPLICE_JOB_RETRY_MAX_DELAY = visibility * 10  # misconfigured
        assert retry_ceiling() == visibility / 2
        assert retry_delay(1, retry_after=visibility * 5) == visibility / 2


def test_backoff_grows_with_jitter_and_honours_retry_after(settings):
    settings.SPLICE_JOB_RETRY_BASE_DELAY, settings.SPLICE_JOB_RETRY_MAX_DELAY = 2.0, 300.0
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (10, 300)]:
        delays = {retry_delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays) and len(delays) > 1
    assert retry_delay(1, retry_after=30) == 30
    assert retry_delay(1, retry_after=0) == 2.0  # never sooner than the base delay
    assert retry_delay(1, retry_after=7200) == 300.0

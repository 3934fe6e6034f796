"""No secret leaves the vault except toward its app: not into a job's records (trigger data, step inputs and
outputs, errors), not into the task messages the broker carries, not into a log.

The recipe polls a feed whose new record quotes secrets (a connection's password and API key in its text, a
token and an API secret in its fields), copies it with a password typed into a step's input and a JSON body with
a "password" field, meets a 429 (so a retry message is sent with a countdown) and ends on a 403. The app gets
what it was sent; nobody else does.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pytest
from celery import current_app

from connections import services as connection_services
from connections.catalog.app_slot import AppSlot
from recipes import services
from recipes import tasks as runtime_tasks
from recipes.runtime.models import Job, JobStep, TriggerState
from tests.recipes.runtime import workers

pytestmark = pytest.mark.django_db(transaction=True)

jobs_worker, worker, own_queue = workers.jobs_worker, workers.worker, workers.own_queue

FEED_KEY, FEED_SECRET, SIGNING_SECRET = "feed-key-5b1e2c9d7a", "feed-secret-88f0c1d2e3", "whsec-signing-a1b2c3d4"
TYPED_PASSWORD, RECORD_TOKEN, RECORD_SECRET = "typed-password-9x8y7z", "tok-record-7c6d5e4f", "s3cr3t-in-the-record"
COPIED_ITEM = 6  # made by the last create step: 1-2 are the app's, 3 the record, 4-5 the first copies


@pytest.fixture
def secret_recipe(make_recipe, credential_connection, project, builder, api_server):
    """(recipe, every secret it may meet): the feed on an API key + secret connection (with a sealed signing
    secret), copies on a Basic-auth connection."""
    api_server.set_credentials({"username": api_server.username, "password": api_server.password},
                               {"api_key": FEED_KEY, "api_secret": FEED_SECRET})
    feed = connection_services.connection_create(project=project, connector_key="loopback_poll", name="Secret feed",
                                                 acting_user=builder, auth_method="header_key",
                                                 settings_values={"base_url": api_server.base_url})
    assert connection_services.connection_set_credentials(
        connection=feed, acting_user=builder, credentials={"api_key": FEED_KEY, "api_secret": FEED_SECRET},
        secret_settings={"signing_secret": SIGNING_SECRET}).ok
    basic, _ = credential_connection("basic")
    body = json.dumps({"name": "{{trigger.name}}", "password": TYPED_PASSWORD, "note": f"key {FEED_KEY}"})
    recipe = make_recipe("Copy records", steps=[
        ("loopback_poll", "new_record", {}),
        ("loopback", "create_item", {"name": f"From {{{{trigger.name}}}}, password {api_server.password}"}),
        ("loopback", "make_request", {"method": "POST", "path": "/api/items", "body": body}),
        ("loopback_poll", "create_item_once", {"name": "{{step2.name}}"}),
        ("loopback", "get_item", {"id": "{{step4.id}}"}),
    ])
    services.binding_set(recipe=recipe, app=AppSlot("loopback_poll"), connection=feed, acting_user=builder)
    services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=basic, acting_user=builder)
    api_server.set_fault("429", "/api/items", times=1, retry_after=0)  # the first copy waits to retry
    api_server.set_fault("403", f"/api/items/{COPIED_ITEM}")  # and the job ends on a refusal
    secrets = [api_server.password, FEED_KEY, FEED_SECRET, SIGNING_SECRET, TYPED_PASSWORD, RECORD_TOKEN,
               RECORD_SECRET]
    return recipe, secrets


def new_record(api_server) -> dict:
    return api_server.control("POST", "items", json={
        "name": f"Record quoting {api_server.password} and {FEED_KEY}", "token": RECORD_TOKEN,
        "api_secret": RECORD_SECRET})


def job_records(recipe) -> str:
    """Everything the recipe's jobs and steps keep, as text."""
    jobs = list(Job.objects.filter(recipe=recipe).values())
    steps = list(JobStep.objects.filter(job__recipe=recipe).values())
    return json.dumps([jobs, steps], default=str, ensure_ascii=False)


def leaked(secrets: list[str], text: str) -> list[str]:
    return [secret for secret in secrets if secret in text]


def check_the_job(recipe, api_server, secrets) -> Job:
    job = Job.objects.get(recipe=recipe)
    assert (job.status, job.error_code) == (Job.Status.FAILED, "insufficient_permissions"), job.error
    steps = list(job.steps.order_by("position"))
    assert [s.status for s in steps] == ["succeeded", "succeeded", "succeeded", "failed"]
    assert steps[0].attempts == 2  # it met the 429 and waited
    assert job.trigger_data["token"] == job.trigger_data["api_secret"] == "••••••"
    assert job.trigger_data["name"] == "Record quoting •••••• and ••••••"
    assert steps[1].input["body"]["password"] == steps[1].output["body"]["password"] == "••••••"
    # The apps got what they were sent (their own secrets and what the steps carry).
    sent = json.dumps([r["body"] for r in api_server.stats()["recent"]])
    assert TYPED_PASSWORD in sent and api_server.password in sent
    assert leaked(secrets, job_records(recipe)) == []
    return job


def test_no_secret_in_job_records_or_the_worker_log(worker, secret_recipe, api_server, builder):
    recipe, secrets = secret_recipe
    services.recipe_start(recipe=recipe, acting_user=builder)
    worker.wait_for(lambda: TriggerState.objects.filter(recipe=recipe, primed=True).exists(), "the first poll")
    new_record(api_server)
    assert worker.run("splice.triggers.poll", recipe.pk) == 1
    worker.wait_for(lambda: Job.objects.filter(recipe=recipe, status__in=Job.FINISHED).exists(), "the job")

    check_the_job(recipe, api_server, secrets)
    log = (workers.ROOT / "var" / f"{worker.queue}.log").read_text()
    assert "splice.jobs.run" in log and "succeeded" in log  # the worker logs its tasks
    assert leaked(secrets, log) == []


def test_no_secret_in_task_messages_or_this_processs_logs(own_queue, secret_recipe, api_server, builder, caplog,
                                                          settings):
    """The broker's messages are read back with kombu and run here one by one (as a worker would, at their ETA),
    so every message the runtime sends, a retry's too, is seen as the broker got it."""
    settings.SPLICE_JOB_RETRY_BASE_DELAY = settings.SPLICE_JOB_RETRY_MAX_DELAY = 0.1
    caplog.set_level(logging.DEBUG)
    recipe, secrets = secret_recipe
    services.recipe_start(recipe=recipe, acting_user=builder)  # sends its first poll
    tasks = {task.name: task for task in (runtime_tasks.trigger_poll_task, runtime_tasks.job_run_task)}
    messages = []
    with current_app.connection_for_read() as connection:
        queue = connection.SimpleQueue(own_queue.queue)

        def run_next() -> None:
            message = queue.get(block=True, timeout=10)
            message.ack()
            messages.append(message)
            if eta := message.headers.get("eta"):  # a worker holds a message until then
                due = datetime.fromisoformat(eta)
                due = due if due.tzinfo else due.replace(tzinfo=UTC)
                time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            args, kwargs, _ = message.payload
            tasks[message.headers["task"]].apply(args=args, kwargs=kwargs)

        run_next()  # the first poll
        new_record(api_server)
        current_app.send_task("splice.triggers.poll", args=[recipe.pk], queue=own_queue.queue)  # beat's tick
        while not Job.objects.filter(recipe=recipe, status__in=Job.FINISHED).exists():
            run_next()
        queue.close()

    check_the_job(recipe, api_server, secrets)
    tasks = [message.headers["task"] for message in messages]
    assert tasks == ["splice.triggers.poll", "splice.triggers.poll", "splice.jobs.run", "splice.jobs.run"]
    assert messages[-1].headers["eta"]  # the retry, with its countdown
    for message in messages:
        args, kwargs, _ = message.payload
        assert all(isinstance(arg, int) for arg in args) and kwargs == {}, message.payload
        assert leaked(secrets, message.body if isinstance(message.body, str) else message.body.decode()) == []
        assert leaked(secrets, json.dumps(message.headers, default=str)) == []
    assert "failed at step 5: insufficient_permissions" in caplog.text  # the runner does log
    assert leaked(secrets, caplog.text) == []

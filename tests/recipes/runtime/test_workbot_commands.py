"""Workbot commands run for real: Slack's signed request through Django's test client, the job on a real Celery
worker against the API test server, and the answer posted by the worker to a response_url served by this test on
127.0.0.1 (a small HTTP server that records what it receives), through Splice's egress path."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from connections.catalog.app_slot import AppSlot
from recipes import services
from recipes.models import ChatCommand, Recipe
from recipes.runtime.models import Job, JobStep
from recipes.workbot import services as workbot
from tests.conftest import ROOT
from tests.recipes.runtime import workers
from tests.recipes.runtime.test_workbot_endpoint import SECRET, SLACK_USER, TEAM, command_body, post

jobs_worker, worker = workers.jobs_worker, workers.worker

SLACK_TOKEN = "xoxb-like-response-token-7f3a9c"  # the response_url's secret part
STEPS = [
    ("workbot", "new_command", {"command": "/item", "arguments": "id [note]"}),
    ("loopback", "get_item", {"id": "{{trigger.id}}"}),
    ("workbot", "return_result",
     {"text": "Item {{step2.name}} for {{trigger.person.email}}: {{trigger.note}} <!here>"}),
]


class ResponseURL:
    """Slack's end of a response_url: records each POST (path and JSON body) and answers 200 "ok"."""

    def __init__(self) -> None:
        self.received: queue.Queue = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.put({"path": self.path, "content_type": self.headers.get("Content-Type"),
                              "body": json.loads(body)})
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/commands/{TEAM}/123/{SLACK_TOKEN}"

    def next(self, timeout: float = 60) -> dict:
        return self.received.get(timeout=timeout)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def response_url():
    server = ResponseURL()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def signing_secret(settings):
    settings.SPLICE_SLACK_SIGNING_SECRET = SECRET


@pytest.fixture
def workbot_recipe(running_recipe, builder):
    def make(*, runtime_user: bool = False):
        recipe = running_recipe(STEPS, kind=Recipe.Kind.WORKBOT, name="Look up an item", start=False)
        if runtime_user:
            binding = recipe.bindings.get(**AppSlot("loopback").lookup())
            services.binding_set_runtime_user(binding=binding, runtime_user=True, acting_user=builder)
        services.recipe_start(recipe=recipe, acting_user=builder)
        recipe.refresh_from_db()
        return recipe

    return make


@pytest.fixture
def rep(make_user, project, builder):
    """A sales rep who may run the project's recipes, their Slack account linked to them."""
    from accounts import services as account_services
    from accounts.models import ProjectAccess

    person = make_user("Operator", email="rep@example.com")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=person)
    workbot.chat_user_link(provider="slack", team_id=TEAM, chat_user_id=SLACK_USER, user=person, acting_user=builder)
    return person


def finished(worker, job_id: int) -> Job:
    return worker.wait_for(lambda: Job.objects.filter(pk=job_id, status__in=Job.FINISHED).first(),
                           f"job {job_id} to finish")


@pytest.mark.django_db(transaction=True)
def test_a_signed_command_runs_as_the_linked_person_and_posts_the_reply(client, worker, api_server, response_url,
                                                                       workbot_recipe, rep):
    recipe = workbot_recipe()
    api_server.set_fault("hang", "/api/items/1", hang_seconds=1.5, times=1)  # the job surely outlives the answer
    started = time.monotonic()
    response = post(client, command_body("1 for the review", response_url=response_url.url))
    assert time.monotonic() - started < 3, "Slack waits 3 seconds at most"
    assert response.status_code == 200
    assert response.json() == {"response_type": "ephemeral",
                               "text": "Running “Look up an item” as rep@example.com… You will get its answer here."}
    job = Job.objects.get(recipe=recipe)
    assert not job.finished

    posted = response_url.next()
    assert posted["path"] == f"/commands/{TEAM}/123/{SLACK_TOKEN}"
    assert posted["content_type"] == "application/json"
    assert posted["body"] == {"response_type": "ephemeral", "replace_original": False,
                              "text": "Item First item for rep@example.com: for the review &lt;!here&gt;"}
    job = finished(worker, job.pk)
    assert job.status == Job.Status.SUCCEEDED and job.run_as == rep
    assert job.trigger_kind == Job.Trigger.WORKBOT
    command = worker.wait_for(lambda: ChatCommand.objects.filter(job=job, reply=ChatCommand.Reply.SENT).first(),
                              "the answer to be recorded as posted")
    assert command.response_url == "" and command.replied_at is not None
    assert api_server.last_request()["path"] == "/api/items/1"


@pytest.mark.django_db(transaction=True)
def test_a_person_without_their_own_account_gets_the_connect_link_only_they_see(
        client, worker, api_server, response_url, workbot_recipe, rep, settings):
    workbot_recipe(runtime_user=True)
    post(client, command_body("1", response_url=response_url.url))
    posted = response_url.next()["body"]
    job = finished(worker, Job.objects.get().pk)
    assert job.status == Job.Status.FAILED and job.error_code == "runtime_user_missing" and job.action_url
    assert posted["response_type"] == "ephemeral"
    app = AppSlot("loopback").label
    link = f"<{settings.SPLICE_BASE_URL}{job.action_url}|Connect your {app} account>"
    assert posted["text"] == (f"“Look up an item” acts as you in {app}, with your own account. {link}, then "
                              "repeat the command.")
    assert job.action_url.startswith("/connect/")
    assert JobStep.objects.filter(job=job, status=JobStep.Status.SUCCEEDED).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_failed_job_posts_its_error(client, worker, api_server, response_url, workbot_recipe, rep):
    workbot_recipe()
    post(client, command_body("404", response_url=response_url.url))
    text = response_url.next()["body"]["text"]
    job = finished(worker, Job.objects.get().pk)
    assert job.status == Job.Status.FAILED
    assert text.startswith("“Look up an item” failed: ") and f"|job {job.pk}>)" in text


@pytest.mark.django_db(transaction=True)
def test_no_secret_reaches_job_records_task_arguments_or_logs(client, worker, api_server, response_url,
                                                               workbot_recipe, rep, caplog):
    from celery.signals import before_task_publish

    from recipes.runtime.waiting import job_finished_notify

    workbot_recipe()
    caplog.set_level(logging.DEBUG)
    post(client, command_body("1 hello", response_url=response_url.url))
    response_url.next()
    job = finished(worker, Job.objects.get().pk)

    published = []

    def keep(body=None, headers=None, **kwargs):
        published.append((headers or {}).get("task"))
        published.append(json.dumps(body, default=str))

    before_task_publish.connect(keep, weak=False)
    try:
        job_finished_notify(job.pk, trigger_kind=Job.Trigger.WORKBOT)  # as the runner sends it
    finally:
        before_task_publish.disconnect(keep)
    assert published[0] == "splice.workbot.reply" and json.loads(published[1])[0] == [job.pk]

    password = api_server.password
    records = json.dumps([list(Job.objects.values()), list(JobStep.objects.values())], default=str)
    worker_log = Path(ROOT / "var" / f"{worker.queue}.log").read_text()
    for secret in (SECRET, SLACK_TOKEN, password):
        assert secret not in records
        assert secret not in caplog.text
        assert secret not in worker_log
        assert all(secret not in item for item in published)


@pytest.mark.django_db(transaction=True)
def test_recover_lost_jobs_posts_an_answer_whose_task_was_lost_and_gives_up_the_expired(
        worker, response_url, workbot_recipe, rep, settings):
    """A worker that stopped after the job's end but before its answer's task ran leaves the command waiting; the
    minute's "Recover lost jobs" posts it, once. Past Slack's 30 minutes nothing is posted, and the response_url is
    forgotten."""
    from datetime import timedelta

    from django.utils import timezone

    recipe = workbot_recipe()
    now = timezone.now()

    def command(*, minutes_ago: float, reply=ChatCommand.Reply.PENDING) -> ChatCommand:
        began = now - timedelta(minutes=minutes_ago)
        job = Job.objects.create(recipe=recipe, trigger_kind=Job.Trigger.WORKBOT, run_as=rep,
                                 status=Job.Status.SUCCEEDED, result={"text": f"Answer of {minutes_ago} min ago"},
                                 created_at=began, started_at=began, finished_at=began)
        return ChatCommand.objects.create(job=job, command="/item", response_url=response_url.url, reply=reply)

    settings.SPLICE_JOB_RECOVER_AFTER = 120  # as the worker has it (its default)
    lost = command(minutes_ago=3)
    just_finished = command(minutes_ago=0.5)  # its task may still be on its way: not sent twice
    expired = command(minutes_ago=31)
    cut_off = command(minutes_ago=31, reply=ChatCommand.Reply.SENDING)

    worker.run("splice.jobs.recover")
    posted = response_url.next()["body"]
    assert posted["text"] == "Answer of 3 min ago"
    worker.wait_for(lambda: ChatCommand.objects.filter(pk=lost.pk, reply=ChatCommand.Reply.SENT).exists(),
                    "the lost answer to be recorded as posted")
    assert worker.run("splice.jobs.recover") == 0  # nothing left to send again
    assert response_url.received.empty()

    just_finished.refresh_from_db()
    assert just_finished.reply == ChatCommand.Reply.PENDING and just_finished.response_url
    for gone, why in ((expired, "not sent within the 30 minutes"), (cut_off, "it may have arrived")):
        gone.refresh_from_db()
        assert gone.reply == ChatCommand.Reply.FAILED and why in gone.reply_error
        assert gone.response_url == ""

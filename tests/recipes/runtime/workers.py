"""Real Celery workers and a real beat for the runtime's tests, each on a queue of its own.

A worker is started like a deployment's (tests.conftest.celery_worker), with the runtime's queue pointed at a
private one, a short HTTP timeout and short retry delays, and tells the test as each task ends (TaskEvents), so
a test waits for what a task did without polling. This process sends its jobs and triggers to the same queue
(`settings.SPLICE_JOBS_QUEUE`), as a web process of that deployment would.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import ROOT, TaskEvents, celery_worker, subprocess_env

DEADLINE = 60
WORKER_HTTP_TIMEOUT = 1.0  # seconds: an app that hangs times out quickly in the worker
WORKER_SETTINGS = {
    "SPLICE_HTTP_TIMEOUT": str(WORKER_HTTP_TIMEOUT),
    "SPLICE_JOB_RETRY_BASE_DELAY": "0.05",
    "SPLICE_JOB_RETRY_MAX_DELAY": "2",
}


@dataclass
class Worker:
    queue: str
    events: TaskEvents
    process: subprocess.Popen | None = None

    def wait_for(self, condition, what: str, deadline: float = DEADLINE):
        """`condition()`'s value once it is truthy, checked again as each of the worker's tasks ends."""
        return self.events.wait_for(condition, what, deadline)

    def send(self, task: str, *args) -> None:
        """Send a task by name to this worker's queue, as beat or a web process would."""
        from celery import current_app

        current_app.send_task(task, args=list(args), queue=self.queue)

    def run(self, task: str, *args, timeout: float = DEADLINE):
        """Send a task and wait until the worker has run it (its result, through the result backend)."""
        from celery import current_app

        return current_app.send_task(task, args=list(args), queue=self.queue, ignore_result=False).get(timeout=timeout)

    def purge(self) -> None:
        """Drop the messages waiting in the queue (sent while no worker was up)."""
        from celery import current_app

        with current_app.connection_for_write() as connection:
            connection.default_channel.queue_purge(self.queue)

    def died(self, timeout: float = DEADLINE) -> int:
        """Wait for the worker process to end; its exit code (-9: it was killed)."""
        return self.process.wait(timeout=timeout)

    @contextmanager
    def started(self, **env: str):
        """Run a worker process on this queue (with extra settings `env`) for the block."""
        pool = env.pop("pool", "threads")
        settings = {"SPLICE_JOBS_QUEUE": self.queue, "SPLICE_TEST_TASK_EVENTS": self.events.path,
                    **WORKER_SETTINGS, **env}
        with celery_worker(self.queue, pool=pool, concurrency=4, **settings) as process:
            self.process = process
            yield self


def new_queue(kind: str = "jobs") -> str:
    return f"splice-{kind}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def jobs_worker(request, django_db_setup):
    """A worker for the module's tests (4 threads, so two deliveries of one job can meet), with the module's
    WORKER_ENV settings if it has any."""
    folder = Path(tempfile.mkdtemp(prefix="splice-"))
    events = TaskEvents(folder)
    try:
        with Worker(new_queue(), events).started(**getattr(request.module, "WORKER_ENV", {})) as worker:
            yield worker
    finally:
        events.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def worker(jobs_worker, settings, api_server):
    """The module's worker, with this process sending jobs and triggers to its queue."""
    settings.SPLICE_JOBS_QUEUE = jobs_worker.queue
    return jobs_worker


@pytest.fixture
def own_queue(settings, api_server):
    """A queue no worker consumes yet, this process sending to it: the test starts (and kills) its workers."""
    folder = Path(tempfile.mkdtemp(prefix="splice-"))  # short: a socket's path has at most 107 bytes
    events = TaskEvents(folder)
    settings.SPLICE_JOBS_QUEUE = new_queue("own")
    try:
        yield Worker(settings.SPLICE_JOBS_QUEUE, events)
    finally:
        events.close()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def celery_beat(queue: str):
    """A real `celery beat` with django-celery-beat's DatabaseScheduler (as Procfile.dev runs it), reading the
    schedule every second; its log is var/<queue>-beat.log. Stopped by its pid."""
    from django_celery_beat.models import PeriodicTask

    # Only the recipes' periodic tasks: the health sweep and the runtime's upkeep tick on their own schedule.
    PeriodicTask.objects.exclude(name__startswith="Recipe ").delete()
    log = open(ROOT / "var" / f"{queue}-beat.log", "w+")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--scheduler",
         "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1", "--loglevel", "INFO"],
        cwd=ROOT, env=subprocess_env(SPLICE_JOBS_QUEUE=queue), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def every_second(recipe) -> None:
    """Make the recipe's registered periodic task tick every second (minutes are a schedule's unit)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    task = PeriodicTask.objects.get(name=f"Recipe {recipe.pk}: trigger")
    task.interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    task.save()


def move_back(job, seconds: float) -> None:
    """As if `seconds` passed since the job was made, sent and last claimed (its lease ran out)."""
    from django.db.models import F

    from recipes.runtime.models import Job

    delta = timedelta(seconds=seconds)
    Job.objects.filter(pk=job.pk).update(created_at=F("created_at") - delta, updated_at=F("updated_at") - delta,
                                         enqueued_at=F("enqueued_at") - delta)
    Job.objects.filter(pk=job.pk, lease_until__isnull=False).update(lease_until=F("lease_until") - delta)


@pytest.fixture
def feed_connection(project, builder, api_server):
    """A Basic-auth connection of the dated feed app (tests/connectors/loopback_poll.yaml) to the API server."""
    from connections import services

    connection = services.connection_create(project=project, connector_key="loopback_poll", name="Record feed",
                                            acting_user=builder, auth_method="basic",
                                            settings_values={"base_url": api_server.base_url})
    services.connection_set_credentials(connection=connection, acting_user=builder, credentials={
        "username": api_server.username, "password": api_server.password})
    connection.refresh_from_db()
    return connection


@pytest.fixture
def feed_recipe(make_recipe, feed_connection, builder):
    """feed_recipe(since=None, start=True) -> a recipe copying each new record of the feed to a new item (sent
    with an idempotency key)."""
    from connections.catalog.app_slot import AppSlot
    from recipes import services

    def make(*, since=None, start: bool = True, name: str = "Copy new records"):
        recipe = make_recipe(name, steps=[("loopback_poll", "new_record", {}),
                                          ("loopback_poll", "create_item_once", {"name": "Copy of {{trigger.name}}"})])
        services.binding_set(recipe=recipe, app=AppSlot("loopback_poll"), connection=feed_connection,
                             acting_user=builder)
        if start:
            services.recipe_start(recipe=recipe, acting_user=builder, since=since)
        recipe.refresh_from_db()
        return recipe

    return make


def add_record(api_server, name: str, created_at: str | None = None) -> dict:
    """A record someone made in the app (the feed lists it first)."""
    return api_server.control("POST", "items", json={"name": name, **({"created_at": created_at}
                                                                        if created_at else {})})

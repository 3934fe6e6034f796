"""Triggers registered when a recipe starts and removed when it stops: a scheduled recipe and a poll recipe start
jobs on their own, ticked by a real `celery beat` (django-celery-beat's DatabaseScheduler, as Procfile.dev runs
it) and run by a real worker; a tick already queued for a stopped recipe starts nothing; "M running" counts the
recipes whose trigger is registered.

Minutes are a schedule's unit: a test makes the registered periodic task tick every second once it is started.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from recipes import services
from recipes.runtime.models import Job, TriggerState
from recipes.usage import RecipeUsage
from tests.recipes.runtime import workers
from tests.recipes.runtime.workers import add_record, celery_beat, every_second

pytestmark = pytest.mark.django_db(transaction=True)

jobs_worker, worker, own_queue = workers.jobs_worker, workers.worker, workers.own_queue
feed_connection, feed_recipe = workers.feed_connection, workers.feed_recipe

SCHEDULED = [("scheduler", "every", {"minutes": "5"}),
             ("loopback", "create_item_once", {"name": "Tick at {{trigger.scheduled_at}}"})]


def periodic_task(recipe) -> PeriodicTask | None:
    return PeriodicTask.objects.filter(name=f"Recipe {recipe.pk}: trigger").first()


def test_a_scheduled_recipe_starts_jobs_on_its_own_until_it_stops(worker, running_recipe, builder, client_for,
                                                                 admin_user):
    recipe = running_recipe(SCHEDULED, name="Every five minutes")
    task = periodic_task(recipe)
    assert (task.task, task.args, task.queue, task.enabled) == ("splice.triggers.schedule", f"[{recipe.pk}]",
                                                               worker.queue, True)
    assert (task.interval.every, task.interval.period, task.crontab) == (5, "minutes", None)
    admin_page = client_for(admin_user).get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert f"Recipe {recipe.pk}: trigger" in admin_page.content.decode()

    every_second(recipe)
    with celery_beat(worker.queue):
        ran = worker.wait_for(lambda: len(done := Job.objects.filter(recipe=recipe, status=Job.Status.SUCCEEDED))
                              >= 2 and done, "two ticks' jobs")
        assert {job.trigger_kind for job in ran} == {"schedule"}
        assert all(job.steps.get().output["name"].startswith("Tick at ") for job in ran)

        services.recipe_stop(recipe=recipe, acting_user=builder)
        stopped_at = timezone.now()
        assert periodic_task(recipe) is None
        # A tick beat had already queued reaches the worker after the stop: it starts nothing.
        assert worker.run("splice.triggers.schedule", recipe.pk) is None
    assert all(job.created_at < stopped_at for job in Job.objects.filter(recipe=recipe))


def test_a_poll_recipe_starts_a_job_for_each_new_record_on_its_own(worker, feed_recipe, builder, api_server):
    recipe = feed_recipe()
    task = periodic_task(recipe)
    assert (task.task, task.args, task.interval.every, task.interval.period) == (
        "splice.triggers.poll", f"[{recipe.pk}]", recipe.poll_minutes, "minutes")
    assert recipe.poll_minutes == 5  # the default
    worker.wait_for(lambda: TriggerState.objects.filter(recipe=recipe, primed=True).exists(), "the first poll")

    every_second(recipe)
    with celery_beat(worker.queue):
        record = add_record(api_server, "Made while it runs")
        job = worker.wait_for(lambda: Job.objects.filter(recipe=recipe, status=Job.Status.SUCCEEDED).first(),
                              "the new record's job")
        assert job.dedup_key == str(record["id"])
        listed = api_server.stats()["by_path"]["/api/feed"]
        api_server.wait_for_requests("/api/feed", count=listed + 2)  # it keeps polling by itself
        services.recipe_stop(recipe=recipe, acting_user=builder)
    assert periodic_task(recipe) is None
    listed = api_server.stats()["by_path"]["/api/feed"]
    assert worker.run("splice.triggers.poll", recipe.pk) == 0  # a queued tick of a stopped recipe
    assert api_server.stats()["by_path"]["/api/feed"] == listed  # asked the app nothing
    assert Job.objects.filter(recipe=recipe).count() == 1


def test_a_cron_schedule_is_registered_as_a_crontab_and_a_bad_one_does_not_start(own_queue, make_recipe, builder):
    weekdays = {"minutes": "", "cron": "*/15 9-17 * * 1-5"}
    recipe = make_recipe("Weekday mornings", steps=[("scheduler", "every", weekdays)])
    services.recipe_start(recipe=recipe, acting_user=builder)
    crontab = periodic_task(recipe).crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week,
            str(crontab.timezone)) == ("*/15", "9-17", "*", "*", "1-5", "UTC")
    assert periodic_task(recipe).interval is None

    broken = make_recipe("Never", steps=[("scheduler", "every", {"minutes": "", "cron": "61 * * * *"})])
    with pytest.raises(services.RecipeHasErrors) as refused:
        services.recipe_start(recipe=broken, acting_user=builder)
    assert any("cron" in error.message.lower() for error in refused.value.errors)
    broken.refresh_from_db()
    assert not broken.running and periodic_task(broken) is None


def test_running_counts_the_recipes_whose_trigger_is_registered(own_queue, running_recipe, credential_connection,
                                                                builder, client_for, monkeypatch):
    connection, _ = credential_connection("basic")
    first = running_recipe(SCHEDULED, connection=connection, name="Started")
    stopped = running_recipe(SCHEDULED, connection=connection, name="Never started", start=False)
    usage = RecipeUsage()
    assert usage.counts([connection.pk]) == {connection.pk: (2, 1)}
    page = client_for(builder).get(reverse("connection_detail", args=[connection.pk])).content.decode()
    assert "Used by 2 recipes (1 running)." in page

    # Registering its trigger fails (the database refuses the periodic task): the recipe is not running.
    from recipes.runtime import triggers

    def refuse(*args, **kwargs):
        raise DatabaseError("could not write the periodic task")

    monkeypatch.setattr(triggers, "_periodic", refuse)
    with pytest.raises(DatabaseError):
        services.recipe_start(recipe=stopped, acting_user=builder)
    stopped.refresh_from_db()
    assert not stopped.running and periodic_task(stopped) is None
    assert usage.counts([connection.pk]) == {connection.pk: (2, 1)}

    services.recipe_stop(recipe=first, acting_user=builder)
    assert usage.counts([connection.pk]) == {connection.pk: (2, 0)}
    assert usage.using([connection.pk], running=True).count() == 0


def test_a_job_queued_before_its_recipe_stopped_is_cancelled(own_queue, running_recipe, builder, api_server):
    from recipes.runtime.jobs import job_create
    from recipes.runtime.runner import job_run

    recipe = running_recipe(SCHEDULED)
    job = job_create(recipe=recipe, trigger_kind=Job.Trigger.SCHEDULE, trigger_data={"scheduled_at": "noon"})
    services.recipe_stop(recipe=recipe, acting_user=builder)
    requests_before = api_server.stats()["requests"]
    job_run(job.pk)  # its task arrives after the stop
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.CANCELLED, "stopped")
    assert not job.steps.exists() and api_server.stats()["requests"] == requests_before


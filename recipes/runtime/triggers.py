"""A recipe's trigger, registered when it starts and removed when it stops.

- schedule (the Scheduler): a django-celery-beat periodic task per recipe ("Recipe 12: trigger"), every N minutes
  or on a cron expression; each tick starts a job.
- poll (an app's `kind: poll` trigger): a periodic task per recipe, every `recipe.poll_minutes`, that lists the
  app's records and starts a job per new one (recipes.runtime.polling).
- webhook: the recipe's unguessable address (/hooks/<token>/) accepts deliveries while it runs.
- call (a callable recipe): POST /api/v1/recipes/<id>/call while it runs.

Every task checks that its recipe still runs, so a tick already queued when it stopped starts nothing. A tick that
waited in the queue longer than its interval (no worker was up) expires instead of starting a late burst of jobs.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from celery import current_app
from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from recipes.builtins import BuiltinOperation, operation_for
from recipes.models import Recipe, Step
from recipes.runtime.models import Job, TriggerState

__all__ = ["MAX_MINUTES", "check_trigger_startable", "schedule_fire", "schedule_of", "trigger_kind", "trigger_step",
           "triggers_register", "triggers_unregister", "webhook_token_regenerate"]

MAX_MINUTES = 7 * 24 * 60


def trigger_step(recipe: Recipe) -> Step | None:
    return recipe.steps.filter(is_trigger=True).first()


def trigger_kind(recipe: Recipe, step: Step | None) -> str | None:
    """schedule, poll, webhook or call; None without a trigger (or one its app no longer offers)."""
    operation = operation_for(recipe, step) if step is not None else None
    if operation is None:
        return None
    return operation.kind


def _task_name(recipe: Recipe) -> str:
    return f"Recipe {recipe.pk}: trigger"


def schedule_of(inputs: dict) -> tuple[str, int | str]:
    """("minutes", N) or ("cron", "m h dom mon dow") from a Scheduler step's inputs; raises ValueError saying
    what is wrong."""
    cron = str(inputs.get("cron") or "").strip()
    if cron:
        fields = cron.split()
        if len(fields) != 5:
            raise ValueError("A cron expression has five fields: minute hour day month weekday.")
        try:
            crontab(*fields[:2], day_of_week=fields[4], day_of_month=fields[2], month_of_year=fields[3])
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"The cron expression “{cron[:100]}” cannot be read ({exc}).") from None
        return "cron", cron
    minutes = str(inputs.get("minutes") or "").strip()
    if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_MINUTES:
        raise ValueError(f"Run every 1 to {MAX_MINUTES} minutes, or give a cron expression.")
    return "minutes", int(minutes)


def _shared(model, **fields):
    """A schedule row several recipes share (the schedule tables allow duplicates: an admin may have made one)."""
    return model.objects.filter(**fields).order_by("pk").first() or model.objects.create(**fields)


def _periodic(recipe: Recipe, task: str, *, minutes: int | None = None, cron: str | None = None) -> None:
    schedule = {}
    if cron is not None:
        minute, hour, day, month, weekday = cron.split()
        schedule["crontab"] = _shared(CrontabSchedule, minute=minute, hour=hour, day_of_month=day,
                                      month_of_year=month, day_of_week=weekday, timezone="UTC")
        expires = 60
    else:
        schedule["interval"] = _shared(IntervalSchedule, every=minutes, period=IntervalSchedule.MINUTES)
        expires = minutes * 60
    PeriodicTask.objects.update_or_create(name=_task_name(recipe), defaults={
        "task": task, "args": json.dumps([recipe.pk]), "kwargs": "{}", "queue": settings.SPLICE_JOBS_QUEUE,
        "enabled": True, "expire_seconds": expires, "one_off": False, "start_time": None, "last_run_at": None,
        "description": f"Starts recipe “{recipe.name}” ({recipe.project.name}).", "interval": None, "crontab": None,
        **schedule})


def triggers_register(recipe: Recipe, *, since: datetime | None = None) -> str | None:
    """Register the recipe's trigger (inside the transaction that starts it); returns its kind. `since`: where a
    poll trigger begins (None: from now, so what the app lists today is not new)."""
    step = trigger_step(recipe)
    kind = trigger_kind(recipe, step)
    triggers_unregister(recipe)
    if kind == "schedule":
        unit, value = schedule_of(step.inputs or {})
        _periodic(recipe, "splice.triggers.schedule", **({"minutes": value} if unit == "minutes" else {"cron": value}))
    elif kind == "poll":
        _periodic(recipe, "splice.triggers.poll", minutes=max(1, recipe.poll_minutes))
        TriggerState.objects.update_or_create(recipe=recipe, defaults={
            "since": since, "primed": False, "consecutive_auth_failures": 0, "last_error": ""})
        _first_poll_on_commit(recipe.pk)
    elif kind == "webhook" and not recipe.webhook_token:
        webhook_token_regenerate(recipe)
    return kind


def _first_poll_on_commit(recipe_id: int) -> None:
    """Poll once as soon as it starts: the person sees it work (or fail) without waiting for the first tick."""
    transaction.on_commit(lambda: current_app.send_task("splice.triggers.poll", args=[recipe_id],
                                                        queue=settings.SPLICE_JOBS_QUEUE))


def triggers_unregister(recipe: Recipe) -> None:
    PeriodicTask.objects.filter(name=_task_name(recipe)).delete()


def webhook_token_regenerate(recipe: Recipe) -> str:
    """A new webhook address for the recipe: the old one stops working at once."""
    token = secrets.token_urlsafe(32)
    Recipe.objects.filter(pk=recipe.pk).update(webhook_token=token)
    recipe.webhook_token = token
    return token


def schedule_fire(recipe_id: int) -> Job | None:
    """A Scheduler tick: one job, if the recipe still runs."""
    from recipes.runtime.jobs import job_create

    recipe = Recipe.objects.filter(pk=recipe_id, running=True).first()
    if recipe is None:
        return None
    step = trigger_step(recipe)
    if not isinstance(operation_for(recipe, step) if step else None, BuiltinOperation):
        return None
    now = timezone.now()
    return job_create(recipe=recipe, trigger_kind=Job.Trigger.SCHEDULE,
                      trigger_data={"scheduled_at": now.isoformat()})


def check_trigger_startable(recipe: Recipe) -> None:
    """What stops a trigger from being registered, as a ValidationError (a bad schedule)."""
    step = trigger_step(recipe)
    if trigger_kind(recipe, step) == "schedule":
        try:
            schedule_of(step.inputs or {})
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
    elif trigger_kind(recipe, step) == "command":
        from recipes.workbot.services import check_command_free  # recipes.workbot imports the runtime

        check_command_free(recipe, step)

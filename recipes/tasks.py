"""Celery tasks of the recipe runtime. They take ids only (never a secret or a step's data) and call
recipes.runtime; every one goes to SPLICE_JOBS_QUEUE. Beat sends the triggers' ticks (a periodic task per running
recipe, recipes.runtime.triggers) and, from migration 0004, `splice.jobs.recover` and `splice.jobs.prune`. A
Workbot job's end sends `splice.workbot.reply` (recipes.runtime.waiting), which posts its answer to the chat."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from recipes.runtime import jobs, polling, runner, triggers
from recipes.workbot import replies

__all__ = ["job_run_task", "jobs_prune_task", "jobs_recover_task", "trigger_poll_task", "trigger_schedule_task",
           "workbot_reply_task"]

WORKBOT_REPLY_TRIES = 5


@shared_task(name="splice.jobs.run", ignore_result=True)
def job_run_task(job_id: int) -> None:
    """Run a job from its first unfinished step; a step waiting to retry (or a long job going on) comes back as a
    new message with a countdown, always below the broker's visibility timeout (runner.retry_ceiling)."""
    outcome = runner.job_run(job_id)
    if outcome.retry_in is not None:
        job_run_task.apply_async(args=[job_id], countdown=outcome.retry_in, queue=settings.SPLICE_JOBS_QUEUE)


@shared_task(name="splice.triggers.poll", ignore_result=True)
def trigger_poll_task(recipe_id: int) -> int:
    return polling.poll_run(recipe_id).jobs


@shared_task(name="splice.triggers.schedule", ignore_result=True)
def trigger_schedule_task(recipe_id: int) -> None:
    triggers.schedule_fire(recipe_id)


@shared_task(name="splice.jobs.recover", ignore_result=True)
def jobs_recover_task() -> int:
    """Jobs whose task seems lost, and Workbot answers whose task was."""
    return jobs.jobs_recover() + replies.replies_recover()


@shared_task(name="splice.jobs.prune", ignore_result=True)
def jobs_prune_task() -> int:
    return jobs.jobs_prune()


@shared_task(bind=True, name="splice.workbot.reply", ignore_result=True, max_retries=WORKBOT_REPLY_TRIES - 1)
def workbot_reply_task(self, job_id: int) -> str:
    """Post a finished Workbot job's answer to its chat command (the job's id only: the response_url, a capability
    URL, stays in the database). Slack busy or unreachable: again after 1, 2, 4, 8 seconds."""
    try:
        return replies.reply_post(job_id=job_id, last_attempt=self.request.retries >= self.max_retries)
    except replies.ReplyDelayed as exc:
        raise self.retry(exc=exc, countdown=2 ** self.request.retries, queue=settings.SPLICE_JOBS_QUEUE) from None

"""Waiting for a job to finish, for a caller that waits on its answer (a callable recipe called synchronously), and
answering a chat command once its job finishes (a Workbot recipe).

With Redis, the runner pushes to a short-lived list as a job finishes and the waiter blocks on it (BLPOP): no
polling, and the answer leaves as soon as the job ends. Without Redis (the zero-setup default) the waiter reads the
job's row at growing intervals. A Workbot job's end sends the task that posts its answer to the chat
(`splice.workbot.reply`, recipes.workbot.replies), by the job's id.
"""

from __future__ import annotations

import time
from functools import lru_cache

from celery import current_app
from django.conf import settings

from recipes.runtime.models import Job

__all__ = ["job_finished_notify", "job_wait", "workbot_reply_enqueue"]

_KEY = "splice:job-finished:{}"
_KEEP_SECONDS = 120
_WORKBOT = Job.Trigger.WORKBOT


@lru_cache(maxsize=1)
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=None)


def job_finished_notify(job_id: int, trigger_kind: str | None = None) -> None:
    """Wake whoever waits for the job, and answer the chat command that started it (called on commit of its last
    status). `trigger_kind`: the job's (Job.Trigger); None when the caller does not know it (both are done: the
    reply task does nothing for a job no command started)."""
    if trigger_kind in (None, _WORKBOT):
        workbot_reply_enqueue(job_id)
    if trigger_kind == _WORKBOT or not settings.REDIS_URL:
        return
    key = _KEY.format(job_id)
    pipe = _redis().pipeline(transaction=False)
    pipe.rpush(key, "1")
    pipe.expire(key, _KEEP_SECONDS)
    pipe.execute()


def workbot_reply_enqueue(job_id: int) -> None:
    """Send the task that posts a finished Workbot job's answer (by name: the runtime does not import Workbot)."""
    current_app.send_task("splice.workbot.reply", args=[job_id], queue=settings.SPLICE_JOBS_QUEUE)


def job_wait(job_id: int, timeout: float) -> Job:
    """The job, once finished or after `timeout` seconds (whichever comes first). A wake-up that finds it
    unfinished (word left by an earlier job of the same id, in a database restored or recreated) waits on."""
    deadline = time.monotonic() + timeout
    if settings.REDIS_URL:
        while True:
            job = Job.objects.get(pk=job_id)
            remaining = deadline - time.monotonic()
            if job.finished or remaining <= 0:
                return job
            _redis().blpop([_KEY.format(job_id)], timeout=max(remaining, 0.01))
    pause = 0.005
    while True:
        job = Job.objects.get(pk=job_id)
        if job.finished or time.monotonic() >= deadline:
            return job
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.2)

"""Imported by the Celery workers the tests start (`celery worker --include tests.worker_hooks`).

A transactional test's flush recreates content types under new ids (tests/conftest.py clears this
process's caches after each test); a worker lives across tests, so it forgets them before every task.
With SPLICE_TEST_TASK_EVENTS set, it tells the tests as each task ends (tests.conftest.TaskEvents).

With SPLICE_TEST_KILL_AT set, the worker kills itself (SIGKILL: no clean-up, as a power cut or the OOM killer
would) at one exact point of its work, so a test can show what is left behind and that a restarted worker
neither loses nor repeats anything. The points wrap what the runtime calls there; production code has no hook:
- ``poll_answered``: a poll trigger's list request was answered, nothing of it recorded yet;
- ``poll_creating_jobs``: inside the poll's transaction, with the trigger's state locked, before its jobs exist;
- ``jobs_committed``: the new jobs are committed, their tasks not sent yet.
"""

import os
import signal
import socket

from celery.signals import task_postrun, task_prerun

KILL_POINTS = ("poll_answered", "poll_creating_jobs", "jobs_committed")
_armed = False


@task_prerun.connect
def _fresh_content_type_cache(**kwargs) -> None:
    from django.contrib.contenttypes.models import ContentType
    from guardian.shortcuts import clear_ct_cache

    ContentType.objects.clear_cache()
    clear_ct_cache()


@task_prerun.connect
def _arm_kill_point(**kwargs) -> None:
    global _armed
    point = os.environ.get("SPLICE_TEST_KILL_AT")
    if _armed or not point:
        return
    assert point in KILL_POINTS, f"unknown SPLICE_TEST_KILL_AT {point!r}"
    from recipes.runtime import jobs, polling

    if point == "poll_answered":
        polling.connection_client = _dies_once_answered(polling.connection_client)
    elif point == "poll_creating_jobs":
        polling.jobs_create = _dies_before(polling.jobs_create)
    else:
        jobs.job_enqueue = _dies_before(jobs.job_enqueue)
    _armed = True


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _dies_before(function):
    def dies(*args, **kwargs):
        _die()
        return function(*args, **kwargs)

    return dies


def _dies_once_answered(make_client):
    def client(*args, **kwargs):
        made = make_client(*args, **kwargs)
        call = made.call

        def call_then_die(*call_args, **call_kwargs):
            result = call(*call_args, **call_kwargs)
            _die()
            return result

        made.call = call_then_die
        return made

    return client


@task_postrun.connect
def _tell_the_tests(**kwargs) -> None:
    path = os.environ.get("SPLICE_TEST_TASK_EVENTS")
    if not path:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as events:
        events.setblocking(False)  # never hold the task up
        try:
            events.sendto(b"task done", path)
        except OSError:
            pass  # no test listens any more, or unread news is waiting already: the test wakes either way

"""Imported by the Celery workers the tests start (`celery worker --include tests.worker_hooks`).

A transactional test's flush recreates content types under new ids (tests/conftest.py clears this
process's caches after each test); a worker lives across tests, so it forgets them before every task.
With SPLICE_TEST_TASK_EVENTS set, it tells the tests as each task ends (tests.conftest.TaskEvents).
"""

import os
import socket

from celery.signals import task_postrun, task_prerun


@task_prerun.connect
def _fresh_content_type_cache(**kwargs) -> None:
    from django.contrib.contenttypes.models import ContentType
    from guardian.shortcuts import clear_ct_cache

    ContentType.objects.clear_cache()
    clear_ct_cache()


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

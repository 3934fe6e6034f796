"""Imported by the Celery workers the tests start (`celery worker --include tests.worker_hooks`).

A transactional test's flush recreates content types under new ids (tests/conftest.py clears this
process's caches after each test); a worker lives across tests, so it forgets them before every task.
"""

from celery.signals import task_prerun


@task_prerun.connect
def _fresh_content_type_cache(**kwargs) -> None:
    from django.contrib.contenttypes.models import ContentType
    from guardian.shortcuts import clear_ct_cache

    ContentType.objects.clear_cache()
    clear_ct_cache()

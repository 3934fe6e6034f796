"""Retention: jobs older than SPLICE_JOB_RETENTION_DAYS go, with their steps; newer ones stay whole."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from recipes.runtime.jobs import jobs_prune
from recipes.runtime.models import Job, JobStep

pytestmark = pytest.mark.django_db


@pytest.fixture
def job_aged(make_recipe):
    """job_aged(days) -> a finished job created `days` ago, with two steps."""
    recipe = make_recipe("Copy orders", steps=[("scheduler", "every", {"minutes": "5"})])

    def make(days: float, **fields) -> Job:
        created = timezone.now() - timedelta(days=days)
        fields = {"status": Job.Status.SUCCEEDED, "trigger_kind": Job.Trigger.SCHEDULE, **fields}
        job = Job.objects.create(recipe=recipe, created_at=created, started_at=created, finished_at=created, **fields)
        JobStep.objects.bulk_create([JobStep(job=job, position=n, connector_key="loopback", operation_key="get_item",
                                             status=JobStep.Status.SUCCEEDED, output={"id": n}) for n in (2, 3)])
        return job

    return make


def test_jobs_older_than_the_retention_go_with_their_steps(job_aged, settings):
    assert settings.SPLICE_JOB_RETENTION_DAYS == 30  # the documented default
    old, older = job_aged(30.5), job_aged(400)
    kept = [job_aged(29.5), job_aged(1), job_aged(0)]

    assert jobs_prune() == 2
    assert set(Job.objects.values_list("pk", flat=True)) == {job.pk for job in kept}
    assert not JobStep.objects.filter(job_id__in=[old.pk, older.pk]).exists()
    for job in kept:
        assert job.steps.count() == 2
    assert jobs_prune() == 0


def test_the_retention_follows_the_setting(job_aged, settings):
    settings.SPLICE_JOB_RETENTION_DAYS = 7
    gone, kept = job_aged(8), job_aged(6)
    assert jobs_prune() == 1
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not Job.objects.filter(pk=gone.pk).exists()


def test_a_kept_rerun_of_a_pruned_job_stays(job_aged):
    original = job_aged(31, status=Job.Status.FAILED)
    rerun = job_aged(2, rerun_of=original)
    assert jobs_prune() == 1
    rerun.refresh_from_db()
    assert rerun.rerun_of is None and rerun.steps.count() == 2

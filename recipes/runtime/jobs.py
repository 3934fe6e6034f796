"""Starting jobs: one row per run, enqueued on commit (a task per job, by id), and found again if its message is
lost (`jobs_recover`). Re-running a failed job starts a new one that keeps the steps that had succeeded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import User
from connections.models import Connection
from connections.services import connection_test
from connections.status import CheckOutcome
from recipes.models import ConnectionBinding, Recipe
from recipes.runtime.masking import Masker
from recipes.runtime.models import Job, JobStep

__all__ = ["ConnectionFailure", "job_create", "job_enqueue", "job_rerun", "job_rerun_blockers", "jobs_create",
           "jobs_prune", "jobs_recover"]


def job_enqueue(job_ids: list[int], *, mark_sent: bool = True) -> None:
    """Send one task per job now (call on commit). By the task's name: the tasks module calls in here.
    `mark_sent`: note when (jobs made here carry that time already)."""
    if not job_ids:
        return
    if mark_sent:
        Job.objects.filter(pk__in=job_ids).update(enqueued_at=timezone.now())
    for job_id in job_ids:
        current_app.send_task("splice.jobs.run", args=[job_id], queue=settings.SPLICE_JOBS_QUEUE)


def jobs_create(*, recipe: Recipe, trigger_kind: str, records: list[tuple[str | None, Any]],
                run_as: User | None = None, mask: Masker | None = None) -> list[Job]:
    """A job per (dedup key, trigger data), in this order, enqueued when the caller's transaction commits. A
    record whose dedup key already has a job is skipped (a webhook delivered twice, a record polled again).
    `mask`: what to mask in the trigger data besides secret-named fields (the secrets of the connection that
    fetched it)."""
    mask = mask or Masker()
    now = timezone.now()

    def new_job(key, data) -> Job:
        return Job(recipe=recipe, recipe_version=recipe.version, trigger_kind=trigger_kind, dedup_key=key,
                   trigger_data=mask(data if isinstance(data, dict) else {"value": data}), run_as=run_as,
                   created_at=now, enqueued_at=now)

    keys = [key for key, _ in records if key is not None]
    if not keys:  # nothing to deduplicate: no transaction of its own (one INSERT for one job)
        jobs = [new_job(key, data) for key, data in records]
        if len(jobs) == 1:
            jobs[0].save(force_insert=True)
        elif jobs:
            Job.objects.bulk_create(jobs)
    else:
        with transaction.atomic():
            existing = set(Job.objects.filter(recipe=recipe, dedup_key__in=keys).values_list("dedup_key", flat=True))
            jobs = []
            for key, data in records:
                if key is not None and key in existing:
                    continue
                existing.add(key)
                jobs.append(new_job(key, data))
            try:
                with transaction.atomic():
                    Job.objects.bulk_create(jobs)
            except IntegrityError:  # a concurrent delivery of the same record won: make the rest one by one
                jobs = [job for job in jobs if _created_alone(job)]
    ids = [job.pk for job in jobs]
    if ids:
        transaction.on_commit(lambda: job_enqueue(ids, mark_sent=False))
    return jobs


def _created_alone(job: Job) -> bool:
    try:
        with transaction.atomic():
            job.pk = None
            job.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def job_create(*, recipe: Recipe, trigger_kind: str, trigger_data: Any, dedup_key: str | None = None,
               run_as: User | None = None) -> Job | None:
    """One job; None when `dedup_key` has one already."""
    created = jobs_create(recipe=recipe, trigger_kind=trigger_kind, records=[(dedup_key, trigger_data)],
                          run_as=run_as)
    return created[0] if created else None


@transaction.atomic
def job_rerun(*, job: Job, acting_user: User, from_start: bool = False) -> Job:
    """A new job with the same trigger data. It resumes at the step that failed (the steps before it keep their
    outputs and are not sent again), or starts over when `from_start`."""
    rerun = Job.objects.create(recipe=job.recipe, recipe_version=job.recipe.version, trigger_kind=Job.Trigger.RERUN,
                               trigger_data=job.trigger_data, run_as=acting_user, rerun_of=job,
                               enqueued_at=timezone.now())
    if not from_start:
        kept = [JobStep(job=rerun, position=s.position, connector_key=s.connector_key, slot=s.slot,
                        operation_key=s.operation_key, name=s.name, status=s.status, input=s.input, output=s.output,
                        attempts=s.attempts, duration_ms=s.duration_ms, connection_id=s.connection_id,
                        connection_name=s.connection_name, run_as_id=s.run_as_id, started_at=s.started_at,
                        finished_at=s.finished_at, idempotency_key=s.idempotency_key)
                for s in job.steps.filter(status=JobStep.Status.SUCCEEDED)]
        JobStep.objects.bulk_create(kept)
    transaction.on_commit(lambda: job_enqueue([rerun.pk], mark_sent=False))
    return rerun


@dataclass(frozen=True)
class ConnectionFailure:
    """A connection of the recipe whose test failed, so a re-run did not start."""

    app: str
    connection: Connection | None  # None: one in a project the person cannot see
    outcome: CheckOutcome


def job_rerun_blockers(*, recipe: Recipe, acting_user: User, ip: str | None = None) -> list[ConnectionFailure]:
    """Test each connection the recipe's actions use (what a re-run will call); the failures, in app order. The
    jobs page and the API's re-run refuse to start one while any fails."""
    from recipes.selectors import visible_connection_ids

    apps = {step.app_slot for step in recipe.steps.filter(is_trigger=False)}
    bindings = [binding for binding in ConnectionBinding.objects.filter(recipe=recipe, connection__isnull=False)
                .select_related("connection").order_by("connector_key", "slot") if binding.app_slot in apps]
    visible = visible_connection_ids(acting_user, (binding.connection for binding in bindings))
    failures, tested = [], set()
    for binding in bindings:
        connection = binding.connection
        if connection.pk in tested:
            continue
        tested.add(connection.pk)
        outcome = connection_test(connection=connection, acting_user=acting_user, ip=ip)
        if not outcome.ok:
            failures.append(ConnectionFailure(app=binding.app_slot.label,
                                              connection=connection if connection.pk in visible else None,
                                              outcome=outcome))
    return failures


def jobs_recover() -> int:
    """Enqueue again the jobs whose task seems lost: pending and not enqueued lately, running with no word from a
    worker within its lease, or a retry whose time passed long ago. Returns how many."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.SPLICE_JOB_RECOVER_AFTER)
    waiting_to_retry = JobStep.objects.filter(job=OuterRef("pk"), status=JobStep.Status.RETRYING,
                                              next_attempt_at__gt=stale)
    ids = list(Job.objects.filter(
        Q(status=Job.Status.PENDING, created_at__lt=stale) & (Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        | Q(status=Job.Status.RUNNING, updated_at__lt=stale) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now)),
    ).exclude(Exists(waiting_to_retry)).values_list("pk", flat=True)[:1000])
    job_enqueue(ids)
    return len(ids)


def jobs_prune() -> int:
    """Delete jobs older than SPLICE_JOB_RETENTION_DAYS; returns how many."""
    cutoff = timezone.now() - timedelta(days=settings.SPLICE_JOB_RETENTION_DAYS)
    _, by_model = Job.objects.filter(created_at__lt=cutoff).delete()
    return by_model.get(Job._meta.label, 0)

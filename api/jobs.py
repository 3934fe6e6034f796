"""/api/v1/recipes/{id}/jobs: a recipe's jobs (filters, newest first, cursor pagination), one job with its steps
(their inputs and outputs as stored: masked by the runner), and re-running a failed one. As the jobs pages
(recipes/job_views.py): reading needs "View recipes" and view access, a re-run "Start and stop recipes" and use
access, through recipes.runtime.selectors; the re-run is recipes.runtime.jobs.job_rerun, after the page's own test of
the recipe's connections. GET /api/v1/jobs/{id}, a job's status, is recipes.api's (api.callable documents it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from ninja import Path, Query, Router, Schema
from pydantic import Field

from accounts.models import ProjectAccess
from api.audit import api_write_record
from api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, cursor_page
from api.problems import ApiProblem, Problem
from api.recipes import recipe_or_404
from api.security import require_privilege
from recipes.runtime import jobs as job_services
from recipes.runtime.models import Job
from recipes.runtime.selectors import ACTIVE, job_steps, jobs_for_user

__all__ = ["router"]

router = Router(tags=["Jobs"])

JobStatus = Literal["pending", "running", "succeeded", "failed", "cancelled"]


class JobOut(Schema):
    id: int
    recipe_id: int
    status: str
    trigger_kind: str
    run_as_id: int | None = Field(description="The person the job ran for (a call's, a re-run's).")
    rerun_of: int | None
    error: str
    error_code: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    url: str


class JobStepOut(Schema):
    position: int
    name: str
    app: str
    operation: str
    status: str
    input: Any = Field(description="As stored: secrets masked.")
    output: Any = Field(description="As stored: secrets masked.")
    attempts: int
    duration_ms: int | None
    error: str
    error_code: str
    recommendations: list[str]
    connection_id: int | None
    connection_name: str
    run_as_id: int | None
    started_at: datetime | None
    finished_at: datetime | None


class JobDetail(JobOut):
    trigger_data: Any = Field(description="What started the job (masked).")
    result: Any = Field(description="A callable recipe's Return result (masked).")
    recommendations: list[str]
    steps: list[JobStepOut]


class JobPage(Schema):
    items: list[JobOut]
    next_cursor: str | None


class JobFilters(Schema):
    status: JobStatus | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    run_as_id: int | None = Field(None, gt=0, le=MAX_ID)
    cursor: str | None = Field(None, max_length=40)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _job(job: Job) -> dict:
    return {"id": job.pk, "recipe_id": job.recipe_id, "status": job.status, "trigger_kind": job.trigger_kind,
            "run_as_id": job.run_as_id, "rerun_of": job.rerun_of_id, "error": job.error, "error_code": job.error_code,
            "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at,
            "url": settings.SPLICE_BASE_URL + job.get_absolute_url()}


def _detail(job: Job) -> dict:
    steps = [{"position": s.position, "name": s.name, "app": s.connector_key + ("_secondary" if s.slot == "secondary"
                                                                                  else ""),
              "operation": s.operation_key, "status": s.status, "input": s.input, "output": s.output,
              "attempts": s.attempts, "duration_ms": s.duration_ms, "error": s.error, "error_code": s.error_code,
              "recommendations": s.recommendations or [], "connection_id": s.connection_id,
              "connection_name": s.connection_name, "run_as_id": s.run_as_id, "started_at": s.started_at,
              "finished_at": s.finished_at} for s in job_steps(job)]
    return _job(job) | {"trigger_data": job.trigger_data, "result": job.result,
                        "recommendations": job.recommendations or [], "steps": steps}


def _job_or_404(request, recipe_id: int, job_id: int, access: ProjectAccess) -> Job:
    job = (jobs_for_user(request.user, access).select_related("recipe__project")
           .filter(pk=job_id, recipe_id=recipe_id).first())
    if job is None:
        raise ApiProblem(404, "not_found", "There is no job with this id in this recipe that you may see.")
    return job


@router.get("/{id:recipe_id}/jobs", response={200: JobPage, 404: Problem}, summary="List a recipe's jobs")
def job_list(request, filters: Query[JobFilters], recipe_id: int = Path(..., gt=0, le=MAX_ID)):
    require_privilege(request, "recipes.view_recipe")
    recipe = recipe_or_404(request, recipe_id, ProjectAccess.VIEW)
    rows = jobs_for_user(request.user).filter(recipe=recipe).defer("trigger_data", "result")
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.created_after:
        rows = rows.filter(created_at__gt=filters.created_after)
    if filters.created_before:
        rows = rows.filter(created_at__lt=filters.created_before)
    if filters.run_as_id:
        rows = rows.filter(run_as_id=filters.run_as_id)
    page, next_cursor = cursor_page(rows, cursor=filters.cursor, limit=filters.limit, newest_first=True)
    return {"items": [_job(job) for job in page], "next_cursor": next_cursor}


@router.get("/{id:recipe_id}/jobs/{id:job_id}", response={200: JobDetail, 404: Problem}, summary="Show a job")
def job_show(request, recipe_id: int = Path(..., gt=0, le=MAX_ID), job_id: int = Path(..., gt=0, le=MAX_ID)):
    require_privilege(request, "recipes.view_recipe")
    return _detail(_job_or_404(request, recipe_id, job_id, ProjectAccess.VIEW))


@router.post("/{id:recipe_id}/jobs/{id:job_id}/rerun", response={201: JobDetail, 403: Problem, 404: Problem,
                                                           409: Problem}, summary="Re-run a failed job")
def job_rerun(request, recipe_id: int = Path(..., gt=0, le=MAX_ID), job_id: int = Path(..., gt=0, le=MAX_ID),
              from_start: bool = Query(False, description="Run every step again, instead of resuming at the one "
                                                          "that failed.")):
    """A new job with the same trigger data, resuming at the failed step (or from the start). Only a failed job, one
    re-run at a time, and only once the recipe's connections pass a test: 409 otherwise."""
    require_privilege(request, "recipes.start_recipe")
    job = _job_or_404(request, recipe_id, job_id, ProjectAccess.USE)
    if job.status != Job.Status.FAILED:
        raise ApiProblem(409, "job_not_failed", f"Only a failed job can be re-run: job {job.pk} is "
                         f"{job.get_status_display().lower()}.")
    unfinished = job.reruns.filter(status__in=ACTIVE).order_by("pk").first()
    if unfinished is not None:
        raise ApiProblem(409, "rerun_unfinished", f"Job {unfinished.pk}, a re-run of job {job.pk}, has not finished "
                         "yet: wait for it before re-running this job again.", rerun=unfinished.pk)
    failures = job_services.job_rerun_blockers(recipe=job.recipe, acting_user=request.user,
                                               ip=request.META.get("REMOTE_ADDR"))
    if failures:
        raise ApiProblem(409, "connection_test_failed", "The recipe's connections must pass a test first: "
                         + " ".join(f"{f.app}: {f.outcome.message}" for f in failures))
    rerun = job_services.job_rerun(job=job, acting_user=request.user,
                                   from_start=from_start)
    api_write_record(request, operation="job_rerun", object_type="job", object_id=rerun.pk, status_code=201,
                     summary=f"Re-ran job {job.pk} as job {rerun.pk}")
    return 201, _detail(rerun)

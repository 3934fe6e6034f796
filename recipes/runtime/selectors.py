"""Reads of jobs that apply project access: a person sees the jobs of recipes in the projects they may view, and
the jobs pages filter and page them in a fixed number of queries however many jobs a page lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import ProjectAccess
from accounts.selectors import projects_for_user
from config.converters import parse_id
from recipes.runtime.models import Job, JobStep

__all__ = ["ACTIVE", "JobFilters", "any_active", "job_for_user_or_404", "job_steps", "jobs_for_user", "jobs_page"]

ACTIVE = (Job.Status.PENDING, Job.Status.RUNNING)
# What a list row never shows: a job's records can be large, and a page of them is read at every refresh.
_LIST_DEFERRED = ("trigger_data", "result", "recommendations", "lease_owner", "lease_until")


def jobs_for_user(user, access: ProjectAccess = ProjectAccess.VIEW) -> QuerySet[Job]:
    """Jobs of recipes in the projects where the user has `access`."""
    return Job.objects.filter(recipe__project__in=projects_for_user(user, access))


def job_for_user_or_404(user, pk, access: ProjectAccess = ProjectAccess.VIEW) -> Job:
    """The job with its recipe, project and the person it ran for; another project's job is a 404."""
    queryset = jobs_for_user(user, access).select_related("recipe__project", "run_as", "rerun_of")
    return get_object_or_404(queryset, pk=pk)


def job_steps(job: Job) -> list[JobStep]:
    """The job's steps in order, each with its connection and the user it ran as (one query)."""
    return list(job.steps.select_related("connection", "run_as").order_by("position"))


@dataclass(frozen=True)
class JobFilters:
    """What a jobs list is narrowed to, read from a query string. Values that make no sense are dropped, and a
    date that is not one is reported in `errors` (the list then ignores it) rather than failing the page."""

    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    recipe: int | None = None
    project: int | None = None
    run_as: str = ""  # the email of the person the jobs ran as
    errors: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_query(cls, params) -> JobFilters:
        errors = []
        status = params.get("status", "")
        date_from = _date(params.get("from", ""), "From", errors)
        date_to = _date(params.get("to", ""), "To", errors)
        if date_from and date_to and date_to < date_from:
            errors.append("The “To” date was before the “From” date: the list shows the days between them.")
            date_from, date_to = date_to, date_from
        return cls(status=status if status in Job.Status.values else "", date_from=date_from, date_to=date_to,
                   recipe=parse_id(params.get("recipe", "")), project=parse_id(params.get("project", "")),
                   run_as=params.get("run_as", "").strip()[:254], errors=tuple(errors))

    @property
    def active(self) -> bool:
        return bool(self.status or self.date_from or self.date_to or self.recipe or self.project or self.run_as)

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for the pages' links)."""
        values = {"status": self.status, "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else "", "recipe": self.recipe or "",
                  "project": self.project or "", "run_as": self.run_as}
        return {name: str(value) for name, value in values.items() if value}

    def apply(self, queryset: QuerySet[Job]) -> QuerySet[Job]:
        if self.status:
            queryset = queryset.filter(status=self.status)
        if self.date_from:
            queryset = queryset.filter(created_at__gte=_start_of(self.date_from))
        if self.date_to:
            queryset = queryset.filter(created_at__lt=_start_of(self.date_to + timedelta(days=1)))
        if self.recipe:
            queryset = queryset.filter(recipe_id=self.recipe)
        if self.project:
            queryset = queryset.filter(recipe__project_id=self.project)
        if self.run_as:
            queryset = queryset.filter(run_as__email__iexact=self.run_as)
        return queryset


def _date(value: str, label: str, errors: list[str]) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        errors.append(f"“{label}” must be a date such as 2025-01-31: the list is not filtered by it.")
        return None


def _start_of(day: date) -> datetime:
    """Midnight of `day` where the person is (the deployment's time zone)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def jobs_page(jobs: QuerySet[Job], filters: JobFilters, *, number, per_page: int) -> Page:
    """One page of `jobs` (narrowed by `jobs_for_user`), newest first, each with its recipe, project and
    run-as user: a count and one query for the rows."""
    rows = (filters.apply(jobs).select_related("recipe__project", "run_as").defer(*_LIST_DEFERRED)
            .order_by("-created_at", "-pk"))
    return Paginator(rows, per_page).get_page(number)


def any_active(jobs) -> bool:
    """Whether any of these jobs may still change (pending or running): the page keeps refreshing them."""
    return any(job.status in ACTIVE for job in jobs)

"""The jobs pages: a recipe's jobs, a project's, every job a person may see, one job with its steps, and
re-running a failed job.

Viewing needs the "View recipes" privilege and view access to the recipe's project (another project's job or
recipe is a 404); re-running needs "Start and stop recipes" and use of the project. While a listed job may still
change, the page asks htmx to fetch its table (or the job) again every 2 s, and the answer stops asking once
nothing runs: no script of the page's own, which the Content Security Policy would refuse.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from accounts.access import privilege_required
from accounts.models import Project, ProjectAccess
from accounts.selectors import project_for_user_or_404, projects_for_user
from connections.catalog.app_slot import AppSlot
from connections.runtime_users import may_manage_others
from recipes.builtins import app_for
from recipes.models import Recipe
from recipes.runtime import jobs as job_services
from recipes.runtime.jobs import ConnectionFailure
from recipes.runtime.models import Job, JobStep
from recipes.runtime.selectors import (
    ACTIVE,
    JobFilters,
    any_active,
    job_for_user_or_404,
    job_steps,
    jobs_for_user,
    jobs_page,
)
from recipes.selectors import recipe_for_user_or_404, recipes_for_user, visible_connection_ids

PAGE_SIZE = 50


# --- lists --------------------------------------------------------------------------------------


@privilege_required("recipes.view_recipe")
def recipe_jobs(request, pk: int):
    recipe = recipe_for_user_or_404(request.user, pk)
    filters = replace(JobFilters.from_query(request.GET), recipe=None, project=None)
    return _job_list(request, recipe.jobs.all(), filters, title=f"Jobs of {recipe.name}", recipe=recipe)


@privilege_required("recipes.view_recipe")
def project_jobs(request, pk: int):
    project = project_for_user_or_404(request.user, pk)
    filters = replace(JobFilters.from_query(request.GET), project=None)
    recipes = project.recipes.order_by("name", "pk").values_list("pk", "name")
    return _job_list(request, Job.objects.filter(recipe__project=project), filters,
                     title=f"Jobs in {project.name}", project=project, recipe_choices=recipes)


@privilege_required("recipes.view_recipe")
def job_list(request):
    """Every job the person may see, for operators: by status, date, recipe and project."""
    filters = JobFilters.from_query(request.GET)
    recipes = recipes_for_user(request.user)
    if filters.project:
        recipes = recipes.filter(project_id=filters.project)
    return _job_list(request, jobs_for_user(request.user), filters, title="Jobs",
                     recipe_choices=recipes.order_by("name", "pk").values_list("pk", "name"),
                     project_choices=projects_for_user(request.user).order_by("name").only("name"))


def _job_list(request, jobs: QuerySet[Job], filters: JobFilters, *, title: str, recipe: Recipe | None = None,
              project: Project | None = None, recipe_choices=(), project_choices=()):
    page = jobs_page(jobs, filters, number=request.GET.get("page"), per_page=PAGE_SIZE)
    context = {
        "title": title, "recipe": recipe, "project": project, "page": page, "rows": page.object_list,
        "filters": filters, "page_query": urlencode(filters.query()), "statuses": Job.Status.choices,
        "recipe_choices": recipe_choices, "project_choices": project_choices,
        # A recipe's page names no recipe in its rows, a project's no project.
        "show_recipe": recipe is None, "show_project": recipe is None and project is None,
        "live": any_active(page.object_list), "refresh_url": request.get_full_path(),
    }
    template = "recipes/jobs/_job_table.html" if request.htmx else "recipes/jobs/job_list.html"
    return _render(request, template, context)


def _render(request, template: str, context: dict, status: int = 200):
    """A page, or its fragment for htmx's refresh: caches keep the two apart (a Back button shows the page)."""
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- one job ------------------------------------------------------------------------------------


@privilege_required("recipes.view_recipe")
def job_detail(request, pk: int):
    return _job_page(request, job_for_user_or_404(request.user, pk))


def _job_page(request, job: Job, *, blocked: list[ConnectionFailure] = ()):
    steps = job_steps(job)
    user = request.user
    # A step names its connection by a link only where the person may open that connection's page; a connection
    # in a project they cannot see is not named at all (as on the recipe's page).
    visible = visible_connection_ids(user, (step.connection for step in steps))
    may_open = user.has_perm("connections.view_connection")
    # A person's own (runtime user) connection opens on its owner's "My connections" page, for them and for those
    # who manage everyone's.
    manages = may_manage_others(user)
    rows = []
    for step in steps:
        child = step.connection if step.connection_id and step.connection.owner_id else None
        child_url = (reverse("my_connection_detail", args=[child.pk])
                     if child is not None and (child.owner_id == user.pk or manages) else "")
        rows.append({"step": step, "app": _step_app_label(step), "child_url": child_url,
                     "connection_hidden": bool(step.connection_id) and not child_url
                     and step.connection_id not in visible,
                     "link": may_open and step.connection_id in visible and not child_url})
    can_rerun = (job.status == Job.Status.FAILED and user.has_perm("recipes.start_recipe")
                 and user.has_perm(f"accounts.{ProjectAccess.USE.value}", job.recipe.project))
    context = {
        "job": job, "recipe": job.recipe, "steps": rows, "live": not job.finished, "can_rerun": can_rerun,
        "resume_at": next((step for step in steps if step.status != JobStep.Status.SUCCEEDED), None),
        "reruns": list(job.reruns.order_by("-created_at", "-pk").only("pk", "status", "created_at")[:10]),
        "blocked": blocked,
        # The link a failed job asks its person to follow (connect their own account) is theirs alone.
        "action_for_me": bool(job.action_url) and job.run_as_id == user.pk,
    }
    template = "recipes/jobs/_job_live.html" if request.htmx else "recipes/jobs/job_detail.html"
    return _render(request, template, context)


def _step_app_label(step: JobStep) -> str:
    """The app's name ("Scheduler", "Salesforce (secondary)"), or its key when the catalog no longer has it."""
    app = app_for(AppSlot(step.connector_key, step.slot))
    return app.name if app is not None else step.connector_key


# --- re-run -------------------------------------------------------------------------------------


@privilege_required("recipes.start_recipe")
@require_POST
def job_rerun(request, pk: int):
    """Re-run a failed job once the recipe's connections pass a test: it resumes at the step that failed, or
    starts over when the person asks ("Run every step again from the start")."""
    job = job_for_user_or_404(request.user, pk, ProjectAccess.USE)
    if job.status != Job.Status.FAILED:
        messages.error(request, f"Only a failed job can be re-run: job {job.pk} is "
                                f"{job.get_status_display().lower()}.")
        return redirect(job)
    unfinished = job.reruns.filter(status__in=ACTIVE).order_by("pk").first()
    if unfinished is not None:  # a second click, or a colleague's re-run: one at a time sends nothing twice
        messages.error(request, f"Job {unfinished.pk}, a re-run of job {job.pk}, has not finished yet: wait for it "
                                "before re-running this job again.")
        return redirect(unfinished)
    failures = _connection_failures(request, job.recipe)
    if failures:
        return _job_page(request, job, blocked=failures)
    from_start = request.POST.get("from_start") == "1"
    rerun = job_services.job_rerun(job=job, acting_user=request.user, from_start=from_start)
    messages.success(request, f"Job {rerun.pk} started: a re-run of job {job.pk}, "
                              + ("running every step from the start." if from_start
                                 else "resuming at the step that failed."))
    return redirect(rerun)


def _connection_failures(request, recipe: Recipe) -> list[ConnectionFailure]:
    """Test each connection the recipe's actions use (what a re-run will call); the failures, in app order."""
    return job_services.job_rerun_blockers(recipe=recipe, acting_user=request.user, ip=request.META.get("REMOTE_ADDR"))

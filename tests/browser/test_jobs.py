"""Watching a job run in the browser: a real Celery worker runs it against the API test server, which holds the
step's request until the test lets it go; the job's page and the recipe's jobs turn "Succeeded" without a reload."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from recipes.runtime.jobs import job_create
from recipes.runtime.models import Job
from tests.conftest import celery_worker
from tests.recipes.runtime.conftest import credential_connection, make_recipe, running_recipe  # noqa: F401

# The worker is another process: it must see what the test writes.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINISH_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def jobs_worker(django_db_setup):
    """A worker consuming a private jobs queue (yielded), stopped by its pid when the module ends."""
    queue = f"splice-jobs-{uuid.uuid4().hex[:8]}"
    with celery_worker(queue, SPLICE_JOBS_QUEUE=queue):
        yield queue


def test_a_running_job_turns_succeeded_without_a_reload(browser_as, builder, running_recipe, api_server,  # noqa: F811
                                                        jobs_worker, settings):
    settings.SPLICE_JOBS_QUEUE = jobs_worker
    recipe = running_recipe([("scheduler", "every", {"minutes": "5"}), ("loopback", "list_items", {})],
                            name="List the items")
    api_server.set_fault("hang", "/api/items", hang_seconds=60)
    job = job_create(recipe=recipe, trigger_kind=Job.Trigger.SCHEDULE, trigger_data={"scheduled_at": "noon"})
    api_server.wait_for_requests("/api/items")  # the worker is inside the step, waiting for the app

    page = browser_as(builder)
    page.goto(f"/jobs/{job.pk}/")
    status = page.locator("#job-status")
    expect(status).to_have_text("Running")
    expect(page.get_by_text("This page updates by itself while the job runs.")).to_be_visible()
    jobs = page.context.new_page()
    jobs.goto(f"/recipes/{recipe.pk}/jobs/")
    row = jobs.get_by_role("row", name=f"Job {job.pk}")
    expect(row).to_contain_text("Running")
    for opened in (page, jobs):
        opened.evaluate("window.splicePageLoadedOnce = true")  # gone if the page reloads

    api_server.clear_fault("/api/items")  # the app answers now
    expect(status).to_have_text("Succeeded", timeout=FINISH_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Step 2: Loopback · List items")).to_be_visible()
    expect(page.get_by_label("Output of step 2")).to_contain_text("First item")
    expect(page.get_by_text("This page updates by itself while the job runs.")).to_have_count(0)
    expect(row).to_contain_text("Succeeded", timeout=FINISH_TIMEOUT_MS)
    for opened in (page, jobs):
        assert opened.evaluate("window.splicePageLoadedOnce === true"), f"{opened.url} was reloaded"
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED

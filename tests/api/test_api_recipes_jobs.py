"""/api/v1/recipes and their jobs: list, show with steps, bindings and design-time errors, start (409 listing the
errors), stop, a recipe's jobs with filters and a cursor, a job with its steps, and re-running a failed one."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from accounts.models import ProjectAccess
from api.models import ApiWrite
from recipes.runtime.models import Job, JobStep
from tests.api.conftest import Api, problem

pytestmark = pytest.mark.django_db

STEPS = [("loopback", "new_item", {}), ("loopback", "create_item", {"name": "{{trigger.name}}"})]


@pytest.fixture
def recipe(running_recipe):
    return running_recipe(STEPS, name="Copy new items", start=False)


def test_list_and_show(api, recipe, make_recipe):
    broken = make_recipe("No connection yet", steps=STEPS)
    page = api.get("/recipes").json()
    assert [r["name"] for r in page["items"]] == ["Copy new items", "No connection yet"]
    assert [r["design_time_error_count"] > 0 for r in page["items"]] == [False, True]
    assert [r["id"] for r in api.get("/recipes?limit=1").json()["items"]] == [recipe.pk]
    shown = api.get(f"/recipes/{recipe.pk}").json()
    assert [(s["position"], s["app"], s["operation"]) for s in shown["steps"]] == [
        (1, "loopback", "new_item"), (2, "loopback", "create_item")]
    assert shown["bindings"] == [{"app": "loopback", "runtime_user": False,
                                  "connection_id": recipe.bindings.get().connection_id}]
    assert shown["design_time_errors"] == []
    errors = api.get(f"/recipes/{broken.pk}").json()["design_time_errors"]
    assert errors and errors[0]["code"] == "no_connection"
    assert problem(api.get("/recipes?kind=robot"), 400)["errors"].keys() == {"kind"}


def test_start_stop_and_a_start_refused_with_its_errors(api, recipe, make_recipe, builder):
    started = api.post(f"/recipes/{recipe.pk}/start")
    assert started.status_code == 200 and started.json()["running"] is True
    assert api.post(f"/recipes/{recipe.pk}/start").json()["running"] is True  # already: nothing changes
    stopped = api.post(f"/recipes/{recipe.pk}/stop")
    assert stopped.json()["running"] is False
    writes = list(ApiWrite.objects.filter(object_type="recipe").values_list("operation", "token_name", "actor"))
    assert writes == [("recipe_stop", "Deploy pipeline", builder.pk), ("recipe_start", "Deploy pipeline", builder.pk)]
    broken = make_recipe("No connection yet", steps=STEPS)
    answer = problem(api.post(f"/recipes/{broken.pk}/start"), 409, "recipe_has_errors")
    assert answer["design_time_errors"][0]["code"] == "no_connection"
    assert "has no connection" in answer["detail"]


def test_refusals(client, make_user, make_token, project, builder, recipe):
    viewer = make_user("Viewer", email="viewer3@example.com")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=viewer)
    as_viewer = Api(client, make_token(viewer))
    assert as_viewer.get(f"/recipes/{recipe.pk}").status_code == 200
    assert problem(as_viewer.post(f"/recipes/{recipe.pk}/start"), 403)["privilege"] == "recipes.start_recipe"
    stranger = make_user("Admin", email="stranger3@example.com")
    as_stranger = Api(client, make_token(stranger))
    for response in (as_stranger.get(f"/recipes/{recipe.pk}"), as_stranger.post(f"/recipes/{recipe.pk}/start"),
                     as_stranger.get(f"/recipes/{recipe.pk}/jobs")):
        problem(response, 404, "not_found")
        assert "Copy new items" not in response.content.decode()
    problem(Api(client, None).get("/recipes"), 401, "missing_token")
    problem(as_viewer.get("/recipes/99999999999999999999"), 404, "not_found")  # no id a table can hold


def test_jobs_list_show_and_rerun(api, recipe, builder, make_user):
    other = make_user("Builder", email="runner@example.com")
    done = Job.objects.create(recipe=recipe, trigger_kind=Job.Trigger.POLL, status=Job.Status.SUCCEEDED)
    failed = Job.objects.create(recipe=recipe, trigger_kind=Job.Trigger.CALL, status=Job.Status.FAILED,
                                error="Create item: the app said 500.", run_as=other, trigger_data={"name": "Ada"})
    JobStep.objects.create(job=failed, position=1, connector_key="loopback", operation_key="new_item",
                           status=JobStep.Status.SUCCEEDED, input={}, output={"name": "Ada"})
    JobStep.objects.create(job=failed, position=2, connector_key="loopback", operation_key="create_item",
                           status=JobStep.Status.FAILED, input={"name": "Ada", "token": "••••"}, error="500")
    listed = api.get(f"/recipes/{recipe.pk}/jobs").json()
    assert [j["id"] for j in listed["items"]] == [failed.pk, done.pk]
    assert [j["id"] for j in api.get(f"/recipes/{recipe.pk}/jobs?status=failed").json()["items"]] == [failed.pk]
    assert [j["id"] for j in api.get(f"/recipes/{recipe.pk}/jobs?run_as_id={other.pk}").json()["items"]] == [
        failed.pk]
    first = api.get(f"/recipes/{recipe.pk}/jobs?limit=1").json()
    second = api.get(f"/recipes/{recipe.pk}/jobs?limit=1&cursor={first['next_cursor']}").json()
    assert [j["id"] for j in first["items"] + second["items"]] == [failed.pk, done.pk]
    assert second["next_cursor"] is None
    problem(api.get(f"/recipes/{recipe.pk}/jobs?created_after=soon"), 400)

    shown = api.get(f"/recipes/{recipe.pk}/jobs/{failed.pk}").json()
    assert [(s["position"], s["status"]) for s in shown["steps"]] == [(1, "succeeded"), (2, "failed")]
    assert shown["steps"][1]["input"] == {"name": "Ada", "token": "••••"}
    problem(api.get(f"/recipes/{recipe.pk}/jobs/{failed.pk + 1000}"), 404)

    problem(api.post(f"/recipes/{recipe.pk}/jobs/{done.pk}/rerun"), 409, "job_not_failed")
    rerun = api.post(f"/recipes/{recipe.pk}/jobs/{failed.pk}/rerun?from_start=false")
    assert rerun.status_code == 201, rerun.content
    made = rerun.json()
    assert made["rerun_of"] == failed.pk and made["run_as_id"] == builder.pk
    assert [s["position"] for s in made["steps"]] == [1]  # the step that succeeded is kept, not sent again
    problem(api.post(f"/recipes/{recipe.pk}/jobs/{failed.pk}/rerun"), 409, "rerun_unfinished")
    assert ApiWrite.objects.get(operation="job_rerun").object_id == made["id"]

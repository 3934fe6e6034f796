"""Callable recipes called through the API with a personal API token: the call is checked (the token, the owner's
privilege and project access, the recipe, the inputs against its declared fields), then its job runs on a real
Celery worker against the API test server and the answer is the Return result's fields; or 202 and a status URL
that shows the result later, when the job takes longer than the call waits or the caller asks for that.

The calls go through Django's test client (the whole middleware stack); the worker is a real process on a private
queue, sharing the test database and Redis, so each synchronous call really waits for it.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.urls import reverse

from accounts import services as account_services
from accounts.models import ProjectAccess
from recipes import services
from recipes.models import Recipe
from recipes.runtime.models import Job
from tests.conftest import TaskEvents, celery_worker
from tests.permissions import ALLOWED, ANONYMOUS, NO_PRIVILEGE, NO_PROJECT_ACCESS, Endpoint, matrix

pytestmark = pytest.mark.django_db

CALL_FIELDS = [
    {"name": "item_id", "type": "integer", "required": True},
    {"name": "note", "type": "string", "required": False},
    {"name": "urgent", "type": "boolean", "required": False},
    {"name": "tags", "type": "array", "required": False},
    {"name": "extra", "type": "object", "required": False},
    {"name": "amount", "type": "number", "required": False},
]
STEPS = [
    ("recipe_function", "new_call", {}),
    ("loopback", "get_item", {"id": "{{trigger.item_id}}"}),
    ("recipe_function", "return_result", {"id": "{{step2.id}}", "name": "{{step2.name}}",
                                          "note": "Asked for {{trigger.item_id}}: {{trigger.note}}"}),
]


@pytest.fixture
def callable_recipe(running_recipe, builder):
    """callable_recipe(start=True) -> "When called" (CALL_FIELDS) → loopback "Get item" on a Basic-auth connection
    to the API server → "Return result" {id, name, note} built from pills."""

    def make(*, start: bool = True, steps=STEPS):
        recipe = running_recipe(list(steps), kind=Recipe.Kind.CALLABLE, name="Look up an item", start=False)
        services.recipe_set_call_fields(recipe=recipe, fields=CALL_FIELDS, acting_user=builder)
        if start:
            services.recipe_start(recipe=recipe, acting_user=builder)
        recipe.refresh_from_db()
        return recipe

    return make


@pytest.fixture
def token(builder) -> str:
    return account_services.api_token_create(user=builder, name="Tests")[1]


def call(client, recipe_or_id, body=None, *, token: str | None, raw: bytes | None = None, query: str = "",
         **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    pk = getattr(recipe_or_id, "pk", recipe_or_id)
    data = raw if raw is not None else json.dumps({} if body is None else body)
    return client.post(reverse("recipe_call", args=[pk]) + query, data, content_type="application/json",
                       headers=headers)


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    answer = response.json()
    assert answer["error"] == code and answer["message"], answer
    assert Job.objects.count() == 0
    return answer


# --- checked before any job starts -----------------------------------------------------------------------------


def test_a_missing_required_input_is_a_400_naming_it(client, callable_recipe, token):
    recipe = callable_recipe()
    answer = refused(call(client, recipe, {"note": "hello"}, token=token), 400, "invalid_input")
    assert "“item_id” is required" in answer["message"]
    assert answer["fields"] == {"item_id": "is required"}
    null = refused(call(client, recipe, {"item_id": None}, token=token), 400, "invalid_input")
    assert null["fields"] == {"item_id": "is required"}
    assert refused(call(client, recipe, token=token, raw=b""), 400, "invalid_input")["fields"] == {
        "item_id": "is required"}  # an empty body is a call without inputs


@pytest.mark.parametrize("body, field, problem", [
    ({"item_id": "1"}, "item_id", "must be an integer (got a string)"),
    ({"item_id": 1.5}, "item_id", "must be an integer (got a number)"),
    ({"item_id": True}, "item_id", "must be an integer (got a boolean)"),
    ({"item_id": 1, "note": 5}, "note", "must be a string (got an integer)"),
    ({"item_id": 1, "urgent": "yes"}, "urgent", "must be true or false (got a string)"),
    ({"item_id": 1, "tags": {"a": 1}}, "tags", "must be a JSON array (got an object)"),
    ({"item_id": 1, "extra": [1]}, "extra", "must be a JSON object (got an array)"),
    ({"item_id": 1, "amount": False}, "amount", "must be a number (got a boolean)"),
    ({"item_id": 1, "itemid": 2}, "itemid", "is not an input of this recipe"),
])
def test_a_wrong_type_or_an_unknown_field_is_a_400_naming_it(client, callable_recipe, token, body, field, problem):
    answer = refused(call(client, callable_recipe(), body, token=token), 400, "invalid_input")
    assert answer["fields"] == {field: problem}
    assert f"“{field}” {problem}" in answer["message"]
    assert "This recipe takes: item_id, note, urgent, tags, extra, amount." in answer["message"]


def test_every_problem_is_named_at_once(client, callable_recipe, token):
    answer = refused(call(client, callable_recipe(), {"note": 1, "colour": "red", "size": 2}, token=token),
                     400, "invalid_input")
    assert set(answer["fields"]) == {"item_id", "note", "colour", "size"}


@pytest.mark.parametrize("raw, says", [
    (b"[1, 2]", "must be a JSON object"),
    (b'"item"', "must be a JSON object"),
    (b"{item_id: 1}", "not valid JSON"),
    (b'{"item_id": NaN}', "NaN is not a JSON number"),
    (b'{"item_id": 1, "note": "a\\u0000b"}', "NUL character"),
    (b'{"item_id": 1, "note": "\\ud800"}', "lone surrogate"),
    (b'{"item_id": 1, "extra": ' + b'{"a": ' * 70 + b"1" + b"}" * 71, "nested more than 64 levels"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_a_body_that_is_not_a_json_object_of_inputs_is_a_400_saying_why(client, callable_recipe, token, raw, says):
    answer = refused(call(client, callable_recipe(), token=token, raw=raw), 400, "malformed_body")
    assert says in answer["message"]


def test_a_body_over_the_limit_is_a_413(client, callable_recipe, token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = refused(call(client, callable_recipe(), {"item_id": 1, "note": "x" * 2000}, token=token), 413,
                     "too_large")
    assert "1000 bytes" in answer["message"]


def test_a_revoked_or_unknown_token_is_a_401(client, callable_recipe, builder):
    recipe = callable_recipe()
    saved, plaintext = account_services.api_token_create(user=builder, name="Soon revoked")
    account_services.api_token_revoke(token=saved, acting_user=builder)
    for presented in (plaintext, "spl_" + "x" * 43):
        response = refused(call(client, recipe, {"item_id": 1}, token=presented), 401, "invalid_token")
        assert "revoked" in response["message"]
    no_token = call(client, recipe, {"item_id": 1}, token=None)
    refused(no_token, 401, "missing_token")
    assert no_token["WWW-Authenticate"] == 'Bearer realm="Splice API"'


def test_a_stopped_or_standard_recipe_is_a_409_saying_so(client, callable_recipe, make_recipe, builder, token):
    stopped = callable_recipe(start=False)
    assert "is stopped" in refused(call(client, stopped, {"item_id": 1}, token=token), 409, "not_running")["message"]
    standard = make_recipe("Nightly report")
    answer = refused(call(client, standard, {}, token=token), 409, "not_callable")
    assert "not a callable recipe" in answer["message"]
    refused(call(client, 987654321, {}, token=token), 404, "not_found")


def test_only_post_calls_and_other_api_addresses_answer_json_404(client, callable_recipe, token):
    recipe = callable_recipe()
    response = client.get(reverse("recipe_call", args=[recipe.pk]), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405 and response["Allow"] == "POST" and response.json()["error"]
    elsewhere = client.post("/api/v1/recipes/call-them-all", "{}", content_type="application/json")
    assert elsewhere.status_code == 404 and elsewhere.json()["error"] == "not_found"
    assert Job.objects.count() == 0


# --- who may call, and read a job: the token owner's privilege and project access ------------------------------


def _endpoints(recipe, job) -> dict[str, Endpoint]:
    return {
        "call": Endpoint(reverse("recipe_call", args=[recipe.pk]) + "?async=1", method="post",
                         privilege="recipes.start_recipe", access=ProjectAccess.USE, data={"item_id": 1},
                         allowed=(202,)),
        "job": Endpoint(reverse("api_job", args=[job.pk]), privilege="recipes.view_recipe",
                        access=ProjectAccess.VIEW),
    }


@pytest.mark.parametrize("cell", matrix(_endpoints(Recipe(pk=1), Job(pk=1))))
def test_permission_matrix(client, make_user, callable_recipe, builder, project, cell):
    """As the jobs pages, with a token instead of a session: no token → 401, no privilege → 403 naming it, no
    project access → 404 that names nothing, allowed → the answer. Calling needs "Start and stop recipes" and use
    access (a Viewer, who may only look, cannot make a recipe act); reading a job, what the jobs pages need. (The
    allowed call's job is never enqueued: the test's transaction does not commit.)"""
    recipe = callable_recipe()
    job = Job.objects.create(recipe=recipe, trigger_kind=Job.Trigger.CALL, status=Job.Status.SUCCEEDED,
                             result={"id": 1})
    endpoint = _endpoints(recipe, job)[cell.name]
    headers = {}
    if cell.expected != ANONYMOUS:
        person = make_user(cell.role)
        if cell.level:
            account_services.project_share(project=project, acting_user=builder, level=ProjectAccess(cell.level),
                                           user=person)
        headers["Authorization"] = "Bearer " + account_services.api_token_create(user=person, name="Matrix")[1]
    data = json.dumps(endpoint.data) if endpoint.method == "post" else None
    response = getattr(client, endpoint.method)(endpoint.url, data, content_type="application/json",
                                                headers=headers)
    answer = response.json()
    if cell.expected == ANONYMOUS:
        assert response.status_code == 401 and answer["error"] == "missing_token"
    elif cell.expected == NO_PRIVILEGE:
        assert response.status_code == 403 and answer["error"] == "missing_privilege"
        assert answer["privilege"] == endpoint.privilege
    elif cell.expected == NO_PROJECT_ACCESS:
        assert response.status_code == 404 and answer["error"] == "not_found"
        assert recipe.name not in response.text and "result" not in answer
    else:
        assert cell.expected == ALLOWED and response.status_code in endpoint.allowed, answer
    if cell.name == "call":
        made = Job.objects.filter(trigger_kind=Job.Trigger.CALL).exclude(pk=job.pk)
        assert made.count() == (1 if cell.expected == ALLOWED else 0)
        if cell.expected == ALLOWED:
            assert made.get().run_as == person and made.get().trigger_data == {"item_id": 1}


# --- end to end: a real worker runs the job while the call waits ------------------------------------------------

task_events: TaskEvents


@pytest.fixture(scope="module")
def jobs_worker(django_db_setup, tmp_path_factory):
    """A worker consuming a private jobs queue; it says as each task ends."""
    global task_events
    queue = f"splice-calls-{uuid.uuid4().hex[:8]}"
    task_events = TaskEvents(tmp_path_factory.mktemp("events"))
    try:
        with celery_worker(queue, SPLICE_JOBS_QUEUE=queue, SPLICE_TEST_TASK_EVENTS=task_events.path):
            yield queue
    finally:
        task_events.close()


@pytest.fixture
def worker(jobs_worker, settings):
    """The worker, with this process enqueueing jobs onto its queue."""
    settings.SPLICE_JOBS_QUEUE = jobs_worker
    return jobs_worker


def finished(job_id: int) -> Job:
    return task_events.wait_for(lambda: Job.objects.filter(pk=job_id, status__in=Job.FINISHED).first(),
                                f"job {job_id} to finish")


@pytest.mark.django_db(transaction=True)
def test_a_call_answers_with_the_result_of_its_return_step(client, callable_recipe, token, worker, api_server,
                                                           builder):
    recipe = callable_recipe()
    response = call(client, recipe, {"item_id": 1, "note": "for Ada"}, token=token)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["status"] == "succeeded"
    assert answer["result"] == {"id": 1, "name": "First item", "note": "Asked for 1: for Ada"}
    assert response["Cache-Control"] == "no-store"

    sent = api_server.last_request()
    assert sent["method"] == "GET" and sent["path"] == "/api/items/1" and sent["auth"] == "basic"
    job = Job.objects.get(pk=answer["job"])
    assert job.trigger_kind == Job.Trigger.CALL and job.run_as == builder
    assert job.trigger_data == {"item_id": 1, "note": "for Ada"}


@pytest.mark.django_db(transaction=True)
def test_async_answers_202_at_once_and_the_job_url_then_shows_the_result(client, callable_recipe, token, worker,
                                                                         api_server, settings):
    recipe = callable_recipe()
    api_server.set_fault("hang", "/api/items/2", hang_seconds=2, times=1)  # the job is surely running when we look
    for how in ({"query": "?async=1"}, {"Prefer": "respond-async"}):
        started = time.monotonic()
        response = call(client, recipe, {"item_id": 2}, token=token, **how)
        assert response.status_code == 202, response.content
        assert time.monotonic() - started < 1.5  # it did not wait for the app's answer
        answer = response.json()
        assert answer["status"] in ("pending", "running")
        assert answer["status_url"] == settings.SPLICE_BASE_URL + reverse("api_job", args=[answer["job"]])
        assert response["Location"] == answer["status_url"]

        finished(answer["job"])
        polled = client.get(answer["status_url"].removeprefix(settings.SPLICE_BASE_URL),
                            headers={"Authorization": f"Bearer {token}"})
        assert polled.status_code == 200
        state = polled.json()
        assert state["status"] == "succeeded" and state["finished_at"]
        assert state["result"] == {"id": 2, "name": "Second item", "note": "Asked for 2: "}


@pytest.mark.django_db(transaction=True)
def test_a_call_that_outlasts_its_wait_answers_202_with_the_job_to_follow(client, callable_recipe, token, worker,
                                                                          api_server, settings):
    settings.SPLICE_CALL_TIMEOUT = 0.5
    recipe = callable_recipe()
    api_server.set_fault("hang", "/api/items/1", hang_seconds=3, times=1)
    started = time.monotonic()
    response = call(client, recipe, {"item_id": 1}, token=token)
    waited = time.monotonic() - started
    assert response.status_code == 202, response.content
    assert 0.4 < waited < 2.5
    job = finished(response.json()["job"])
    assert job.status == Job.Status.SUCCEEDED and job.result["name"] == "First item"

    # a shorter wait asked for with Prefer: wait is honoured too
    settings.SPLICE_CALL_TIMEOUT = 30
    api_server.set_fault("hang", "/api/items/1", hang_seconds=3, times=1)
    started = time.monotonic()
    assert call(client, recipe, {"item_id": 1}, token=token, Prefer="wait=0.5").status_code == 202
    assert time.monotonic() - started < 2.5


@pytest.mark.django_db(transaction=True)
def test_a_failed_job_answers_502_with_its_error(client, callable_recipe, token, worker, api_server):
    recipe = callable_recipe()
    response = call(client, recipe, {"item_id": 404}, token=token)  # the app has no such item
    assert response.status_code == 502, response.content
    answer = response.json()
    job = Job.objects.get(pk=answer["job"])
    assert job.status == Job.Status.FAILED
    assert answer["error"] == "job_failed" and answer["message"] == job.error and job.error
    assert answer["status_url"].endswith(reverse("api_job", args=[job.pk]))


@pytest.mark.django_db(transaction=True)
def test_a_retried_call_with_the_same_idempotency_key_runs_the_recipe_once(client, callable_recipe, token, worker,
                                                                            api_server):
    recipe = callable_recipe()
    key = str(uuid.uuid4())
    first = call(client, recipe, {"item_id": 1}, token=token, **{"Idempotency-Key": key})
    again = call(client, recipe, {"item_id": 1}, token=token, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert Job.objects.count() == 1
    assert api_server.stats()["by_path"]["/api/items/1"] == 1
    other = call(client, recipe, {"item_id": 1}, token=token, **{"Idempotency-Key": str(uuid.uuid4())})
    assert other.status_code == 200 and other.json()["job"] != first.json()["job"]


def test_an_input_field_named_like_a_secret_is_refused_with_the_reason():
    from recipes.builtins import call_fields_clean

    with pytest.raises(ValueError, match="named like a secret"):
        call_fields_clean([{"name": "api_token", "type": "string"}])
    assert call_fields_clean([{"name": "passengers", "type": "integer"}])[0]["name"] == "passengers"

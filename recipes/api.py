"""The API programs call with a personal API token (accounts.api_auth): call a callable recipe, and read a job.

    POST /api/v1/recipes/<id>/call   {"item_id": 7}  →  200 {"job": 12, "status": "succeeded", "result": {...}}
    GET  /api/v1/jobs/<id>                           →  200 {"job": 12, "status": "running", ...}

A call is checked, then makes a job (committed, then enqueued) that a worker runs, and waits for it up to
SPLICE_CALL_TIMEOUT (or `Prefer: wait=<seconds>`, if shorter): 200 with the Return result's fields, 502 when the job
failed (its error and recommendations), or 202 with the job's status URL when it is still running, at once when the
caller asks (`?async=1` or `Prefer: respond-async`). An `Idempotency-Key` header makes a retried call answer with
the first call's job instead of running the recipe again.

Who may call: the token's owner needs the "Start and stop recipes" privilege and use access to the recipe's
project. Calling makes the recipe act in its apps with its connections, which is running it: what a person needs
to start a recipe or re-run its job, not what lets them look at it (a Viewer reads recipes and jobs, and changes
nothing). Reading a job is what the jobs pages allow: "View recipes" and view access to the project.

Every answer is JSON, refusals included: RFC 9457 problems (accounts.api_auth.api_error; the job's own status, in
a refusal, is `job_status`); a recipe or job the owner may not use is
a 404, the same as one that does not exist. The path is kept short: the token, the privilege and the recipe cost a
few indexed queries, and the job one insert.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from accounts.api_auth import api_error, api_response, api_token_required
from accounts.models import ProjectAccess
from recipes.models import Recipe
from recipes.runtime.bodies import BodyRefused, json_body
from recipes.runtime.jobs import job_create
from recipes.runtime.models import Job
from recipes.runtime.selectors import jobs_for_user
from recipes.runtime.waiting import job_wait
from recipes.selectors import recipes_for_user

__all__ = ["CallRefused", "api_job", "api_not_found", "call_inputs", "recipe_call"]

_IDEMPOTENCY_KEY_MAX = 100
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "object": "a JSON object", "array": "a JSON array"}


class CallRefused(Exception):
    """A call Splice does not take: the HTTP status, a short code, a message, and details for a program."""

    def __init__(self, status: int, code: str, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self):
        return api_error(self.status, self.code, self.message, **self.extra)


# --- inputs ----------------------------------------------------------------------------------------------------


def call_inputs(recipe: Recipe, body: bytes) -> dict[str, Any]:
    """The call's inputs, checked against the recipe's declared fields; raises CallRefused (400) naming every field
    that is missing, of the wrong type, or not declared. An empty body is a call with no inputs."""
    payload = _parse(body) if body.strip() else {}
    declared = {f["name"]: f for f in recipe.call_fields or [] if isinstance(f, dict) and f.get("name")}
    problems: dict[str, str] = {}
    for name in payload:
        if name not in declared:
            problems[name] = "is not an input of this recipe"
    for name, declared_field in declared.items():
        value = payload.get(name)
        if value is None:
            if declared_field.get("required"):
                problems[name] = "is required"
            continue
        expected = declared_field.get("type", "string")
        if not _is_type(value, expected):
            problems[name] = f"must be {_TYPE_NAMES.get(expected, expected)} (got {_json_type(value)})"
    if problems:
        takes = ", ".join(declared) or "no inputs"
        listed = "; ".join(f"“{name}” {problem}" for name, problem in problems.items())
        raise CallRefused(400, "invalid_input", f"Check the inputs: {listed}. This recipe takes: {takes}.",
                          fields=problems)
    return payload


def _is_type(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    return True  # a type Splice no longer declares: call_fields_clean refuses it when the fields are saved


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _parse(body: bytes) -> dict:
    """The body as a JSON object that PostgreSQL can keep; raises CallRefused (400) saying what is wrong."""
    try:
        payload = json_body(body)
    except BodyRefused as exc:
        raise _malformed(str(exc)) from None
    if not isinstance(payload, dict):
        raise _malformed("The body must be a JSON object of the recipe's inputs, like {\"name\": \"value\"}.")
    return payload


def _malformed(message: str) -> CallRefused:
    return CallRefused(400, "malformed_body", message)


def _read_body(request) -> bytes:
    try:
        return request.body
    except RequestDataTooBig:
        raise CallRefused(413, "too_large", f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes, "
                          "the most Splice accepts.") from None


# --- how long to wait -------------------------------------------------------------------------------------------


def _preferences(request) -> dict[str, str]:
    """The Prefer header's preferences (RFC 7240): {"respond-async": "", "wait": "10"}."""
    preferences = {}
    for item in request.META.get("HTTP_PREFER", "").split(","):
        name, _, value = item.split(";")[0].strip().partition("=")
        if name:
            preferences[name.lower()] = value.strip().strip('"')
    return preferences


def _wait_seconds(request, preferences: dict[str, str]) -> float:
    """0 for an asynchronous call, else SPLICE_CALL_TIMEOUT or a shorter `Prefer: wait`."""
    if request.GET.get("async", "").lower() in ("1", "true", "yes") or "respond-async" in preferences:
        return 0.0
    timeout = settings.SPLICE_CALL_TIMEOUT
    try:
        asked = float(preferences.get("wait", ""))
    except ValueError:
        return timeout
    return min(timeout, asked) if math.isfinite(asked) and asked >= 0 else timeout


def _dedup_key(request, user_id: int) -> str | None:
    """The job's dedup key for an Idempotency-Key header: the caller's own (another person's same key is not
    theirs). Raises CallRefused (400) for a key Splice cannot keep."""
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key is None:
        return None
    if not 0 < len(key) <= _IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable():
        raise CallRefused(400, "invalid_idempotency_key", f"Send an Idempotency-Key of 1 to {_IDEMPOTENCY_KEY_MAX} "
                          "printable ASCII characters (a UUID is a good one).")
    return f"call:{user_id}:{key}"


# --- answers ----------------------------------------------------------------------------------------------------


def _status_url(job: Job) -> str:
    return settings.SPLICE_BASE_URL + reverse("api_job", args=[job.pk])


def _page_url(job: Job) -> str:
    return settings.SPLICE_BASE_URL + job.get_absolute_url()


def _call_answer(job: Job):
    """What a call answers once it has waited: the result, the job's failure, or where to follow it."""
    if job.status == Job.Status.SUCCEEDED:
        return api_response({"job": job.pk, "status": job.status, "result": job.result})
    if job.status == Job.Status.FAILED:
        # 502: Splice took the call, and the work it does in other apps failed (the job says why).
        return api_error(502, "job_failed", job.error or "The job failed.", job=job.pk, job_status=job.status,
                         error_code=job.error_code, recommendations=job.recommendations,
                         status_url=_status_url(job), job_url=_page_url(job), action_url=_action_url(job))
    if job.status == Job.Status.CANCELLED:
        return api_error(409, "job_cancelled", "The job was cancelled before it ran: the recipe was stopped.",
                         job=job.pk, job_status=job.status, status_url=_status_url(job))
    status_url = _status_url(job)
    response = api_response({"job": job.pk, "status": job.status, "status_url": status_url}, status=202)
    response["Location"] = status_url
    response["Retry-After"] = "1"
    return response


def _job_state(job: Job) -> dict[str, Any]:
    return {
        "job": job.pk, "recipe": job.recipe_id, "status": job.status,
        "result": job.result if job.status == Job.Status.SUCCEEDED else None,
        "error": job.error, "error_code": job.error_code, "recommendations": job.recommendations,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "status_url": _status_url(job), "job_url": _page_url(job), "action_url": _action_url(job),
    }


def _action_url(job: Job) -> str | None:
    """What the person the job ran as can do to let it succeed (connect their own account), absolute."""
    return settings.SPLICE_BASE_URL + job.action_url if job.action_url else None


def _not_found(what: str):
    return api_error(404, "not_found", f"There is no {what} with this id that you may use.")


# --- views ------------------------------------------------------------------------------------------------------


@transaction.non_atomic_requests  # the job must be committed (and so enqueued) before the view waits for it
@api_token_required("recipes.start_recipe")
def recipe_call(request, pk: int):
    """POST /api/v1/recipes/<id>/call: run the callable recipe with the body's inputs, as the token's owner."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    recipe = recipes_for_user(request.user, ProjectAccess.USE).filter(pk=pk).first()
    if recipe is None:
        return _not_found("recipe")
    try:
        if recipe.kind != Recipe.Kind.CALLABLE:
            raise CallRefused(409, "not_callable", f"“{recipe.name}” is not a callable recipe: make it callable in "
                              "its settings, and give it input fields and a Return result step.")
        if not recipe.running:
            raise CallRefused(409, "not_running", f"“{recipe.name}” is stopped: start it in Splice, then call it "
                              "again.")
        dedup_key = _dedup_key(request, request.user.pk)
        inputs = call_inputs(recipe, _read_body(request))
    except CallRefused as refused:
        return refused.response()
    preferences = _preferences(request)
    wait = _wait_seconds(request, preferences)
    job = job_create(recipe=recipe, trigger_kind=Job.Trigger.CALL, trigger_data=inputs, dedup_key=dedup_key,
                     run_as=request.user)
    if job is None:  # an earlier call with this Idempotency-Key made the job: answer with it
        job = Job.objects.get(recipe=recipe, dedup_key=dedup_key)
    if wait > 0 and not job.finished:
        job = job_wait(job.pk, wait)
    response = _call_answer(job)
    if wait == 0 and "respond-async" in preferences:
        response["Preference-Applied"] = "respond-async"
    return response


@api_token_required("recipes.view_recipe")
def api_job(request, pk: int):
    """GET /api/v1/jobs/<id>: the job's status, and its result or error once it has finished."""
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed("GET, HEAD")
    job = jobs_for_user(request.user, ProjectAccess.VIEW).filter(pk=pk).first()
    if job is None:
        return _not_found("job")
    return api_response(_job_state(job))


@csrf_exempt  # nothing here acts on a cookie: a POST to a mistyped address gets this answer, not a CSRF page
def api_not_found(request, path: str = ""):
    """Every other address under /api/v1/ answers in JSON too."""
    return api_error(404, "not_found", "There is no such API address. The API's addresses are listed in its "
                     "schema, /api/v1/openapi.json, and its docs, /api/v1/docs.")


def _method_not_allowed(allowed: str):
    response = api_error(405, "method_not_allowed", f"Use {allowed} here.")
    response["Allow"] = allowed
    return response

"""The callable call and a job's status (recipes.api) in the API's schema. They stay plain Django views, routed
before ninja's (api.urls): the call is the benchmarked path (benchmarks/callable_throughput.py), and a ninja
operation in front of it would add its argument parsing and response rendering to every call for nothing the view
lacks. Their schema is written here from pydantic models, and schemathesis checks that their answers match it
(tests/api/test_api_schema.py), so it cannot drift from what they do unnoticed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api.problems import Problem

__all__ = ["add_plain_views"]


class CallResult(BaseModel):
    job: int
    status: str = Field(description="succeeded")
    result: Any = Field(description="The Return result step's fields.")


class CallAccepted(BaseModel):
    job: int
    status: str = Field(description="pending or running")
    status_url: str = Field(description="GET it for the job's status (also in Location).")


class JobState(BaseModel):
    job: int
    recipe: int
    status: str
    result: Any = Field(description="The Return result's fields, once it succeeded.")
    error: str
    error_code: str
    recommendations: list[str]
    created_at: str
    started_at: str | None
    finished_at: str | None
    status_url: str
    job_url: str
    action_url: str | None = Field(description="A link for the person the job ran as (e.g. to connect their own "
                                               "account), when the job needs them.")


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str, content_type: str = "application/json") -> dict:
    return {"description": description, "content": {content_type: {"schema": _ref(model)}}}


def _problem(description: str) -> dict:
    return _json(Problem, description, "application/problem+json")


_ID = {"name": "id", "in": "path", "required": True,
       "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}


def _call_operation() -> dict:
    return {
        "post": {
            "operationId": "recipe_call", "tags": ["Recipes"], "summary": "Call a callable recipe",
            "description": "Runs the running callable recipe with the body's inputs (checked against its declared "
                           "fields) and waits for its job up to SPLICE_CALL_TIMEOUT, or a shorter `Prefer: wait=N`: "
                           "200 with the result, 202 and a status URL when it takes longer or the caller asks "
                           "(`?async=1`, `Prefer: respond-async`), 502 when the job failed. An `Idempotency-Key` "
                           "makes a retried call answer with the first call's job.",
            "parameters": [_ID,
                           {"name": "async", "in": "query", "required": False, "schema": {"type": "string"}},
                           {"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 100}}],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"type": "object", "additionalProperties": True,
                           "description": "The recipe's inputs, by name."}}}},
            "responses": {
                "200": _json(CallResult, "The job succeeded: its result."),
                "202": _json(CallAccepted, "The job is still running: follow status_url."),
                "400": _problem("An input is missing, of the wrong type or not declared, or the body is not JSON."),
                "401": _problem("No token, or one that does not work."),
                "403": _problem("The token's owner lacks “Start and stop recipes”."),
                "404": _problem("No such recipe that the token's owner may use."),
                "405": _problem("Only POST."),
                "409": _problem("Not callable, stopped, or the job was cancelled."),
                "413": _problem("The body is too large."),
                "502": _problem("The job failed: its error and recommendations."),
            },
            "security": [{"TokenAuth": []}],
        },
    }


def _job_operation() -> dict:
    return {
        "get": {
            "operationId": "job_status", "tags": ["Jobs"], "summary": "A job's status",
            "description": "The job's status, and its result or error once it has finished: where a call's "
                           "status_url leads. Its steps are at /recipes/{recipe_id}/jobs/{job_id}.",
            "parameters": [_ID],
            "responses": {
                "200": _json(JobState, "The job's state."),
                "401": _problem("No token, or one that does not work."),
                "403": _problem("The token's owner lacks “View recipes”."),
                "404": _problem("No such job that the token's owner may see."),
            },
            "security": [{"TokenAuth": []}],
        },
    }


def add_plain_views(schema: dict, prefix: str) -> dict:
    """Add the plain views' operations and their models to ninja's schema (paths under `prefix`, /api/v1/)."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (CallResult, CallAccepted, JobState, Problem):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(found.pop("$defs", {}))
        schemas.setdefault(model.__name__, found)
    schema["paths"][f"{prefix}recipes/{{id}}/call"] = _call_operation()
    schema["paths"][f"{prefix}jobs/{{id}}"] = _job_operation()
    return schema

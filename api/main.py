"""The REST API (django-ninja): its routers, token auth, rate limit, problem details, and the OpenAPI 3.1 schema
at /api/v1/openapi.json with its docs at /api/v1/docs, generated from this code."""

from __future__ import annotations

from django.conf import settings
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from ninja import NinjaAPI, Swagger

from api import connections, jobs, recipes, runtime_users
from api.callable import add_plain_views
from api.problems import install_problem_handlers
from api.security import TokenAuth, TokenRateLimit

__all__ = ["api"]

DESCRIPTION = """Splice's API for programs: connections, recipes and their jobs, with a personal API token
(`Authorization: Bearer <token>`, made on your profile page). The token acts as its owner: their privileges and
project access apply as on the pages (a missing privilege is a 403 naming it; anything in a project they cannot
access is a 404). Refusals are RFC 9457 problems (application/problem+json). Each token may make
SPLICE_API_RATE_LIMIT requests a minute (then 429 with Retry-After). Creates honour an Idempotency-Key."""


def _docs_csp(view):
    """Swagger UI styles its elements inline: the docs page (only) allows inline styles; its scripts stay 'self'."""
    policy = {**settings.SECURE_CSP, "style-src": [*settings.SECURE_CSP.get("style-src", [CSP.SELF]),
                                                   CSP.UNSAFE_INLINE]}
    return csp_override(policy)(view)


_COMMON_REFUSALS = {
    "400": "A parameter or field is not valid: `errors` names each.",
    "401": "No token, or one that does not work (unknown, revoked, its owner inactive).",
    "429": "Past the token's rate limit: wait for Retry-After seconds.",
}


class SpliceAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        _problems_as_problems(schema)
        return add_plain_views(schema, path_prefix or self.get_root_path(path_params or {}))


def _problems_as_problems(schema: dict) -> None:
    """Each operation's refusals as they are sent, application/problem+json, with the ones every operation may
    answer (a bad parameter, no token, the rate limit) declared too."""
    problem = {"$ref": "#/components/schemas/Problem"}
    for operations in schema["paths"].values():
        for operation in operations.values():
            responses = {str(status): response for status, response in operation.get("responses", {}).items()}
            operation["responses"] = responses  # ninja's keys are ints; JSON's (and the ones added here) strings
            for status, description in _COMMON_REFUSALS.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if int(status) >= 400:
                    response["content"] = {"application/problem+json": {"schema": problem}}
                    response.setdefault("description", "A refusal (RFC 9457).")


api = SpliceAPI(
    title="Splice API", version="1", description=DESCRIPTION, urls_namespace="api",
    auth=TokenAuth(), throttle=TokenRateLimit(), docs=Swagger(), docs_decorator=_docs_csp,
)
install_problem_handlers(api)
api.add_router("/connections", connections.router)
api.add_router("/recipes", recipes.router)
api.add_router("/recipes", jobs.router)
api.add_router("/runtime_user_connections", runtime_users.router)

"""Personal API tokens on JSON API views: `Authorization: Bearer <token>` makes the request its owner's, so the view
applies the owner's privileges and project access as it would in their browser.

    @api_token_required("recipes.start_recipe")
    def recipe_call(request, pk): ...   # request.user is the token's owner

Every refusal is an RFC 9457 problem (application/problem+json): `type`, `title`, `status` (the HTTP status),
`detail`, and, for programs written against the first API, `error` (a short code) and `message` (= detail).

The token is the whole credential: a session cookie sent alongside is not looked at (so these views need no CSRF
check, and are exempt from it). No refusal echoes, logs or hints at what was presented; Django's request log names
only the path, and its error reports and debug page hide the Authorization header (SafeExceptionReporterFilter)
and no frame that holds the token is still running when the view is.
"""

from __future__ import annotations

from functools import wraps
from http import HTTPStatus

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables

from accounts.access import privilege_name
from accounts.models import User
from accounts.services import api_token_user

__all__ = ["PROBLEM_CONTENT_TYPE", "api_error", "api_response", "api_token_required", "bearer_token", "problem_type",
           "token_owner"]

PROBLEM_CONTENT_TYPE = "application/problem+json"

_REALM = 'Bearer realm="Splice API"'
_HOW = "Create a personal API token on your profile page in Splice, and send it as “Authorization: Bearer <token>”."


def problem_type(code: str) -> str:
    """The problem's `type` URI: names the kind of refusal (RFC 9457 allows one that does not resolve)."""
    return f"urn:splice:problem:{code}"


def api_error(http_status: int, code: str, message: str, /, *, title: str = "", **extra) -> JsonResponse:
    """A refusal as an RFC 9457 problem: type (from `code`), title, status, detail (`message`), `error` and
    `message` (the first API's names, kept), and extension members (`extra`, e.g. "errors" per field)."""
    body = {"type": problem_type(code), "title": title or HTTPStatus(http_status).phrase, "status": http_status,
            "detail": message, "error": code, "message": message, **extra}
    response = api_response(body, status=http_status)
    response["Content-Type"] = PROBLEM_CONTENT_TYPE
    return response


def api_response(data: dict, *, status: int = 200) -> JsonResponse:
    """A JSON answer that no cache keeps: it holds a person's data."""
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


def bearer_token(request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 7235), else None."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _unauthorized(code: str, message: str, challenge: str) -> JsonResponse:
    response = api_error(401, code, message)
    response["WWW-Authenticate"] = challenge
    return response


@sensitive_variables()  # an error report of a failure in here shows none of its variables
def token_owner(request) -> User | JsonResponse:
    """The active owner of the request's token, or the 401 to answer; `request.api_token` is then the token (its
    name goes in the audit of what the request writes). The token lives in this frame only, which has returned
    before the view runs: no error page of the view can show it."""
    presented = bearer_token(request)
    if presented is None:
        return _unauthorized("missing_token", f"This API needs a personal API token. {_HOW}", _REALM)
    user = api_token_user(presented)
    if user is None:
        return _unauthorized("invalid_token", "This API token is not valid: it may have been revoked, or mistyped. "
                             "Create a new one on your profile page in Splice.", f'{_REALM}, error="invalid_token"')
    request.api_token = user.api_token  # the row api_token_user found: its name goes in the API's audit
    return user


def api_token_required(privilege: str | None = None):
    """View decorator: a valid token or 401 (RFC 6750's challenge in WWW-Authenticate); then, with `privilege`, the
    owner's roles must hold it, else 403 naming it. Unknown, revoked and an inactive owner's tokens get the same
    answer, so it tells nothing about a token that does not work."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = token_owner(request)
            if isinstance(user, HttpResponse):
                return user
            request.user = user
            if privilege is not None and not user.has_perm(privilege):
                return api_error(403, "missing_privilege", f"You need the “{privilege_name(privilege)}” privilege; "
                                 "an administrator can give you a role that has it.", privilege=privilege)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator

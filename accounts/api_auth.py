"""Personal API tokens on JSON API views: `Authorization: Bearer <token>` makes the request its owner's, so the view
applies the owner's privileges and project access as it would in their browser.

    @api_token_required("recipes.start_recipe")
    def recipe_call(request, pk): ...   # request.user is the token's owner

The token is the whole credential: a session cookie sent alongside is not looked at (so these views need no CSRF
check, and are exempt from it). No refusal echoes, logs or hints at what was presented; Django's request log names
only the path, and its error reports and debug page hide the Authorization header (SafeExceptionReporterFilter)
and no frame that holds the token is still running when the view is.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables

from accounts.access import privilege_name
from accounts.models import User
from accounts.services import api_token_user

__all__ = ["api_error", "api_response", "api_token_required", "bearer_token"]

_REALM = 'Bearer realm="Splice API"'
_HOW = "Create a personal API token on your profile page in Splice, and send it as “Authorization: Bearer <token>”."


def api_error(http_status: int, code: str, message: str, /, **extra) -> JsonResponse:
    """A JSON refusal: {"error": a short code a program can test, "message": what a person reads, ...extra} (which
    may hold a "status": the job's)."""
    return api_response({"error": code, "message": message, **extra}, status=http_status)


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
def _token_owner(request) -> User | JsonResponse:
    """The active owner of the request's token, or the 401 to answer. The token lives in this frame only, which has
    returned before the view runs: no error page of the view can show it."""
    presented = bearer_token(request)
    if presented is None:
        return _unauthorized("missing_token", f"This API needs a personal API token. {_HOW}", _REALM)
    user = api_token_user(presented)
    if user is None:
        return _unauthorized("invalid_token", "This API token is not valid: it may have been revoked, or mistyped. "
                             "Create a new one on your profile page in Splice.", f'{_REALM}, error="invalid_token"')
    return user


def api_token_required(privilege: str | None = None):
    """View decorator: a valid token or 401 (RFC 6750's challenge in WWW-Authenticate); then, with `privilege`, the
    owner's roles must hold it, else 403 naming it. Unknown, revoked and an inactive owner's tokens get the same
    answer, so it tells nothing about a token that does not work."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = _token_owner(request)
            if isinstance(user, HttpResponse):
                return user
            request.user = user
            if privilege is not None and not user.has_perm(privilege):
                return api_error(403, "missing_privilege", f"You need the “{privilege_name(privilege)}” privilege; "
                                 "an administrator can give you a role that has it.", privilege=privilege)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator

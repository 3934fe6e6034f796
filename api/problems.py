"""Every refusal of the REST API as an RFC 9457 problem (accounts.api_auth.api_error): the API's own
(`ApiProblem`), django-ninja's (a body or query that does not validate is a 400 naming each field), and the
services' (a Django ValidationError, per field where it says which)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import BaseModel, Field

from accounts.api_auth import api_error

__all__ = ["ApiProblem", "Problem", "Refused", "install_problem_handlers", "problem_from_validation"]


class Problem(BaseModel):
    """An RFC 9457 problem: what every refusal answers (application/problem+json)."""

    type: str = Field(description="A URI naming the kind of problem, e.g. urn:splice:problem:not_found.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time, and what to do about it.")
    error: str = Field(description="A short code a program can test (the last part of `type`).")
    message: str = Field(description="The same as `detail` (the name the first API used).")
    errors: dict[str, str] | None = Field(None, description="Per field: what is wrong with it.")

    model_config = {"extra": "allow"}


class ApiProblem(Exception):
    """Raised by an operation to answer a problem: status, code, detail, and extension members."""

    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                 **extra) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra, self.headers = status, code, detail, extra, headers or {}

    def response(self) -> HttpResponse:
        response = api_error(self.status, self.code, self.detail, **self.extra)
        for name, value in self.headers.items():
            response[name] = value
        return response


class Refused(Exception):
    """An answer already made (accounts.api_auth's 401), raised from where only an exception can stop a request."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def problem_from_validation(exc: DjangoValidationError, *, prefix_map: dict[str, str] | None = None) -> ApiProblem:
    """A service's ValidationError as a 400: each field's first message under `errors` (renamed by `prefix_map`,
    e.g. the wizard's "setting_base_url" → "settings.base_url"), all of them in `detail`."""
    errors: dict[str, str] = {}
    general: list[str] = []
    if hasattr(exc, "error_dict"):
        for name, messages in exc.message_dict.items():
            if name == "__all__":  # about the whole object (a constraint): in the detail, under no field
                general.extend(messages)
                continue
            field = name
            for prefix, replacement in (prefix_map or {}).items():
                if name.startswith(prefix):
                    field = replacement + name.removeprefix(prefix)
            errors[field] = messages[0]
    else:
        general.extend(exc.messages)
    text = " ".join([*general, *(f"“{name}”: {message}" for name, message in errors.items())])
    return ApiProblem(400, "invalid_request", text, errors=errors or None)


def _field_name(location: tuple) -> str:
    """ninja's error location ("body", "payload", "name") as the field a caller sent ("name")."""
    parts = [str(part) for part in location]
    source = parts[0] if parts else ""
    rest = parts[2:] if source == "body" and len(parts) > 2 else parts[1:]
    return ".".join(rest) or source


def install_problem_handlers(api: NinjaAPI) -> None:
    def validation(request, exc: NinjaValidationError):
        errors = {}
        for error in exc.errors:
            errors.setdefault(_field_name(tuple(error.get("loc", ()))), error.get("msg", "is not valid"))
        listed = "; ".join(f"“{name}”: {message}" for name, message in errors.items())
        return api_error(400, "invalid_request", f"Check the request: {listed}.", errors=errors)

    def throttled(request, exc: Throttled):
        return api_error(429, "rate_limited", "This token made more requests this minute than Splice takes "
                         "(SPLICE_API_RATE_LIMIT): wait for the time in Retry-After, then try again.")

    def unauthenticated(request, exc: AuthenticationError):
        return api_error(401, "missing_token", "This API needs a personal API token.")

    def http_error(request, exc: HttpError):
        code = "invalid_request" if exc.status_code == 400 else "http_error"  # ninja's: a body it cannot parse
        return api_error(exc.status_code, code, str(exc.message))

    def not_found(request, exc: Http404):
        return api_error(404, "not_found", "There is no such object that you may use.")

    api.add_exception_handler(ApiProblem, lambda request, exc: exc.response())
    api.add_exception_handler(Refused, lambda request, exc: exc.response)
    api.add_exception_handler(NinjaValidationError, validation)
    api.add_exception_handler(Throttled, throttled)
    api.add_exception_handler(AuthenticationError, unauthenticated)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(DjangoValidationError, lambda request, exc: problem_from_validation(exc).response())

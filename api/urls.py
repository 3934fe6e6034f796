"""The API for programs, mounted at /api/v1/, authenticated by personal API tokens: first the callable call and a
job's status (recipes.api_urls, plain views: the benchmarked path), then the ninja API (api.main: connections,
recipes, jobs, runtime user connections, the schema and docs), then a JSON 404 for every other address."""

from functools import wraps

from django.urls import include, path, re_path

from accounts.api_auth import api_error
from api.main import api
from recipes.api import api_not_found


def _method_not_allowed_as_problem(view):
    """ninja answers a method an address does not take with a bare 405: this one is a problem too."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "Allow" in response and "problem" not in response.get("Content-Type", ""):
            allowed = response["Allow"]
            response = api_error(405, "method_not_allowed", f"Use {allowed} here.")
            response["Allow"] = allowed
        return response

    return wrapped


_ninja_patterns, _ninja_app, _ninja_namespace = api.urls  # (not `app_name`: include() reads that of this module)
for _pattern in _ninja_patterns:
    _pattern.callback = _method_not_allowed_as_problem(_pattern.callback)

urlpatterns = [
    path("", include("recipes.api_urls")),
    path("", include((_ninja_patterns, _ninja_app), namespace=_ninja_namespace)),
    re_path(r"^(?P<path>.*)$", api_not_found),
]

"""Refuses a request whose path, query or form fields hold a NUL character, before any view sees it.

No person types one, and PostgreSQL refuses it in any text it is given (a filter, a lookup, a JSON value), so a
view that passes a raw parameter to a query would answer 500. Forms refuse it too ("Null characters are not
allowed"); this covers the parameters views read themselves (list filters, OAuth callbacks, ids).
"""

from __future__ import annotations

from django.http import HttpResponseBadRequest

__all__ = ["RefuseNulCharactersMiddleware"]

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Paths for programs that read their raw body themselves, each under a size limit of its own (a webhook's is
# SPLICE_WEBHOOK_MAX_BYTES): parsing it as a form here would read up to Django's larger upload limit first.
_RAW_BODY_PATHS = ("/hooks/", "/api/", "/workbot/")
MESSAGE = "The request contains a NUL character (%00), which Splice never accepts. Remove it and try again."


def _has_nul(data) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists())


class RefuseNulCharactersMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info or _has_nul(request.GET) or (
            request.method == "POST" and request.content_type in _FORM_TYPES
            and not request.path_info.startswith(_RAW_BODY_PATHS) and _has_nul(request.POST)
        ):
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

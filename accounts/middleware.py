"""Splice's own 404 page in debug too, for a page a person may not see: Django's debug 404 lists every URL of the
deployment, which tells someone probing another project's ids more than "not found". Only for Http404 raised by a
view (an object missing, or in a project the person cannot access, answer the same); an address no URL matches
keeps Django's debug page, which helps whoever develops Splice."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404

from accounts.views import error_404

__all__ = ["SpliceNotFoundMiddleware"]


class SpliceNotFoundMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if settings.DEBUG and isinstance(exception, Http404):
            return error_404(request, exception)
        return None  # outside debug, handler404 (the same page) answers

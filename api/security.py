"""Who a REST API request is and what it may do: the personal API token (accounts.api_auth) as ninja's bearer
auth, the privilege an operation needs (a 403 naming it), and the per-token rate limit (429 with Retry-After)."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from accounts.access import privilege_name
from accounts.api_auth import token_owner
from api.problems import ApiProblem, Refused

__all__ = ["TokenAuth", "TokenRateLimit", "require_privilege"]

_WINDOW_SECONDS = 60


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`: the request is the token's owner's (request.user), and request.api_token is
    the token. Missing, unknown and revoked tokens get accounts.api_auth's 401 with its challenge."""

    def __call__(self, request):
        owner = token_owner(request)
        if isinstance(owner, HttpResponse):
            raise Refused(owner)
        request.user = owner
        return owner

    def authenticate(self, request, token):  # __call__ reads the header itself (accounts.api_auth.bearer_token)
        raise NotImplementedError


def require_privilege(request, privilege: str) -> None:
    """The privilege (a role's) the operation needs, checked as the pages check it; 403 naming it."""
    if not request.user.has_perm(privilege):
        raise ApiProblem(403, "missing_privilege", f"You need the “{privilege_name(privilege)}” privilege; an "
                         "administrator can give you a role that has it.", privilege=privilege)


class TokenRateLimit(BaseThrottle):
    """At most SPLICE_API_RATE_LIMIT requests per token per clock minute (a fixed window), counted in the cache
    (Redis when REDIS_URL is set, so every web process counts together): one INCR per request. 0 turns it off."""

    def allow_request(self, request) -> bool:
        limit = getattr(settings, "SPLICE_API_RATE_LIMIT", 600)
        token = getattr(request, "api_token", None)
        if not limit or token is None:
            return True
        key = f"splice:api-rate:{token.pk}:{int(time.time() // _WINDOW_SECONDS)}"
        if cache.add(key, 1, timeout=_WINDOW_SECONDS * 2):
            return True
        try:
            return cache.incr(key) <= limit
        except ValueError:  # the window's key expired between the two calls: this is its first request
            cache.add(key, 1, timeout=_WINDOW_SECONDS * 2)
            return True

    def wait(self) -> float:
        """Until the window ends: the same for every token, so no state is kept between the two calls."""
        return max(1, math.ceil(_WINDOW_SECONDS - time.time() % _WINDOW_SECONDS))

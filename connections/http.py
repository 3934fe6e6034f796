"""The one factory for outgoing HTTP sessions: every request Splice makes has a timeout.

Like allauth's get_requests_session: callers never build a bare requests.Session.
"""

from __future__ import annotations

from http.cookiejar import DefaultCookiePolicy

import requests
from django.conf import settings

__all__ = ["USER_AGENT", "TimeoutSession", "new_session"]

USER_AGENT = "Splice/0.1 (+https://github.com/splice-integrations/splice)"


class TimeoutSession(requests.Session):
    """A session whose requests time out after `default_timeout` seconds unless told otherwise."""

    def __init__(self, default_timeout: float) -> None:
        super().__init__()
        self.default_timeout = default_timeout
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method, url, *args, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


def new_session(timeout: float | None = None, *, shared: bool = False) -> TimeoutSession:
    """`shared`: for requests of several connections in a row (a health check), which may reuse its kept-alive
    connections but never its cookies: one connection's app session must not ride along with another's."""
    session = TimeoutSession(timeout if timeout is not None else settings.SPLICE_HTTP_TIMEOUT)
    if shared:
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session

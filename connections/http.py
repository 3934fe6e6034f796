"""The one factory for outgoing HTTP sessions: every request Splice makes has a timeout and passes the
egress policy (connections.egress) on the address it actually connects to.

Like allauth's get_requests_session: callers never build a bare requests.Session (nor requests-oauthlib's
sessions, which are Sessions too): `new_session`, `oauth1_session` and `oauth2_session` harden them alike.
No session follows redirects by itself or reads proxies or .netrc from the environment; the connection
client follows an app's redirects where its connector allows them (connections.client).
"""

from __future__ import annotations

import logging
import socket
from http.cookiejar import DefaultCookiePolicy

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth1Session, OAuth2Session
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import _set_socket_options
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from connections import egress

__all__ = ["USER_AGENT", "EgressAdapter", "TimeoutSession", "new_session", "oauth1_session", "oauth2_session"]

logger = logging.getLogger(__name__)

USER_AGENT = "Splice/0.1 (+https://github.com/splice-integrations/splice)"


def open_socket(family: int, sockaddr: tuple, timeout, source_address, socket_options) -> socket.socket:
    """Connect a socket to one checked address (a name of its own so tests can see what would be connected)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _set_socket_options(sock, socket_options)
        if timeout is not _DEFAULT_TIMEOUT:
            sock.settimeout(timeout)
        if source_address:
            sock.bind(source_address)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedConnectionMixin:
    """urllib3's connection, connecting to the addresses the egress policy checked, and to nothing else."""

    def _new_conn(self) -> socket.socket:
        try:
            addresses = egress.egress_policy().resolve(self._dns_host, self.port)
        except egress.EgressRefused as refused:
            logger.warning("Egress refused: %s:%s (%s)", refused.host, self.port, refused.detail)
            raise
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: OSError | None = None
        last_timeout = False
        for family, sockaddr in addresses:
            try:
                return open_socket(family, sockaddr, self.timeout, self.source_address, self.socket_options)
            except TimeoutError as exc:
                error, last_timeout = exc, True
            except OSError as exc:
                error, last_timeout = exc, False
        if last_timeout:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class EgressAdapter(HTTPAdapter):
    """Checks each request's URL (scheme, host) before sending, and connects through pinned connections."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPConnectionPool,
                                                   "https": _PinnedHTTPSConnectionPool}

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        egress.egress_policy().check_url(request.url)
        if proxies and any(proxies.values()):
            raise egress.EgressRefused("", "proxies are not supported")
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None)


def _harden(session: requests.Session, timeout: float | None, *, shared: bool = False) -> requests.Session:
    session.trust_env = False  # no proxies, no .netrc credentials from the environment
    session.headers["User-Agent"] = USER_AGENT
    adapter = EgressAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.default_timeout = timeout if timeout is not None else settings.SPLICE_HTTP_TIMEOUT
    # A redirect is answered as it is: a session never follows one (the client decides, per connector).
    session.get_redirect_target = lambda response: None
    if shared:
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


class _TimeoutMixin:
    def request(self, method, url, *args, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class TimeoutSession(_TimeoutMixin, requests.Session):
    """A session whose requests time out after `default_timeout` seconds unless told otherwise."""


class _OAuth1Session(_TimeoutMixin, OAuth1Session):
    pass


class _OAuth2Session(_TimeoutMixin, OAuth2Session):
    pass


def new_session(timeout: float | None = None, *, shared: bool = False) -> TimeoutSession:
    """`shared`: for requests of several connections in a row (a health check), which may reuse its kept-alive
    connections but never its cookies: one connection's app session must not ride along with another's."""
    return _harden(TimeoutSession(), timeout, shared=shared)


def oauth1_session(*args, **kwargs) -> OAuth1Session:
    """requests-oauthlib's OAuth1Session, hardened like `new_session`."""
    return _harden(_OAuth1Session(*args, **kwargs), None)


def oauth2_session(*args, **kwargs) -> OAuth2Session:
    """requests-oauthlib's OAuth2Session, hardened like `new_session`."""
    return _harden(_OAuth2Session(*args, **kwargs), None)

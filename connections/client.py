"""The authorized HTTP client of a connection: base URL, credentials, timeout, token refresh, and the
connector's `refresh_on` / `invalid_on` rules.

    client = connection_client(connection)
    response = client.request("GET", "/api/me")
    verdict = client.verdict(response)   # None when fine, else a problems.Verdict

Credentials are opened from the vault at the last moment and go only to the origins the connection was
authorized for (connections.origins); every request passes the egress policy (connections.http).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from connections.auth import Auth, auth_for
from connections.catalog import ConnectorSpec, InvalidValue, ResolvedRequest, origin_of
from connections.credentials import open_secret
from connections.custom import spec_for
from connections.egress import EgressRefused
from connections.http import new_session
from connections.models import Connection, OAuthProfile
from connections.operations import OperationResult, connection_check, operation_call
from connections.origins import check_credentials_may_go, check_profile_registered_for
from connections.problems import RECOMMENDATIONS, ConnectionProblem, Kind, Verdict
from connections.status import (
    CheckOutcome,
    classify_answer,
    classify_exception,
    classify_settings_error,
    fitted_verdict,
)
from connections.tokens import ensure_fresh_token
from connections.vault import Secret, VaultError

__all__ = ["ConnectionClient", "connection_client", "oauth_client_for", "oauth_setup_needed", "resolved_auth",
           "spec_for"]

logger = logging.getLogger(__name__)

# Redirects an app may answer with, and how many a request follows where its connector allows them.
_REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3


def _as_sent(url: str) -> str:
    """`url` as requests will send it (its own parser), so the origin checked is the one connected to."""
    prepared = requests.models.PreparedRequest()
    prepared.prepare_url(url, None)
    origin_of(prepared.url)  # refuses what parsers read differently
    return prepared.url


def resolved_auth(connection: Connection, spec: ConnectorSpec | None = None):
    """The connection's auth method with its URLs resolved; raises ConnectionProblem for settings that do not."""
    try:
        return (spec or spec_for(connection)).resolve_auth(
            connection.auth_method, connection.settings, connection.environment,
            allow_insecure_loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK,
        )
    except InvalidValue as exc:
        raise ConnectionProblem(classify_settings_error(exc)) from None


def oauth_client_for(connection: Connection, *, method=None,
                     default_profiles: dict | None = None) -> tuple[str, Secret | None]:
    """(client id, client secret) of the OAuth profile the connection uses: its own, else the app's default;
    only when the profile is registered for the endpoints `method` (resolved; the connection's by default) uses.
    `default_profiles`: the apps' default profiles already looked up, by connector key (filled in here)."""
    profile = connection.oauth_profile
    if profile is None:
        key = connection.connector_key
        if default_profiles is not None and key in default_profiles:
            profile = default_profiles[key]
        else:
            profile = OAuthProfile.objects.filter(connector_key=key, is_default=True).first()
            if default_profiles is not None:
                default_profiles[key] = profile
    spec = spec_for(connection)
    if profile is None:
        raise ConnectionProblem(oauth_setup_needed(spec.name))
    check_profile_registered_for(profile, spec.name, method or resolved_auth(connection, spec))
    return profile.client_id, open_secret(profile, "client_secret")


def oauth_setup_needed(app_name: str) -> Verdict:
    """The app signs in with an OAuth client the deployment has not registered: only an admin can fix that, so
    nothing is worth trying again until they have (the wizard shows them how: connections.oauth.admin_setup)."""
    return Verdict(Kind.SETUP_NEEDED,
                   f"{app_name} needs admin setup: no OAuth client (client id and secret) is registered for it yet.",
                   recommendations=RECOMMENDATIONS[Kind.SETUP_NEEDED])


class ConnectionClient:
    """Talks to one connection's app as the user who authorized it.

    For many connections in a row (a health check), pass one `session` (connections.http.new_session with
    shared=True), one `default_profiles` dict (the apps' default OAuth profiles, looked up once), `fresh` when the
    connection row was just read (its token needs no second look before the first request), and
    `refresh_lease`: the owner of the refresh leases claimed for the batch (tokens.refresh_leases_claim)."""

    def __init__(self, connection: Connection, *, session: requests.Session | None = None,
                 default_profiles: dict | None = None, fresh: bool = False,
                 refresh_lease: str | None = None) -> None:
        self.connection = connection
        self.spec = spec_for(connection)
        self.session = session or new_session()
        self._default_profiles = default_profiles
        self._fresh = fresh
        self._refresh_lease = refresh_lease
        # Settings that do not resolve fail each request with their reason, not the client's construction.
        try:
            self.method = resolved_auth(connection, self.spec)
        except ConnectionProblem as problem:
            self.method, self.base_url, self.problem = None, "", problem.verdict
        else:
            self.base_url, self.problem = self.method.base_url, None
        self._oauth_client: tuple[str, Secret | None] | None = None

    @property
    def auth(self) -> Auth:
        """The behaviour of the connection's auth method (connections.auth): how it signs, whether it refreshes."""
        return auth_for((self.method or self.spec.auth_method(self.connection.auth_method)).type)

    # --- requests -------------------------------------------------------------------------

    def request(self, method: str, url: str, *, params=None, json=None, data=None, headers=None) -> requests.Response:
        """Send one request with credentials. OAuth 2.0: refresh before expiry, and once on 401 or a
        `refresh_on` rule. Network failures raise ConnectionProblem (transient); so do stored credentials
        that cannot be opened (credentials_invalid)."""
        try:
            return self._request(method, url, params=params, json=json, data=data, headers=headers)
        except VaultError as exc:  # nothing was sent with them
            raise ConnectionProblem(_unreadable_credentials(exc)) from None

    def _request(self, method: str, url: str, *, params=None, json=None, data=None, headers=None):
        if self.problem is not None:
            raise ConnectionProblem(self.problem)
        url = self._absolute(url)
        if self.auth.refreshes:
            self.connection = ensure_fresh_token(self.connection, oauth=self._oauth(), fresh=self._fresh,
                                                 session=self.session, lease_owner=self._refresh_lease)
            self._fresh, self._refresh_lease = False, None
        response = self._send(method, url, params=params, json=json, data=data, headers=headers)
        if self.auth.refreshes and self._wants_refresh(response):
            self.connection = ensure_fresh_token(
                self.connection, stale_version=self.connection.token_version, oauth=self._oauth(),
                session=self.session,
            )
            response = self._send(method, url, params=params, json=json, data=data, headers=headers)
        return response

    def call(self, operation_key: str, inputs: dict, *, headers: dict[str, str] | None = None) -> OperationResult:
        """One of the connector's triggers or actions with these inputs: connections.operations."""
        return operation_call(self, operation_key, inputs, headers=headers)

    def check(self) -> tuple[CheckOutcome, int]:
        """The connector's test request and what it says, with its duration in ms: connections.operations."""
        outcome, took = connection_check(self)
        if not outcome.ok:
            method = self.method or self.spec.auth_method(self.connection.auth_method)
            outcome = replace(outcome, verdict=fitted_verdict(outcome.verdict, method=method))
        return outcome, took

    def send(self, resolved: ResolvedRequest, *, headers: dict[str, str] | None = None) -> requests.Response:
        body = {"json": resolved.body} if resolved.encoding == "json" else {"data": resolved.body}
        if resolved.body is None:
            body = {}
        return self.request(resolved.method, resolved.url, params=resolved.params or None, headers=headers, **body)

    def verdict(self, response: requests.Response, *, test: bool = False) -> Verdict | None:
        """What the response means for the connection: None when fine, else credentials/permission/transient."""
        rule = self.spec.response_verdict(response.status_code, response.content, test=test)
        return classify_answer(response.status_code, headers=response.headers, rule=rule, app=self.spec.name,
                               body=response.content if response.status_code == 403 else None)

    # --- internals ------------------------------------------------------------------------

    def _absolute(self, url: str) -> str:
        """Paths join the base URL; an absolute URL must be on an origin of the app's (its test's or an
        operation's own base URL may differ from the base URL)."""
        if "://" not in url:
            return urljoin(self.base_url.rstrip("/") + "/", url.lstrip("/"))
        try:
            origin = origin_of(url)
        except ValueError:
            origin = ""
        if origin not in {origin_of(self.base_url), *(self.connection.authorized_origins or ())}:
            raise ConnectionProblem(Verdict(Kind.OTHER, f"Refusing to send credentials to another address than "
                                                        f"{urlsplit(self.base_url).netloc}."))
        return url

    def _oauth(self):
        if self._oauth_client is None:
            self._oauth_client = oauth_client_for(self.connection, method=self.method,
                                                  default_profiles=self._default_profiles)
        return self.method, self._oauth_client

    def _wants_refresh(self, response: requests.Response) -> bool:
        if response.status_code == 401:
            return True
        return self.spec.response_verdict(response.status_code, response.content) == "refresh"

    def _send(self, method: str, url: str, *, params=None, json=None, data=None, headers=None):
        """One request with credentials, to an origin the connection was authorized for. The app's redirects are
        followed only where its connector allows them; each hop passes the egress policy again and carries the
        credentials only to an origin the connection was authorized for."""
        check_credentials_may_go(self.connection, url)
        credentials = True
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_once(method, url, params=params, json=json, data=data, headers=headers,
                                       credentials=credentials)
            if not (self.spec.follow_redirects and response.status_code in _REDIRECTS
                    and response.headers.get("Location")):
                return response
            try:
                url = _as_sent(urljoin(url, response.headers["Location"]))
            except (ValueError, requests.RequestException):
                return response  # a Location no one can read alike is not followed
            params = None  # the Location is the whole address
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, json, data = "GET", None, None
            credentials = origin_of(url) in (self.connection.authorized_origins or ())
            if credentials and self.auth.signs_with_client_secret and origin_of(url) != origin_of(self.base_url):
                credentials = False
        raise ConnectionProblem(Verdict(Kind.OTHER, f"{self.spec.name} redirected more than {MAX_REDIRECTS} times.",
                                        recommendations=RECOMMENDATIONS[Kind.OTHER]))

    def _send_once(self, method: str, url: str, *, params, json, data, headers, credentials: bool):
        if credentials and self.auth.signs_with_client_secret and origin_of(url) != origin_of(self.base_url):
            # The OAuth profile was checked for the base URL only; its secret signs (PLAINTEXT: carries) each call.
            raise ConnectionProblem(Verdict(
                Kind.OTHER, f"Splice signs {self.spec.name} requests with the OAuth client's secret, so it sends them "
                            f"only to the app's base URL ({origin_of(self.base_url)}).",
                recommendations=["Check the connection's address settings."]))
        headers = dict(headers or {})
        params = dict(params or {})
        auth = self._auth(headers, params) if credentials else None
        try:
            return self.session.request(method, url, params=params or None, json=json, data=data, headers=headers,
                                        auth=auth, allow_redirects=False)
        except (requests.RequestException, EgressRefused) as exc:
            raise ConnectionProblem(classify_exception(exc, app=self.spec.name)) from None

    def _auth(self, headers: dict, params: dict):
        return self.auth.sign(method=self.method, connection=self.connection, headers=headers, params=params,
                              oauth_client=lambda: self._oauth()[1])


def _unreadable_credentials(exc: VaultError) -> Verdict:
    """Stored credentials that fail to open (altered, or sealed under a key no longer configured): a reason of their
    own, whose fix is an admin's (the key) or new credentials. The vault's words (row and key ids, never a value)
    go to the log and to admins' pages (connections.views), not into the message everyone reads."""
    logger.warning("Stored credentials cannot be opened: %s", exc)
    return Verdict(Kind.CREDENTIALS_UNREADABLE, "Splice cannot open the stored credentials.",
                   recommendations=RECOMMENDATIONS[Kind.CREDENTIALS_UNREADABLE])


def connection_client(connection: Connection, *, session: requests.Session | None = None,
                      default_profiles: dict | None = None, fresh: bool = False,
                      refresh_lease: str | None = None) -> ConnectionClient:
    return ConnectionClient(connection, session=session, default_profiles=default_profiles, fresh=fresh,
                            refresh_lease=refresh_lease)

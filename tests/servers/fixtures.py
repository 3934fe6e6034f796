"""Pytest plugin that runs Splice's loopback test servers as subprocesses.

Load with ``-p tests.servers.fixtures`` or ``pytest_plugins = ["tests.servers.fixtures"]``.

Session-scoped fixtures start one process per server on 127.0.0.1 (the server binds port 0
and reports the port it got, then the fixture polls its health URL) and terminate it by
pid when the session ends; function-scoped fixtures hand the same server to a test after
resetting its counters and knobs:

* ``oauth2_server`` / ``oauth2_server_session`` -> `OAuth2Server` (Django + DOT)
* ``oauth1_server`` / ``oauth1_server_session`` -> `OAuth1Server` (oauthlib provider)
* ``api_server`` / ``api_server_session`` -> `APIServer` (Basic auth / API keys, faults)

Override the session fixtures ``oauth2_redirect_uris`` or ``oauth2_access_token_seconds``
in a conftest to start the OAuth2 server differently, or call
``set_redirect_uris()`` once a live Splice server knows its port.
"""

import os
import select
import socket
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
CONTROL_TIMEOUT = 10.0
CALLBACK_PATH = "/connections/oauth/callback/"


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (for servers that cannot report theirs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def splice_callback_url(splice_base_url: str) -> str:
    """Splice's OAuth callback URL for a Splice server at ``splice_base_url``."""
    return splice_base_url.rstrip("/") + CALLBACK_PATH


class ServerStartError(RuntimeError):
    pass


@dataclass
class ServerProcess:
    """One started server: its process, URL and the file holding its stdout and stderr."""

    name: str
    process: subprocess.Popen
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_server(name: str, module: str, workdir: Path, env: dict[str, str] | None = None) -> ServerProcess:
    """Run ``python -m module`` and return once it listens: it writes its port to a pipe this end blocks on
    (an early exit closes the pipe, which ends the wait too)."""
    log_path = workdir / "server.log"
    ready_read, ready_write = os.pipe()
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", "SPLICE_TEST_READY_FD": str(ready_write), **(env or {})}
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", module], cwd=REPO_ROOT, env=child_env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, pass_fds=(ready_write,),
            )
        os.close(ready_write)
        server = ServerProcess(name, process, "", log_path)
        readable, _, _ = select.select([ready_read], [], [], START_TIMEOUT)
        port = os.read(ready_read, 32).decode() if readable else None
    finally:
        os.close(ready_read)
    if port:
        server.base_url = f"http://{HOST}:{int(port)}"
        return server
    server.stop()
    reason = f"not ready after {START_TIMEOUT:.0f}s" if port is None else \
        f"exited with code {process.returncode} during start-up"
    raise ServerStartError(f"{name} {reason}; log tail:\n{server.log_tail()}")


class _FormParser(HTMLParser):
    """Collects every form of a page with its action, method and input values."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "method": attrs.get("method", "get"), "inputs": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["inputs"][attrs["name"]] = attrs.get("value", "")


def parse_forms(html: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class ServerHandle:
    """What every server fixture yields: its URL, its process and its control endpoints."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.base_url = server.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    def control(self, method: str, name: str, **kwargs) -> dict:
        """Call ``/_control/<name>`` and return its JSON; raises on a non-2xx answer."""
        response = requests.request(method, self.url(f"/_control/{name}"), timeout=CONTROL_TIMEOUT, **kwargs)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        return self.control("GET", "stats")

    def reset(self) -> None:
        self.control("POST", "reset")

    def log_tail(self, lines: int = 40) -> str:
        return self.server.log_tail(lines)

    def _follow_local(self, session: requests.Session, response: requests.Response):
        """Follow redirects on this server; stop at the first one leaving it (the callback)."""
        while response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if not location.startswith(self.base_url + "/"):
                return location
            response = session.get(location, allow_redirects=False, timeout=CONTROL_TIMEOUT)
        return response


class OAuth2Server(ServerHandle):
    """Handle on the Django + django-oauth-toolkit authorization server."""

    users = {"ada@example.com": "ada-pass-123", "bob@example.com": "bob-pass-123"}
    scopes = ("read", "write")

    def __init__(self, server, *, client_id, client_secret, cc_client_id, cc_client_secret, redirect_uris):
        super().__init__(server)
        self.client_id, self.client_secret = client_id, client_secret
        self.cc_client_id, self.cc_client_secret = cc_client_id, cc_client_secret
        self.redirect_uris = list(redirect_uris)
        self.authorize_url = self.url("/o/authorize/")
        self.token_url = self.url("/o/token/")
        self.revoke_url = self.url("/o/revoke_token/")
        self.introspect_url = self.url("/o/introspect/")
        self.login_url = self.url("/accounts/login/")
        self.me_url = self.url("/api/me")
        self.items_url = self.url("/api/items")

    @property
    def redirect_uri(self) -> str:
        return self.redirect_uris[0]

    @property
    def endpoints(self) -> list[str]:
        """What an OAuth profile of this server's clients is registered for."""
        return [self.authorize_url, self.token_url, self.revoke_url]

    def _select(self, user, client_id) -> dict:
        return {key: value for key, value in {"user": user, "client_id": client_id}.items() if value}

    def revoke(self, user: str | None = None, client_id: str | None = None) -> dict:
        """Revoke all access/refresh tokens and grants of a user (email) or client."""
        return self.control("POST", "revoke", params=self._select(user, client_id))

    def set_scope(self, scope: str, user: str | None = None, client_id: str | None = None) -> int:
        """Replace the scope of current access tokens (``""`` or ``"write"`` provokes 403 on /api/me)."""
        return self.control("POST", "scope", params={"scope": scope, **self._select(user, client_id)})["updated"]

    def expire(self, user: str | None = None, client_id: str | None = None) -> int:
        """Expire access tokens now (refresh tokens stay valid)."""
        return self.control("POST", "expire", params=self._select(user, client_id))["updated"]

    def set_token_delay(self, ms: int) -> None:
        """Delay every token-endpoint request by ``ms`` (concurrent requests overlap in it)."""
        self.control("POST", "token-delay", params={"ms": ms})

    def set_access_token_lifetime(self, seconds: int) -> None:
        """``expires_in`` of access tokens issued from now on (reset restores the start value)."""
        self.control("POST", "token-lifetime", params={"seconds": seconds})

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def metadata_url(self) -> str:
        return self.url("/.well-known/oauth-authorization-server")

    def set_iss_supported(self, on: bool) -> None:
        """Whether its metadata says authorization responses carry `iss` (RFC 9207); reset turns it off."""
        self.control("POST", "iss-supported", params={"on": "1" if on else "0"})

    def set_redirect_uris(self, *uris: str) -> None:
        """Replace the confidential client's registered redirect URIs (not undone by reset)."""
        self.redirect_uris = self.control("POST", "redirect-uri", params={"uri": list(uris)})["redirect_uris"]

    def add_redirect_uri(self, uri: str) -> None:
        self.redirect_uris = self.control("POST", "redirect-uri", params={"uri": uri, "add": 1})["redirect_uris"]

    def token_requests(self, grant_type: str | None = None) -> int:
        """Token-endpoint requests since the last reset, of one grant type or all."""
        counts = self.stats()["token_requests"]
        return counts.get(grant_type, 0) if grant_type else sum(counts.values())

    def authorize(
        self,
        authorize_url: str,
        email: str = "ada@example.com",
        password: str | None = None,
        allow: bool = True,
        session: requests.Session | None = None,
    ) -> str:
        """Drive login and consent like a browser; return the redirect to the client's callback.

        ``authorize_url`` is the full authorization request (client_id, redirect_uri, PKCE...).
        The callback itself is not requested. Pass ``session`` to reuse a signed-in session.
        """
        session = session or requests.Session()
        response = self._follow_local(
            session, session.get(authorize_url, allow_redirects=False, timeout=CONTROL_TIMEOUT)
        )
        if isinstance(response, str):
            return response
        if urlsplit(response.url).path == urlsplit(self.login_url).path:
            login_form = parse_forms(response.text)[0]
            data = {
                **login_form["inputs"],
                "username": email,
                "password": password or self.users[email],
            }
            response = session.post(
                urljoin(response.url, login_form["action"]),
                data=data,
                headers={"Referer": response.url},
                allow_redirects=False,
                timeout=CONTROL_TIMEOUT,
            )
            if response.status_code == 200:
                raise AssertionError(f"login as {email} failed")
            response = self._follow_local(session, response)
            if isinstance(response, str):
                return response
        consent = next((form for form in parse_forms(response.text) if "client_id" in form["inputs"]), None)
        if consent is None:
            raise AssertionError(f"no consent form at {response.url} ({response.status_code}): {response.text[:500]}")
        data = dict(consent["inputs"])
        if allow:
            data["allow"] = "on"
        response = session.post(
            urljoin(response.url, consent["action"] or response.url),
            data=data,
            headers={"Referer": response.url},
            allow_redirects=False,
            timeout=CONTROL_TIMEOUT,
        )
        location = self._follow_local(session, response)
        if not isinstance(location, str):
            raise AssertionError(f"consent did not redirect ({location.status_code}): {location.text[:500]}")
        return location


@dataclass(frozen=True)
class OAuth1Client:
    client_key: str
    client_secret: str
    signature_method: str
    rsa_private_key: str | None = None


class OAuth1Server(ServerHandle):
    """Handle on the oauthlib OAuth 1.0a provider (one client per signature method)."""

    def __init__(self, server):
        super().__init__(server)
        self.request_token_url = self.url("/oauth/request_token")
        self.authorize_url = self.url("/oauth/authorize")
        self.access_token_url = self.url("/oauth/access_token")
        self.me_url = self.url("/api/me")
        self.items_url = self.url("/api/items")
        self.clients = {
            client["signature_method"]: OAuth1Client(
                client["client_key"], client["client_secret"], client["signature_method"], client["rsa_private_key"]
            )
            for client in self.control("GET", "clients")["clients"]
        }
        self.rsa_private_key = self.clients["RSA-SHA1"].rsa_private_key

    @property
    def endpoints(self) -> list[str]:
        """What an OAuth profile of this server's clients is registered for (OAuth 1.0a signs API calls too)."""
        return [self.request_token_url, self.authorize_url, self.access_token_url, self.base_url]

    def client(self, signature_method: str = "HMAC-SHA1") -> OAuth1Client:
        return self.clients[signature_method]

    def session(self, signature_method: str = "HMAC-SHA1", **kwargs):
        """A ``requests_oauthlib.OAuth1Session`` for that method's client; kwargs are passed on."""
        from requests_oauthlib import OAuth1Session

        client = self.clients[signature_method]
        return OAuth1Session(
            client.client_key,
            client_secret=client.client_secret or None,
            signature_method=client.signature_method,
            rsa_key=client.rsa_private_key,
            **kwargs,
        )

    def revoke(self, user: str | None = None, client_key: str | None = None) -> int:
        """Revoke all access tokens (or those of one user / client); returns how many."""
        params = {key: value for key, value in {"user": user, "client_key": client_key}.items() if value}
        return self.control("POST", "revoke", params=params)["revoked"]

    def authorize(self, authorize_url: str, allow: bool = True) -> str:
        """Press "Allow" (or "Deny") on the authorization page; return the callback redirect."""
        session = requests.Session()
        page = session.get(authorize_url, timeout=CONTROL_TIMEOUT)
        page.raise_for_status()
        form = parse_forms(page.text)[0]
        data = {**form["inputs"], "decision": "allow" if allow else "deny"}
        response = session.post(
            urljoin(page.url, form["action"]), data=data, allow_redirects=False, timeout=CONTROL_TIMEOUT
        )
        location = self._follow_local(session, response)
        if not isinstance(location, str):
            raise AssertionError(f"authorization did not redirect ({location.status_code}): {location.text[:500]}")
        return location


class APIServer(ServerHandle):
    """Handle on the fault-injection API server (Basic auth and API keys)."""

    username, password = "ada", "ada-pass-123"
    api_key = "test-api-key-0123456789"

    def __init__(self, server):
        super().__init__(server)
        self.me_url = self.url("/api/me")
        self.items_url = self.url("/api/items")

    def set_credentials(self, *credentials: dict, **credential: str) -> list[dict]:
        """Accept only these: ``set_credentials(username=.., password=..)``, ``(api_key=..)``,
        ``(api_key=.., api_secret=..)``, or several dicts at once."""
        payload = list(credentials) + ([credential] if credential else [])
        return self.control("POST", "credentials", json=payload)["credentials"]

    def set_fault(
        self,
        mode: str | int,
        path: str | None = None,
        *,
        retry_after: int | None = None,
        hang_seconds: float | None = None,
        times: int | None = None,
    ) -> dict:
        """Inject a fault on ``path`` (or every /api/ path): ``ok``, ``500``, ``429``, ``hang``, ``401``,
        ``403``, ``200_with_invalid_body``, ``invalid_json`` or any status; ``times`` limits it."""
        payload = {"mode": str(mode), "path": path, "times": times}
        if retry_after is not None:
            payload["retry_after"] = retry_after
        if hang_seconds is not None:
            payload["hang_seconds"] = hang_seconds
        return self.control("POST", "fault", json=payload)["faults"]

    def clear_fault(self, path: str | None = None) -> dict:
        return self.set_fault("ok", path)

    def wait_for_requests(self, path: str, count: int = 1, timeout: float = 30) -> int:
        """Block until `count` requests to `path` have arrived since the last reset (the server answers
        then); fails after `timeout` seconds. Returns how many arrived."""
        response = requests.get(self.url("/_control/wait"), params={"path": path, "count": count,
                                                                    "timeout": timeout},
                                timeout=timeout + CONTROL_TIMEOUT)
        assert response.status_code == 200, f"{count} request(s) to {path} did not arrive within {timeout} s"
        return response.json()["count"]

    def last_request(self) -> dict | None:
        """Method, path, query, all headers, body, ``auth`` placement and status of the last API call."""
        return self.stats()["last_request"]


def query_param(url: str, name: str) -> str | None:
    """One query parameter of a URL, e.g. the ``code`` of a captured callback redirect."""
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


@pytest.fixture(scope="session")
def oauth2_redirect_uris() -> list[str]:
    """Redirect URIs registered at start; override, or call ``set_redirect_uris`` later."""
    return [splice_callback_url(os.environ.get("SPLICE_BASE_URL", "http://127.0.0.1:8000"))]


@pytest.fixture(scope="session")
def oauth2_access_token_seconds() -> int:
    return 3600


OAUTH2_CREDENTIALS = {
    "client_id": "splice-test-client",
    "client_secret": "splice-test-client-secret-5Jq9",
    "cc_client_id": "splice-test-machine",
    "cc_client_secret": "splice-test-machine-secret-Rw2v",
}


def start_oauth2_server(workdir: Path, redirect_uris: list[str], access_token_seconds: int = 3600) -> OAuth2Server:
    """Start the OAuth2 server process; outside pytest too (benchmarks). Stop it with ``handle.server.stop()``."""
    credentials = OAUTH2_CREDENTIALS
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.servers.oauth2.settings",
        "OAUTH2_SERVER_DB_DIR": str(workdir),
        "OAUTH2_SERVER_CLIENT_ID": credentials["client_id"],
        "OAUTH2_SERVER_CLIENT_SECRET": credentials["client_secret"],
        "OAUTH2_SERVER_CC_CLIENT_ID": credentials["cc_client_id"],
        "OAUTH2_SERVER_CC_CLIENT_SECRET": credentials["cc_client_secret"],
        "OAUTH2_SERVER_REDIRECT_URIS": " ".join(redirect_uris),
        "OAUTH2_SERVER_ACCESS_TOKEN_SECONDS": str(access_token_seconds),
    }
    server = start_server("OAuth2 test server", "tests.servers.oauth2.serve", workdir, env)
    return OAuth2Server(server, redirect_uris=redirect_uris, **credentials)


@pytest.fixture(scope="session")
def oauth2_server_session(tmp_path_factory, oauth2_redirect_uris, oauth2_access_token_seconds):
    handle = start_oauth2_server(
        tmp_path_factory.mktemp("oauth2-server"), oauth2_redirect_uris, oauth2_access_token_seconds
    )
    try:
        yield handle
    finally:
        handle.server.stop()


@pytest.fixture
def oauth2_server(oauth2_server_session) -> OAuth2Server:
    """The OAuth2 server with zeroed counters, no token delay and the start token lifetime."""
    oauth2_server_session.reset()
    return oauth2_server_session


@pytest.fixture(scope="session")
def oauth1_server_session(tmp_path_factory):
    server = start_server("OAuth1 test server", "tests.servers.oauth1_server", tmp_path_factory.mktemp("oauth1"))
    try:
        yield OAuth1Server(server)
    finally:
        server.stop()


@pytest.fixture
def oauth1_server(oauth1_server_session) -> OAuth1Server:
    """The OAuth1 server with zeroed counters (tokens issued earlier stay valid)."""
    oauth1_server_session.reset()
    return oauth1_server_session


@pytest.fixture(scope="session")
def api_server_session(tmp_path_factory):
    server = start_server("API test server", "tests.servers.api_server", tmp_path_factory.mktemp("api-server"))
    try:
        yield APIServer(server)
    finally:
        server.stop()


@pytest.fixture
def api_server(api_server_session) -> APIServer:
    """The API server with default credentials and items, no faults and zeroed counters."""
    api_server_session.reset()
    return api_server_session

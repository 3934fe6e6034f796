"""Self-tests of the loopback test servers, driven by plain requests / requests_oauthlib clients.

They need no Splice settings: run them with
``python -m pytest -p tests.servers.fixtures -p no:django tests/servers``.
"""

import base64
import hashlib
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests
from oauthlib.oauth1 import Client as OAuth1SigningClient

from tests.servers.fixtures import OAuth2Server, parse_forms, query_param

ADA = "ada@example.com"
BOB = "bob@example.com"
TIMEOUT = 10


# --- OAuth2 -----------------------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_request(server: OAuth2Server, challenge: str | None, state: str, **extra) -> str:
    params = {
        "response_type": "code",
        "client_id": server.client_id,
        "redirect_uri": server.redirect_uri,
        "scope": "read write",
        "state": state,
        **extra,
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return f"{server.authorize_url}?{urlencode(params)}"


def obtain_tokens(server: OAuth2Server, email: str = ADA, client_auth: str = "basic") -> dict:
    """The full code + PKCE flow: login, consent, captured callback, token exchange."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    callback = server.authorize(authorization_request(server, challenge, state), email=email)
    assert callback.startswith(server.redirect_uri)
    assert query_param(callback, "state") == state
    data = {
        "grant_type": "authorization_code",
        "code": query_param(callback, "code"),
        "redirect_uri": server.redirect_uri,
        "code_verifier": verifier,
    }
    response = token_request(server, data, client_auth)
    assert response.status_code == 200, response.text
    return response.json()


def token_request(server: OAuth2Server, data: dict, client_auth: str = "basic") -> requests.Response:
    if client_auth == "basic":
        return requests.post(
            server.token_url, data=data, auth=(server.client_id, server.client_secret), timeout=TIMEOUT
        )
    data = {**data, "client_id": server.client_id, "client_secret": server.client_secret}
    return requests.post(server.token_url, data=data, timeout=TIMEOUT)


def bearer_get(url: str, token: str) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)


def refresh(server: OAuth2Server, refresh_token: str, client_auth: str = "basic") -> requests.Response:
    return token_request(server, {"grant_type": "refresh_token", "refresh_token": refresh_token}, client_auth)


@pytest.mark.parametrize("client_auth", ["basic", "post"])
def test_oauth2_code_flow_with_pkce(oauth2_server, client_auth):
    tokens = obtain_tokens(oauth2_server, client_auth=client_auth)

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert set(tokens["scope"].split()) == {"read", "write"}
    me = bearer_get(oauth2_server.me_url, tokens["access_token"])
    assert me.status_code == 200
    assert me.json() | {"id": None} == {"id": None, "email": ADA, "name": "Ada Lovelace"}
    items = bearer_get(oauth2_server.items_url, tokens["access_token"])
    assert items.status_code == 200 and len(items.json()["items"]) == 2
    stats = oauth2_server.stats()
    assert stats["token_requests"] == {"authorization_code": 1}
    assert stats["token_responses"] == {"authorization_code 200": 1}


def test_oauth2_second_user_and_denied_consent(oauth2_server):
    tokens = obtain_tokens(oauth2_server, email=BOB)
    assert bearer_get(oauth2_server.me_url, tokens["access_token"]).json()["email"] == BOB

    _verifier, challenge = pkce_pair()
    callback = oauth2_server.authorize(authorization_request(oauth2_server, challenge, "s1"), allow=False)
    assert query_param(callback, "error") == "access_denied"
    assert query_param(callback, "state") == "s1"


def test_oauth2_pkce_s256_is_required(oauth2_server):
    callback = oauth2_server.authorize(authorization_request(oauth2_server, None, "s2"))
    assert query_param(callback, "error") == "invalid_request"
    assert "challenge" in query_param(callback, "error_description").lower()

    plain = authorization_request(oauth2_server, None, "s3", code_challenge="x" * 43, code_challenge_method="plain")
    assert query_param(oauth2_server.authorize(plain), "error") == "invalid_request"


def test_oauth2_wrong_code_verifier_and_bad_password(oauth2_server):
    _verifier, challenge = pkce_pair()
    callback = oauth2_server.authorize(authorization_request(oauth2_server, challenge, "s4"))
    data = {
        "grant_type": "authorization_code",
        "code": query_param(callback, "code"),
        "redirect_uri": oauth2_server.redirect_uri,
        "code_verifier": pkce_pair()[0],
    }
    response = token_request(oauth2_server, data)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"

    with pytest.raises(AssertionError, match="login as ada@example.com failed"):
        oauth2_server.authorize(authorization_request(oauth2_server, challenge, "s5"), password="wrong")


def test_oauth2_wrong_client_secret_is_invalid_client(oauth2_server):
    response = requests.post(
        oauth2_server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(oauth2_server.cc_client_id, "not-the-secret"),
        timeout=TIMEOUT,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_oauth2_refresh_rotates_and_old_refresh_token_is_rejected(oauth2_server):
    first = obtain_tokens(oauth2_server)

    second = refresh(oauth2_server, first["refresh_token"], client_auth="post")
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert bearer_get(oauth2_server.me_url, second["access_token"]).status_code == 200
    assert bearer_get(oauth2_server.me_url, first["access_token"]).status_code == 401

    replay = refresh(oauth2_server, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert oauth2_server.token_requests("refresh_token") == 2
    assert oauth2_server.stats()["token_responses"]["refresh_token 400"] == 1


def test_oauth2_revoke_gives_401_and_kills_refresh(oauth2_server):
    tokens = obtain_tokens(oauth2_server)

    result = oauth2_server.revoke(ADA)

    assert result["access_tokens"] >= 1 and result["refresh_tokens"] >= 1
    response = bearer_get(oauth2_server.me_url, tokens["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert refresh(oauth2_server, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert bearer_get(oauth2_server.me_url, "unknown-token").status_code == 401


def test_oauth2_scope_change_gives_403(oauth2_server):
    tokens = obtain_tokens(oauth2_server)

    assert oauth2_server.set_scope("write", user=ADA) >= 1

    response = bearer_get(oauth2_server.me_url, tokens["access_token"])
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_oauth2_expire_gives_401_and_refresh_recovers(oauth2_server):
    tokens = obtain_tokens(oauth2_server)
    oauth2_server.set_access_token_lifetime(5)

    assert oauth2_server.expire(user=ADA) >= 1
    expired = bearer_get(oauth2_server.me_url, tokens["access_token"])
    assert expired.status_code == 401
    assert "expired" in expired.headers["WWW-Authenticate"]

    renewed = refresh(oauth2_server, tokens["refresh_token"]).json()
    assert renewed["expires_in"] == 5
    assert bearer_get(oauth2_server.me_url, renewed["access_token"]).status_code == 200


@pytest.mark.parametrize("client_auth", ["basic", "post"])
def test_oauth2_client_credentials(oauth2_server, client_auth):
    data = {"grant_type": "client_credentials", "scope": "read"}
    if client_auth == "basic":
        auth = (oauth2_server.cc_client_id, oauth2_server.cc_client_secret)
    else:
        auth = None
        data.update(client_id=oauth2_server.cc_client_id, client_secret=oauth2_server.cc_client_secret)

    response = requests.post(oauth2_server.token_url, data=data, auth=auth, timeout=TIMEOUT)

    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    me = bearer_get(oauth2_server.me_url, response.json()["access_token"]).json()
    assert me["name"] == "Splice Machine Client" and me["email"] is None
    assert oauth2_server.token_requests("client_credentials") == 1
    assert oauth2_server.revoke(client_id=oauth2_server.cc_client_id)["access_tokens"] >= 1
    assert bearer_get(oauth2_server.me_url, response.json()["access_token"]).status_code == 401


def test_oauth2_concurrent_refresh_with_one_token_has_one_winner(oauth2_server):
    tokens = obtain_tokens(oauth2_server)
    oauth2_server.set_token_delay(300)
    start = threading.Barrier(5)

    def attempt(_):
        start.wait()
        return refresh(oauth2_server, tokens["refresh_token"])

    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(attempt, range(5)))

    assert sorted(response.status_code for response in responses) == [200, 400, 400, 400, 400]
    stats = oauth2_server.stats()
    assert stats["token_requests"]["refresh_token"] == 5
    assert stats["token_max_in_flight"] >= 2


def test_oauth2_survives_200_concurrent_connections(oauth2_server):
    token = obtain_tokens(oauth2_server)["access_token"]
    cc_auth = (oauth2_server.cc_client_id, oauth2_server.cc_client_secret)
    start = threading.Barrier(200)

    def call(index):
        start.wait()
        if index % 5 == 0:
            data = {"grant_type": "client_credentials"}
            return requests.post(oauth2_server.token_url, data=data, auth=cc_auth, timeout=30).status_code
        return bearer_get(oauth2_server.me_url, token).status_code

    with ThreadPoolExecutor(200) as pool:
        statuses = list(pool.map(call, range(200)))

    assert statuses == [200] * 200
    assert oauth2_server.token_requests("client_credentials") == 40


def test_oauth2_pages_have_accessible_labels(oauth2_server):
    _verifier, challenge = pkce_pair()
    session = requests.Session()
    login = session.get(authorization_request(oauth2_server, challenge, "s6"), timeout=TIMEOUT)
    assert '<label for="id_username">Email</label>' in login.text
    assert '<label for="id_password">Password</label>' in login.text
    assert re.search(r"<button[^>]*>Sign in</button>", login.text)
    form = parse_forms(login.text)[0]
    consent = session.post(
        login.url, data={**form["inputs"], "username": ADA, "password": "ada-pass-123"}, timeout=TIMEOUT
    )
    assert "Authorize Splice Test App?" in consent.text
    assert re.search(r"<button[^>]*>Authorize</button>", consent.text)
    assert re.search(r"<button[^>]*>Cancel</button>", consent.text)


def test_oauth2_redirect_uri_can_be_registered_at_runtime(oauth2_server):
    original = list(oauth2_server.redirect_uris)
    live = "http://localhost:5555/connections/oauth/callback/"
    _verifier, challenge = pkce_pair()
    try:
        oauth2_server.set_redirect_uris(live)
        assert oauth2_server.redirect_uris == [live]
        callback = oauth2_server.authorize(authorization_request(oauth2_server, challenge, "s7"))
        assert callback.startswith(live) and query_param(callback, "code")

        oauth2_server.add_redirect_uri(original[0])
        assert oauth2_server.redirect_uris == [live, original[0]]
    finally:
        oauth2_server.set_redirect_uris(*original)
    stale = authorization_request(oauth2_server, challenge, "s8", redirect_uri=live)
    with pytest.raises(AssertionError, match="no consent form"):
        oauth2_server.authorize(stale)


def test_oauth2_loopback_redirect_uri_accepts_any_port(oauth2_server):
    """RFC 8252 section 7.3, as DOT implements it: a live Splice on 127.0.0.1 needs no registration."""
    other_port = "http://127.0.0.1:5556/connections/oauth/callback/"
    _verifier, challenge = pkce_pair()
    callback = oauth2_server.authorize(authorization_request(oauth2_server, challenge, "s9", redirect_uri=other_port))
    assert callback.startswith(other_port) and query_param(callback, "code")

    other_path = "http://127.0.0.1:5556/elsewhere/"
    with pytest.raises(AssertionError, match="no consent form"):
        oauth2_server.authorize(authorization_request(oauth2_server, challenge, "s10", redirect_uri=other_path))


# --- OAuth 1.0a ---------------------------------------------------------------------------

OAUTH1_METHODS = ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"]
OAUTH1_CALLBACK = "http://127.0.0.1:9/connections/oauth/callback/"


def oauth1_three_legged(server, method: str):
    """Request token, "Allow" on the authorize page, access token; returns the signed session."""
    oauth = server.session(method, callback_uri=OAUTH1_CALLBACK)
    oauth.fetch_request_token(server.request_token_url)
    callback = server.authorize(oauth.authorization_url(server.authorize_url))
    assert callback.startswith(OAUTH1_CALLBACK)
    oauth.parse_authorization_response(callback)
    tokens = oauth.fetch_access_token(server.access_token_url)
    assert tokens["oauth_token"] and tokens["oauth_token_secret"]
    return oauth


@pytest.mark.parametrize("method", OAUTH1_METHODS)
def test_oauth1_three_legged_flow_and_revoke(oauth1_server, method):
    oauth = oauth1_three_legged(oauth1_server, method)

    me = oauth.get(oauth1_server.me_url, timeout=TIMEOUT)
    assert me.status_code == 200
    assert me.json() == {"screen_name": "ada", "email": "ada@example.com"}
    assert oauth.get(oauth1_server.items_url, timeout=TIMEOUT).status_code == 200
    stats = oauth1_server.stats()
    assert stats["signature_methods"] == {method: 4}
    assert stats["requests"]["/oauth/access_token"] == 1

    assert oauth1_server.revoke() >= 1
    assert oauth.get(oauth1_server.me_url, timeout=TIMEOUT).status_code == 401


def test_oauth1_rsa_private_key_is_exposed(oauth1_server):
    assert oauth1_server.rsa_private_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert oauth1_server.client("RSA-SHA1").rsa_private_key == oauth1_server.rsa_private_key


def test_oauth1_client_cannot_use_another_signature_method(oauth1_server):
    client = oauth1_server.client("HMAC-SHA1")
    from requests_oauthlib import OAuth1Session

    oauth = OAuth1Session(
        client.client_key,
        client_secret=client.client_secret,
        signature_method="PLAINTEXT",
        callback_uri=OAUTH1_CALLBACK,
    )
    response = oauth.post(oauth1_server.request_token_url, timeout=TIMEOUT)
    assert response.status_code == 401


def test_oauth1_bad_secret_and_replayed_nonce_are_rejected(oauth1_server):
    client = oauth1_server.client("HMAC-SHA1")
    wrong = OAuth1SigningClient(client.client_key, client_secret="wrong", callback_uri=OAUTH1_CALLBACK)
    uri, headers, _ = wrong.sign(oauth1_server.request_token_url, http_method="POST")
    assert requests.post(uri, headers=headers, timeout=TIMEOUT).status_code == 401

    signer = OAuth1SigningClient(client.client_key, client_secret=client.client_secret, callback_uri=OAUTH1_CALLBACK)
    uri, headers, _ = signer.sign(oauth1_server.request_token_url, http_method="POST")
    assert requests.post(uri, headers=headers, timeout=TIMEOUT).status_code == 200
    assert requests.post(uri, headers=headers, timeout=TIMEOUT).status_code == 401


def test_oauth1_denied_authorization_redirects_with_denied(oauth1_server):
    oauth = oauth1_server.session("HMAC-SHA1", callback_uri=OAUTH1_CALLBACK)
    request_token = oauth.fetch_request_token(oauth1_server.request_token_url)["oauth_token"]
    page = requests.get(oauth.authorization_url(oauth1_server.authorize_url), timeout=TIMEOUT)
    assert request_token in page.text
    assert re.search(r"<button[^>]*>Allow</button>", page.text)

    callback = oauth1_server.authorize(oauth.authorization_url(oauth1_server.authorize_url), allow=False)

    assert query_param(callback, "denied") == request_token


# --- API server ---------------------------------------------------------------------------

API_KEY = "test-api-key-0123456789"


@pytest.mark.parametrize(
    ("placement", "kwargs"),
    [
        ("basic", {"auth": ("ada", "ada-pass-123")}),
        ("basic", {"auth": (API_KEY, "")}),
        ("bearer", {"headers": {"Authorization": f"Bearer {API_KEY}"}}),
        ("token", {"headers": {"Authorization": f"token {API_KEY}"}}),
        ("header", {"headers": {"X-API-Key": API_KEY}}),
        ("query", {"params": {"api_key": API_KEY}}),
    ],
)
def test_api_auth_placements(api_server, placement, kwargs):
    response = requests.get(api_server.me_url, timeout=TIMEOUT, **kwargs)

    assert response.status_code == 200
    assert response.json() == {"email": "ada@example.com", "login": "ada"}
    last = api_server.last_request()
    assert last["auth"] == placement and last["status"] == 200
    for name, value in kwargs.get("headers", {}).items():
        assert last["headers"][name] == value


def test_api_rejects_wrong_or_missing_credentials(api_server):
    assert requests.get(api_server.me_url, auth=("ada", "nope"), timeout=TIMEOUT).status_code == 401
    response = requests.get(api_server.me_url, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(api_server.me_url, headers={"X-API-Key": "other"}, timeout=TIMEOUT).status_code == 401
    assert api_server.stats()["by_status"] == {"401": 3}


def test_api_credentials_can_be_replaced(api_server):
    api_server.set_credentials(api_key="key-1", api_secret="secret-1")

    headers = {"X-API-Key": "key-1", "X-API-Secret": "secret-1"}
    assert requests.get(api_server.me_url, headers=headers, timeout=TIMEOUT).status_code == 200
    assert requests.get(api_server.me_url, auth=("key-1", "secret-1"), timeout=TIMEOUT).status_code == 200
    assert requests.get(api_server.me_url, headers={"X-API-Key": "key-1"}, timeout=TIMEOUT).status_code == 401
    assert requests.get(api_server.me_url, auth=("ada", "ada-pass-123"), timeout=TIMEOUT).status_code == 401

    api_server.set_credentials(username="grace", password="hopper")
    assert requests.get(api_server.me_url, auth=("grace", "hopper"), timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize(
    ("mode", "status", "body"),
    [
        ("500", 500, {"error": "internal_error"}),
        ("429", 429, {"error": "rate_limited"}),
        ("401", 401, {"error": "unauthorized"}),
        ("403", 403, {"error": "forbidden"}),
        ("200_with_invalid_body", 200, {"ok": False, "error": "invalid_auth"}),
        ("503", 503, {"error": "injected"}),
    ],
)
def test_api_fault_modes(api_server, mode, status, body):
    api_server.set_fault(mode, "/api/me", retry_after=7)

    response = requests.get(api_server.me_url, auth=("ada", "ada-pass-123"), timeout=TIMEOUT)

    assert response.status_code == status
    assert body.items() <= response.json().items()
    if mode == "429":
        assert response.headers["Retry-After"] == "7"
    items = requests.get(api_server.items_url, auth=("ada", "ada-pass-123"), timeout=TIMEOUT)
    assert items.status_code == 200


def test_api_invalid_json_global_fault_and_times(api_server):
    api_server.set_fault("invalid_json")
    response = requests.get(api_server.items_url, auth=("ada", "ada-pass-123"), timeout=TIMEOUT)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()

    api_server.set_fault("500", times=2)
    statuses = [
        requests.get(api_server.me_url, auth=("ada", "ada-pass-123"), timeout=TIMEOUT).status_code for _ in range(3)
    ]
    assert statuses == [500, 500, 200]
    api_server.clear_fault()
    assert api_server.stats()["faults"] == {}


def test_api_hang_times_out_without_blocking_other_requests(api_server):
    api_server.set_fault("hang", "/api/me", hang_seconds=5)
    outcome = {}

    def hanging_call():
        try:
            requests.get(api_server.me_url, auth=("ada", "ada-pass-123"), timeout=0.5)
        except requests.Timeout as exc:
            outcome["error"] = exc

    caller = threading.Thread(target=hanging_call)
    caller.start()
    fast = requests.get(api_server.items_url, auth=("ada", "ada-pass-123"), timeout=TIMEOUT)
    caller.join(timeout=TIMEOUT)

    assert fast.status_code == 200
    assert isinstance(outcome.get("error"), requests.Timeout)


def test_api_items_create_echoes(api_server):
    response = requests.post(
        api_server.items_url, json={"name": "New item"}, headers={"X-API-Key": API_KEY}, timeout=TIMEOUT
    )

    assert response.status_code == 201
    assert response.json() == {"id": 3, "name": "New item"}
    listed = requests.get(api_server.items_url, params={"api_key": API_KEY}, timeout=TIMEOUT).json()["items"]
    assert [item["id"] for item in listed] == [1, 2, 3]
    stats = api_server.stats()
    assert stats["requests"] == 2
    assert stats["by_auth"] == {"header": 1, "query": 1}
    assert stats["recent"][0]["body"] == '{"name": "New item"}'


def test_api_survives_200_concurrent_connections(api_server):
    start = threading.Barrier(200)

    def call(_):
        start.wait()
        return requests.get(api_server.me_url, params={"api_key": API_KEY}, timeout=30).status_code

    with ThreadPoolExecutor(200) as pool:
        statuses = list(pool.map(call, range(200)))

    assert statuses == [200] * 200
    assert api_server.stats()["requests"] == 200

"""OAuth 1.0a provider for Splice's tests, built on oauthlib's server endpoints.

Run as ``python -m tests.servers.oauth1_server --port-file FILE``. One client per signature
method (HMAC-SHA1, HMAC-SHA256, RSA-SHA1, PLAINTEXT); each client may only sign with its
own method. The RSA key pair is generated at start-up with ``cryptography``; the private
key PEM is handed to tests by ``GET /_control/clients`` (loopback test server only).
oauthlib's RSA-SHA1 support (server and client side) imports PyJWT, so PyJWT must be
installed next to ``cryptography``.

Endpoints: ``/oauth/request_token``, ``/oauth/authorize`` (HTML page with an "Allow"
button; approving signs in as ada), ``/oauth/access_token``, ``/api/me`` and ``/api/items``
(signed calls), and ``/_control/{health,clients,stats,revoke,reset}``.
"""

import html
import threading
from collections import Counter
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib.oauth1 import (
    SIGNATURE_HMAC_SHA1,
    SIGNATURE_HMAC_SHA256,
    SIGNATURE_PLAINTEXT,
    SIGNATURE_RSA_SHA1,
    AccessTokenEndpoint,
    AuthorizationEndpoint,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
)
from oauthlib.oauth1.rfc5849 import errors
from oauthlib.oauth1.rfc5849.signature import collect_parameters

from tests.servers._http import HOST, Handler, LoopbackHTTPServer, parse_args, serve

USERS = {"ada": {"screen_name": "ada", "email": "ada@example.com"}}
APPROVING_USER = "ada"
REALMS = ["read", "write"]
DUMMY_KEY = "dummyKey0000000000000000"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _generate_rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


RSA_PRIVATE_PEM, RSA_PUBLIC_PEM = _generate_rsa_pair()

# Client keys must be 20-30 alphanumerics (oauthlib's default check_client_key).
CLIENTS = {
    "hmacSha1Client0000000001": {
        "name": "HMAC-SHA1 test client",
        "method": SIGNATURE_HMAC_SHA1,
        "secret": "hmac-sha1-client-secret",
    },
    "hmacSha256Client00000001": {
        "name": "HMAC-SHA256 test client",
        "method": SIGNATURE_HMAC_SHA256,
        "secret": "hmac-sha256-client-secret",
    },
    "rsaSha1Client00000000001": {
        "name": "RSA-SHA1 test client",
        "method": SIGNATURE_RSA_SHA1,
        "secret": "",
        "rsa_public_key": RSA_PUBLIC_PEM,
        "rsa_private_key": RSA_PRIVATE_PEM,
    },
    "plaintextClient000000001": {
        "name": "PLAINTEXT test client",
        "method": SIGNATURE_PLAINTEXT,
        "secret": "plaintext-client-secret",
    },
}


class Store:
    """In-memory tokens, nonces and counters shared by the handler threads."""

    def __init__(self):
        self.lock = threading.RLock()
        self.request_tokens: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.nonces: set[tuple] = set()
        self.reset_counters()

    def reset_counters(self):
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.signature_methods: Counter[str] = Counter()

    def stats(self) -> dict:
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "signature_methods": dict(self.signature_methods),
            "active_access_tokens": len(self.access_tokens),
            "pending_request_tokens": len(self.request_tokens),
        }


STORE = Store()


def _is_allowed_callback(uri: str) -> bool:
    if uri == "oob":
        return True
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS


class Validator(RequestValidator):
    """A complete oauthlib validator over `STORE`; every lookup tolerates unknown keys."""

    enforce_ssl = False
    allowed_signature_methods = (SIGNATURE_HMAC_SHA1, SIGNATURE_HMAC_SHA256, SIGNATURE_RSA_SHA1, SIGNATURE_PLAINTEXT)
    realms = REALMS
    dummy_client = DUMMY_KEY
    dummy_request_token = DUMMY_KEY
    dummy_access_token = DUMMY_KEY

    @property
    def nonce_length(self):
        """Wider than the 20-30 default: oauthlib's own nonces are occasionally shorter."""
        return 8, 64

    def get_client_secret(self, client_key, request):
        return CLIENTS.get(client_key, {}).get("secret", "dummy-secret")

    def get_rsa_key(self, client_key, request):
        return CLIENTS.get(client_key, {}).get("rsa_public_key", RSA_PUBLIC_PEM)

    def get_request_token_secret(self, client_key, token, request):
        with STORE.lock:
            return STORE.request_tokens.get(token, {}).get("secret", "dummy-secret")

    def get_access_token_secret(self, client_key, token, request):
        with STORE.lock:
            return STORE.access_tokens.get(token, {}).get("secret", "dummy-secret")

    def get_default_realms(self, client_key, request):
        return ["read"]

    def get_realms(self, token, request):
        with STORE.lock:
            return list(STORE.request_tokens.get(token, {}).get("realms", []))

    def get_redirect_uri(self, token, request):
        with STORE.lock:
            return STORE.request_tokens[token]["callback"]

    def validate_client_key(self, client_key, request):
        client = CLIENTS.get(client_key)
        return client is not None and client["method"] == request.signature_method

    def validate_request_token(self, client_key, token, request):
        with STORE.lock:
            entry = STORE.request_tokens.get(token)
            return entry is not None and entry["client_key"] == client_key

    def validate_access_token(self, client_key, token, request):
        with STORE.lock:
            entry = STORE.access_tokens.get(token)
            return entry is not None and entry["client_key"] == client_key

    def validate_timestamp_and_nonce(
        self, client_key, timestamp, nonce, request, request_token=None, access_token=None
    ):
        """Reject replays; oauthlib has already checked the timestamp is within 10 minutes."""
        key = (client_key, timestamp, nonce, request_token or access_token)
        with STORE.lock:
            if key in STORE.nonces:
                return False
            STORE.nonces.add(key)
            return True

    def validate_redirect_uri(self, client_key, redirect_uri, request):
        return _is_allowed_callback(redirect_uri)

    def validate_requested_realms(self, client_key, realms, request):
        return set(realms) <= set(REALMS)

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        with STORE.lock:
            granted = set(STORE.access_tokens.get(token, {}).get("realms", []))
        return set(realms or []) <= granted

    def validate_verifier(self, client_key, token, verifier, request):
        with STORE.lock:
            entry = STORE.request_tokens.get(token)
            if entry is None or entry["client_key"] != client_key or not entry.get("verifier"):
                return False
            request.user = entry["user"]
            return entry["verifier"] == verifier

    def verify_request_token(self, token, request):
        with STORE.lock:
            return token in STORE.request_tokens

    def verify_realms(self, token, realms, request):
        with STORE.lock:
            return set(realms) <= set(STORE.request_tokens.get(token, {}).get("realms", []))

    def invalidate_request_token(self, client_key, request_token, request):
        with STORE.lock:
            STORE.request_tokens.pop(request_token, None)

    def save_request_token(self, token, request):
        with STORE.lock:
            STORE.request_tokens[token["oauth_token"]] = {
                "client_key": request.client_key,
                "secret": token["oauth_token_secret"],
                "callback": request.redirect_uri,
                "realms": list(request.realms or []),
                "verifier": None,
                "user": None,
            }

    def save_verifier(self, token, verifier, request):
        with STORE.lock:
            STORE.request_tokens[token]["verifier"] = verifier["oauth_verifier"]

    def save_access_token(self, token, request):
        with STORE.lock:
            request_token = STORE.request_tokens[request.resource_owner_key]
            STORE.access_tokens[token["oauth_token"]] = {
                "client_key": request.client_key,
                "secret": token["oauth_token_secret"],
                "user": request_token["user"],
                "realms": list(request.realms or []),
            }


VALIDATOR = Validator()
REQUEST_TOKEN_ENDPOINT = RequestTokenEndpoint(VALIDATOR)
AUTHORIZATION_ENDPOINT = AuthorizationEndpoint(VALIDATOR)
ACCESS_TOKEN_ENDPOINT = AccessTokenEndpoint(VALIDATOR)
RESOURCE_ENDPOINT = ResourceEndpoint(VALIDATOR)

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main>{body}</main></body></html>"""


class OAuth1Handler(Handler):
    @property
    def full_uri(self) -> str:
        """The URI exactly as the client signed it."""
        return f"http://{self.headers.get('Host', HOST)}{self.path}"

    def route(self):
        path = self.url_path
        if path.startswith("/_control/"):
            self.control()
            return
        with STORE.lock:
            STORE.requests[path] += 1
        status = self.dispatch_oauth(path)
        with STORE.lock:
            STORE.statuses[f"{path} {status}"] += 1

    def dispatch_oauth(self, path: str) -> int:
        if path == "/oauth/request_token" and self.command in ("GET", "POST"):
            return self.token_step(REQUEST_TOKEN_ENDPOINT.create_request_token_response)
        if path == "/oauth/access_token" and self.command in ("GET", "POST"):
            return self.token_step(ACCESS_TOKEN_ENDPOINT.create_access_token_response)
        if path == "/oauth/authorize" and self.command == "GET":
            return self.authorize_page()
        if path == "/oauth/authorize" and self.command == "POST":
            return self.authorize_decision()
        if path in ("/api/me", "/api/items") and self.command == "GET":
            return self.resource(path)
        self.send_json(404, {"error": "not_found"})
        return 404

    def _count_signature_method(self):
        """Tally the method the client signed with, wherever it put its oauth_ parameters."""
        is_form = "application/x-www-form-urlencoded" in self.headers.get("Content-Type", "")
        try:
            params = collect_parameters(
                uri_query=urlsplit(self.path).query,
                body=self.body.decode() if is_form else None,
                headers=dict(self.headers),
            )
        except (ValueError, errors.OAuth1Error):
            return
        method = dict(params).get("oauth_signature_method")
        if method:
            with STORE.lock:
                STORE.signature_methods[method] += 1

    def token_step(self, create_response) -> int:
        self._count_signature_method()
        headers, body, status = create_response(
            self.full_uri, http_method=self.command, body=self.body.decode(), headers=dict(self.headers)
        )
        content_type = headers.pop("Content-Type", "application/x-www-form-urlencoded")
        self.respond(status, (body or "").encode(), content_type, headers)
        return status

    def authorize_page(self) -> int:
        token = self.query_value("oauth_token", "")
        with STORE.lock:
            entry = STORE.request_tokens.get(token)
        if entry is None:
            self.send_html(400, PAGE.format(title="Invalid request", body="<h1>Unknown or used request token</h1>"))
            return 400
        client = CLIENTS[entry["client_key"]]
        body = f"""
<h1>Authorize {html.escape(client["name"])}?</h1>
<p>Signed in as <strong>{APPROVING_USER}</strong>.</p>
<p>Request token: <code id="request-token">{html.escape(token)}</code></p>
<form method="post" action="/oauth/authorize">
  <input type="hidden" name="oauth_token" value="{html.escape(token)}">
  <button type="submit" name="decision" value="allow">Allow</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>"""
        self.send_html(200, PAGE.format(title="Authorize application", body=body))
        return 200

    def authorize_decision(self) -> int:
        form = self.form()
        token = form.get("oauth_token", "")
        with STORE.lock:
            entry = STORE.request_tokens.get(token)
            if entry is not None and form.get("decision") == "allow":
                entry["user"] = APPROVING_USER
        if entry is None:
            self.send_html(400, PAGE.format(title="Invalid request", body="<h1>Unknown or used request token</h1>"))
            return 400
        if form.get("decision") != "allow":
            return self.deny(token, entry["callback"])
        uri = f"http://{self.headers.get('Host', HOST)}/oauth/authorize?{urlencode({'oauth_token': token})}"
        try:
            headers, body, status = AUTHORIZATION_ENDPOINT.create_authorization_response(uri)
        except errors.OAuth1Error as exc:
            self.send_html(exc.status_code, PAGE.format(title="Error", body=html.escape(exc.description)))
            return exc.status_code
        if status == 302:
            self.redirect(headers["Location"])
        else:
            self.send_html(
                200, PAGE.format(title="Verifier", body=f"<p>Verifier: <code>{html.escape(body)}</code></p>")
            )
        return status

    def deny(self, token: str, callback: str) -> int:
        with STORE.lock:
            STORE.request_tokens.pop(token, None)
        if callback == "oob":
            self.send_html(200, PAGE.format(title="Denied", body="<p>Access denied.</p>"))
            return 200
        separator = "&" if "?" in callback else "?"
        self.redirect(f"{callback}{separator}{urlencode({'denied': token})}")
        return 302

    def resource(self, path: str) -> int:
        self._count_signature_method()
        try:
            valid, request = RESOURCE_ENDPOINT.validate_protected_resource_request(
                self.full_uri,
                http_method=self.command,
                body=self.body.decode(),
                headers=dict(self.headers),
                realms=["read"],
            )
        except errors.OAuth1Error:
            valid, request = False, None
        if not valid:
            self.send_json(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'OAuth realm="splice-test"'})
            return 401
        with STORE.lock:
            user = STORE.access_tokens[request.resource_owner_key]["user"]
        if path == "/api/me":
            self.send_json(200, USERS[user])
        else:
            self.send_json(200, {"items": [{"id": 1, "name": "First tweet"}, {"id": 2, "name": "Second tweet"}]})
        return 200

    def control(self):
        path, method = self.url_path, self.command
        if path == "/_control/health":
            self.send_json(200, {"ok": True})
        elif path == "/_control/clients" and method == "GET":
            clients = [
                {
                    "client_key": key,
                    "client_secret": client["secret"],
                    "signature_method": client["method"],
                    "name": client["name"],
                    "rsa_private_key": client.get("rsa_private_key"),
                }
                for key, client in CLIENTS.items()
            ]
            self.send_json(200, {"clients": clients})
        elif path == "/_control/stats" and method == "GET":
            with STORE.lock:
                stats = STORE.stats()
            self.send_json(200, stats)
        elif path == "/_control/revoke" and method == "POST":
            self.revoke()
        elif path == "/_control/reset" and method == "POST":
            with STORE.lock:
                STORE.reset_counters()
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": "unknown control endpoint"})

    def revoke(self):
        """Revoke every access token, or only those of ``?user=`` / ``?client_key=``."""
        user, client_key = self.query_value("user"), self.query_value("client_key")
        with STORE.lock:
            doomed = [
                token
                for token, entry in STORE.access_tokens.items()
                if (user is None or entry["user"] == user) and (client_key is None or entry["client_key"] == client_key)
            ]
            for token in doomed:
                del STORE.access_tokens[token]
        self.send_json(200, {"revoked": len(doomed)})


def main():
    args = parse_args(__doc__.splitlines()[0])
    serve(LoopbackHTTPServer((HOST, args.port), OAuth1Handler), args.port_file)


if __name__ == "__main__":
    main()

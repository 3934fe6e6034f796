"""Fault-injection API server for Basic-auth and API-key connections.

Run as ``python -m tests.servers.api_server --port-file FILE``. Tests steer it through
``/_control/`` endpoints (no auth: it listens on 127.0.0.1 only):

* ``POST /_control/credentials`` JSON ``{"username", "password"}``, ``{"api_key"}`` or
  ``{"api_key", "api_secret"}`` (or a list of those): the credentials now accepted.
* ``POST /_control/fault`` JSON ``{"mode", "path"?, "retry_after"?, "hang_seconds"?, "times"?}``:
  mode is ``ok``, ``500``, ``429``, ``hang``, ``401``, ``403``, ``200_with_invalid_body``,
  ``invalid_json`` or any other HTTP status code; without ``path`` it applies to every
  ``/api/`` path; ``times`` limits it to the next N matching requests. A hanging request is let go
  early when its fault is cleared or the server is reset.
* ``GET /_control/stats``: request counts and the last requests with all their headers.
* ``GET /_control/wait?path=P&count=N&timeout=T``: answers once N requests to P have arrived (counted
  from the last reset), or 408 after T seconds: a test waits for a request without polling. With ``served=1``
  it waits for N answers instead (a hanging request is counted once it is let go and answered).
* ``POST /_control/items`` JSON ``{"name", "created_at"?, ...}``: a record made in the app by someone else (no
  auth), listed by ``/api/items`` and ``/api/feed``; ``created_at`` (ISO 8601) defaults to now.
* ``POST /_control/reset``: default credentials and items, no faults, zeroed counters.

``GET /api/items`` lists the items, ``GET /api/items/<id>`` reads one and ``POST /api/items`` creates one; a POST
with an ``Idempotency-Key`` header seen before creates nothing and answers the first item again. A ``hang`` fault
holds a request before it is served, so a POST that outlives the client's timeout still creates its item.
``GET /api/feed`` lists records as a poll trigger with dates sees them: newest first, each with the
``created_at`` the app gave it. Its records are the default items (made in 2024) and those added with
``/_control/items`` (made by someone else in the app), not what a client POSTs to ``/api/items``: a recipe that
copies each new record into an item does not poll its own copies.

Each recorded request carries ``at``: the server's time.time() when it arrived.

Credentials are accepted as HTTP Basic (username/password, or api_key[:api_secret]),
``Authorization: Bearer <key>``, ``Authorization: token <key>``, an ``X-API-Key`` header
(with ``X-API-Secret`` when a secret is required) or ``api_key``/``api_secret`` query
parameters, so a test can check which placement a connection used.
"""

import base64
import binascii
import copy
import hmac
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime

from tests.servers._http import HOST, Handler, LoopbackHTTPServer, parse_args, serve

DEFAULT_CREDENTIALS = [
    {"username": "ada", "password": "ada-pass-123"},
    {"api_key": "test-api-key-0123456789"},
]
DEFAULT_ITEMS = [{"id": 1, "name": "First item"}, {"id": 2, "name": "Second item"}]
DEFAULT_CREATED = {1: "2024-01-01T00:00:00+00:00", 2: "2024-01-02T00:00:00+00:00"}
IDENTITY = {"email": "ada@example.com", "login": "ada"}
DEFAULT_HANG_SECONDS = 30.0
RECENT_LIMIT = 50

FAULT_BODIES = {
    401: {"error": "unauthorized", "message": "Bad credentials"},
    403: {"error": "forbidden", "message": "Not allowed"},
    429: {"error": "rate_limited", "message": "Too many requests"},
    500: {"error": "internal_error", "message": "Injected server error"},
}


class State:
    """All mutable server state, guarded by one lock because handlers run in threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)  # notified as each API request is counted
        self.unhang = threading.Event()
        self.reset()

    def release_hanging(self):
        """Let every hanging request go on (a cleared fault, a reset); later hangs wait anew."""
        self.unhang.set()
        self.unhang = threading.Event()

    def reset(self):
        self.release_hanging()
        self.credentials = copy.deepcopy(DEFAULT_CREDENTIALS)
        self.items = copy.deepcopy(DEFAULT_ITEMS)
        self.created_at: dict[int, str] = dict(DEFAULT_CREATED)  # item id -> when it was made
        self.feed_ids: set[int] = set(DEFAULT_CREATED)  # the items /api/feed lists
        self.by_idempotency_key: dict[str, dict] = {}  # POST /api/items with an Idempotency-Key header
        self.faults: dict[str, dict] = {}
        self.total = 0
        self.by_path: Counter[str] = Counter()
        self.served_by_path: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_auth: Counter[str] = Counter()
        self.recent: deque[dict] = deque(maxlen=RECENT_LIMIT)

    def add_item(self, fields: dict, created_at: str | None = None) -> dict:
        """A new item with the next id (call with the lock held)."""
        item = {**fields, "id": max((i["id"] for i in self.items), default=0) + 1}
        self.items.append(item)
        self.created_at[item["id"]] = created_at or datetime.now(UTC).isoformat()
        return item

    def take_fault(self, path: str) -> dict | None:
        """The fault for this path (else the global one), consuming one use if limited."""
        key = path if path in self.faults else "*"
        fault = self.faults.get(key)
        if fault is None:
            return None
        if fault.get("times") is not None:
            fault["times"] -= 1
            if fault["times"] <= 0:
                del self.faults[key]
        return dict(fault)

    def stats(self) -> dict:
        recent = [dict(entry) for entry in self.recent]
        return {
            "requests": self.total,
            "by_path": dict(self.by_path),
            "by_status": dict(self.by_status),
            "by_auth": dict(self.by_auth),
            "last_request": recent[-1] if recent else None,
            "recent": recent,
            "faults": copy.deepcopy(self.faults),
            "credentials": copy.deepcopy(self.credentials),
        }


STATE = State()


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def _extract_auth(handler: "APIHandler") -> tuple[str | None, dict]:
    """Which placement the client used and the credential material it sent."""
    header = handler.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "basic", {}
        return "basic", {"user": user, "password": password}
    if scheme.lower() == "bearer" and value:
        return "bearer", {"key": value}
    if scheme.lower() == "token" and value:
        return "token", {"key": value}
    if handler.headers.get("X-API-Key"):
        return "header", {"key": handler.headers["X-API-Key"], "secret": handler.headers.get("X-API-Secret")}
    if handler.query_value("api_key"):
        return "query", {"key": handler.query_value("api_key"), "secret": handler.query_value("api_secret")}
    return None, {}


def _accepted(kind: str | None, sent: dict, credentials: list[dict]) -> bool:
    for cred in credentials:
        if kind == "basic":
            if "username" in cred and _same(sent.get("user"), cred["username"]):
                if _same(sent.get("password"), cred["password"]):
                    return True
            if "api_key" in cred and _same(sent.get("user"), cred["api_key"]):
                if _same(sent.get("password") or "", cred.get("api_secret") or ""):
                    return True
        elif kind in ("bearer", "token"):
            if "api_key" in cred and not cred.get("api_secret") and _same(sent["key"], cred["api_key"]):
                return True
        elif kind in ("header", "query"):
            if "api_key" in cred and _same(sent["key"], cred["api_key"]):
                if not cred.get("api_secret") or _same(sent.get("secret"), cred["api_secret"]):
                    return True
    return False


class APIHandler(Handler):
    def route(self):
        if self.url_path.startswith("/_control/"):
            self.control()
            return
        self._entry = self._record()
        self.api()

    def respond(self, status, *args, **kwargs):
        # Record the status before the response leaves: a client reading the stats right after its
        # response must find its own request complete (hanging requests stay recorded as pending).
        entry = getattr(self, "_entry", None)
        if entry is not None and entry["status"] is None:
            with STATE.lock:
                entry["status"] = status
                STATE.by_status[str(status)] += 1
                STATE.served_by_path[entry["path"]] += 1
                STATE.arrived.notify_all()
        super().respond(status, *args, **kwargs)

    def _record(self) -> dict:
        kind, _sent = _extract_auth(self)
        entry = {
            "method": self.command,
            "path": self.url_path,
            "query": {key: values[0] for key, values in self.query.items()},
            "headers": dict(self.headers.items()),
            "body": self.body.decode(errors="replace"),
            "auth": kind,
            "status": None,
            "at": time.time(),
        }
        with STATE.lock:
            STATE.total += 1
            STATE.by_path[self.url_path] += 1
            STATE.by_auth[kind or "none"] += 1
            STATE.recent.append(entry)
            STATE.arrived.notify_all()
        return entry

    def api(self) -> int:
        """Serve one /api/ request; returns the status sent."""
        with STATE.lock:
            fault = STATE.take_fault(self.url_path)
            credentials = copy.deepcopy(STATE.credentials)
        if fault:
            status = self.apply_fault(fault)
            if status:
                return status
        kind, sent = _extract_auth(self)
        if not _accepted(kind, sent, credentials):
            self.send_json(401, FAULT_BODIES[401], {"WWW-Authenticate": 'Basic realm="splice-test-api"'})
            return 401
        if self.url_path == "/api/me" and self.command == "GET":
            self.send_json(200, IDENTITY)
            return 200
        if self.url_path == "/api/items" and self.command == "GET":
            with STATE.lock:
                items = copy.deepcopy(STATE.items)
            self.send_json(200, {"items": items})
            return 200
        if self.url_path == "/api/items" and self.command == "POST":
            return self.create_item()
        if self.url_path == "/api/feed" and self.command == "GET":
            with STATE.lock:
                records = [{**copy.deepcopy(i), "created_at": STATE.created_at[i["id"]]} for i in STATE.items
                           if i["id"] in STATE.feed_ids]
            self.send_json(200, {"records": records[::-1]})
            return 200
        if self.url_path.startswith("/api/items/") and self.command == "GET":
            return self.get_item(self.url_path.removeprefix("/api/items/"))
        self.send_json(404, {"error": "not_found"})
        return 404

    def get_item(self, item_id: str) -> int:
        with STATE.lock:
            item = next((copy.deepcopy(i) for i in STATE.items if str(i["id"]) == item_id), None)
        if item is None:
            self.send_json(404, {"error": "not_found"})
            return 404
        self.send_json(200, item)
        return 200

    def create_item(self) -> int:
        try:
            payload = self.json_body()
        except ValueError:
            self.send_json(400, {"error": "invalid_json"})
            return 400
        if not isinstance(payload, dict):
            self.send_json(400, {"error": "expected_object"})
            return 400
        key = self.headers.get("Idempotency-Key")
        with STATE.lock:
            earlier = STATE.by_idempotency_key.get(key) if key else None
            if earlier is None:
                item = STATE.add_item(payload)
                if key:
                    STATE.by_idempotency_key[key] = item
            else:
                item = earlier
        # As Stripe does: a repeated key gets the first answer again, and no second record.
        self.send_json(201 if earlier is None else 200, item)
        return 201 if earlier is None else 200

    def apply_fault(self, fault: dict) -> int | None:
        """Send the injected response; None means carry on and serve the request normally."""
        mode = str(fault["mode"])
        if mode == "hang":
            with STATE.lock:
                unhang = STATE.unhang
            unhang.wait(float(fault.get("hang_seconds") or DEFAULT_HANG_SECONDS))
            return None
        if mode == "200_with_invalid_body":
            self.send_json(200, {"ok": False, "error": "invalid_auth"})
            return 200
        if mode == "invalid_json":
            self.respond(200, b"<html><body>Down for maintenance</body></html>", "application/json")
            return 200
        status = int(mode)
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(fault.get("retry_after", 1))
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="splice-test-api"'
        self.send_json(status, FAULT_BODIES.get(status, {"error": "injected", "status": status}), headers)
        return status

    def control(self):
        path, method = self.url_path, self.command
        if path == "/_control/health":
            self.send_json(200, {"ok": True})
        elif path == "/_control/stats" and method == "GET":
            with STATE.lock:
                stats = STATE.stats()
            self.send_json(200, stats)
        elif path == "/_control/wait" and method == "GET":
            self.wait_for_requests()
        elif path == "/_control/reset" and method == "POST":
            with STATE.lock:
                STATE.reset()
            self.send_json(200, {"ok": True})
        elif path == "/_control/items" and method == "POST":
            self.control_add_item()
        elif path == "/_control/credentials" and method == "POST":
            self.set_credentials()
        elif path == "/_control/fault" and method == "POST":
            self.set_fault()
        else:
            self.send_json(404, {"error": "unknown control endpoint"})

    def wait_for_requests(self):
        path = self.query_value("path", "")
        count, timeout = int(self.query_value("count", "1")), float(self.query_value("timeout", "30"))
        counter = STATE.served_by_path if self.query_value("served") == "1" else STATE.by_path
        with STATE.lock:
            arrived = STATE.arrived.wait_for(lambda: counter[path] >= count, timeout=timeout)
            seen = counter[path]
        self.send_json(200 if arrived else 408, {"path": path, "count": seen})

    def control_add_item(self):
        payload = self.json_body()
        if not isinstance(payload, dict) or "name" not in payload:
            self.send_json(400, {"error": "need an object with a name"})
            return
        created_at = payload.pop("created_at", None)
        with STATE.lock:
            item = STATE.add_item(payload, created_at)
            STATE.feed_ids.add(item["id"])
            made = STATE.created_at[item["id"]]
        self.send_json(201, {**item, "created_at": made})

    def set_credentials(self):
        payload = self.json_body()
        creds = payload if isinstance(payload, list) else payload.get("credentials", [payload])
        for cred in creds:
            if not ({"username", "password"} <= cred.keys() or "api_key" in cred):
                self.send_json(400, {"error": "need username+password or api_key"})
                return
        with STATE.lock:
            STATE.credentials = creds
        self.send_json(200, {"credentials": creds})

    def set_fault(self):
        payload = self.json_body()
        mode = str(payload.get("mode", "ok"))
        named = {"ok", "hang", "200_with_invalid_body", "invalid_json"}
        if mode not in named and not (mode.isdigit() and 100 <= int(mode) <= 599):
            self.send_json(400, {"error": f"unknown fault mode {mode!r}"})
            return
        key = payload.get("path") or "*"
        with STATE.lock:
            if mode == "ok":
                STATE.faults.pop(key, None)
                STATE.release_hanging()
            else:
                STATE.faults[key] = {
                    "mode": mode,
                    "retry_after": payload.get("retry_after", 1),
                    "hang_seconds": payload.get("hang_seconds", DEFAULT_HANG_SECONDS),
                    "times": payload.get("times"),
                }
            faults = copy.deepcopy(STATE.faults)
        self.send_json(200, {"faults": faults})


def main():
    args = parse_args(__doc__.splitlines()[0])
    serve(LoopbackHTTPServer((HOST, args.port), APIHandler), args.port_file)


if __name__ == "__main__":
    main()

"""In-process state of the test authorization server: counters and knobs set by /_control/.

Request threads of the threaded WSGI server share it, so every access goes through LOCK.
TOKEN_LOCK serializes the token endpoint itself: SQLite ignores SELECT ... FOR UPDATE,
and without it two concurrent refreshes with one refresh token could both succeed where a
real provider (row locks) would reject the second.
"""

import os
import threading
from collections import Counter

LOCK = threading.Lock()
TOKEN_LOCK = threading.Lock()

DEFAULT_ACCESS_TOKEN_SECONDS = int(os.environ.get("OAUTH2_SERVER_ACCESS_TOKEN_SECONDS", "3600"))

_knobs = {"token_delay_ms": 0, "access_token_seconds": DEFAULT_ACCESS_TOKEN_SECONDS, "iss_supported": False}
_counters: dict[str, Counter] = {}
_gauges = {"token_in_flight": 0, "token_max_in_flight": 0}  # in-flight survives reset()
_delays_over = threading.Event()


def token_delay() -> None:
    """Hold a token request for the token_delay_ms knob, or until the next reset lets it go."""
    with LOCK:
        seconds, over = _knobs["token_delay_ms"] / 1000, _delays_over
    if seconds:
        over.wait(seconds)


def reset() -> None:
    """Zero the counters, restore the default token delay and lifetime, and end the delays under way."""
    global _delays_over
    with LOCK:
        _delays_over.set()
        _delays_over = threading.Event()
        _knobs.update(token_delay_ms=0, access_token_seconds=DEFAULT_ACCESS_TOKEN_SECONDS, iss_supported=False)
        _counters.clear()
        _gauges["token_max_in_flight"] = _gauges["token_in_flight"]


def count(kind: str, key: str) -> None:
    with LOCK:
        _counters.setdefault(kind, Counter())[key] += 1


def token_request_started(grant_type: str) -> None:
    with LOCK:
        _counters.setdefault("token_requests", Counter())[grant_type] += 1
        _gauges["token_in_flight"] += 1
        _gauges["token_max_in_flight"] = max(_gauges["token_max_in_flight"], _gauges["token_in_flight"])


def token_request_finished(grant_type: str, status: int) -> None:
    with LOCK:
        _gauges["token_in_flight"] -= 1
        _counters.setdefault("token_responses", Counter())[f"{grant_type} {status}"] += 1


def set_knob(name: str, value: int) -> None:
    with LOCK:
        _knobs[name] = value


def knob(name: str) -> int:
    with LOCK:
        return _knobs[name]


def access_token_seconds(request) -> int:
    """oauthlib calls this for every token it issues (token_expires_in may be a callable)."""
    return knob("access_token_seconds")


def snapshot() -> dict:
    with LOCK:
        token_requests = dict(_counters.get("token_requests", {}))
        return {
            "token_requests": token_requests,
            "token_requests_total": sum(token_requests.values()),
            "token_responses": dict(_counters.get("token_responses", {})),
            "token_max_in_flight": _gauges["token_max_in_flight"],
            "authorize_requests": dict(_counters.get("authorize", {})),
            "api_requests": dict(_counters.get("api", {})),
            "token_delay_ms": _knobs["token_delay_ms"],
            "access_token_seconds": _knobs["access_token_seconds"],
        }

"""Every environment variable Splice reads, in one place (README.md documents each one)."""

from __future__ import annotations

import os

__all__ = ["env_bool", "env_float", "env_int", "env_list", "env_str", "mandatory_secret"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    _fail(f"{name} must be one of 1/0, true/false, yes/no, on/off (got {raw!r}).")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        _fail(f"{name} must be a whole number (got {raw!r}).")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        _fail(f"{name} must be a number (got {raw!r}).")


def env_list(name: str, default: list[str] | None = None, sep: str = ",") -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(sep) if item.strip()]


def mandatory_secret(name: str, *, debug: bool, debug_default: str, why: str) -> str:
    """A secret that must be set in production; a fixed development value only when DEBUG is on.

    Like Zulip's get_mandatory_secret: a deployment that forgot it stops at start with one line,
    instead of running with a guessable key.
    """
    value = env_str(name)
    if value:
        return value
    if debug:
        return debug_default
    _fail(f"{name} is not set. {why} Set it in the environment (or SPLICE_DEBUG=1 for development).")


def _fail(message: str):
    """Stop the process with a one-line explanation and no traceback."""
    raise SystemExit(f"Splice configuration error: {message}")

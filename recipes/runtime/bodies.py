"""The JSON bodies programs send Splice (a webhook delivery, a callable recipe's inputs): read strictly, so what a
job keeps is JSON that PostgreSQL's jsonb accepts, and every refusal says what is wrong."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_DEPTH", "BodyRefused", "json_body"]

MAX_DEPTH = 64  # nesting of a body's JSON: deeper is no program's data, and costs every reader of the job


class BodyRefused(ValueError):
    """A body that is not JSON Splice can keep; the message says why, for the sender."""


def json_body(body: bytes) -> Any:
    """The body's JSON value; raises BodyRefused."""
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise BodyRefused("The body is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise BodyRefused(f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    except (ValueError, RecursionError) as exc:
        raise BodyRefused(f"The body is not JSON Splice can keep: {_reason(exc)}.") from None
    problem = _unstorable(payload)
    if problem:
        raise BodyRefused(f"The body is not JSON Splice can keep: {problem}.")
    return payload


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def _reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return f"it is nested more than {MAX_DEPTH} levels deep"
    return str(exc).split("\n")[0][:200] or "a value cannot be read"


def _unstorable(payload: Any) -> str:
    """What PostgreSQL's jsonb would refuse in the payload (a NUL character, a lone surrogate) or what is nested
    too deep; "" when nothing is. Walked without recursion, so no depth can overflow the stack."""
    pending = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return f"it is nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            if "\x00" in value:
                return "a string holds a NUL character (\\u0000)"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "a string holds a lone surrogate (\\ud800–\\udfff)"
    return ""

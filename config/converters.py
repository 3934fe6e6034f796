"""Database ids in URLs and request parameters: only what a BigAutoField can hold, 1 to 2**63 - 1.

``<id:pk>`` (registered as "id" by config/urls.py) matches those alone, so a longer or zero id is a 404 before
any query runs (PostgreSQL refuses a bigint out of range with an error, not an empty result). `parse_id`
applies the same rule to an id that comes in a form field or the query string.
"""

from __future__ import annotations

import re

__all__ = ["MAX_ID", "IdConverter", "parse_id"]

MAX_ID = 2**63 - 1  # PostgreSQL's bigint, the BigAutoField every model here uses
_ID_RE = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() also accepts "²", which int() refuses


def parse_id(value: object) -> int | None:
    """The id ``value`` spells (an int, or a string of ASCII digits), or None if it is not one 1..MAX_ID."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ID_RE.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


class IdConverter:
    """``<id:pk>``: a database id; anything else in its place does not match the route (a 404)."""

    regex = _ID_RE.pattern

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValueError(f"not a database id: {value!r}")  # Django's cue that the route does not match
        return number

    def to_url(self, value: int) -> str:
        return str(value)

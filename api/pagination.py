"""Cursor pagination: a page is the rows after the cursor, in a stable order by id; `next_cursor` is opaque to
callers (it is the last row's id, base64url), and None on the last page. Stable under inserts, unlike offsets."""

from __future__ import annotations

import base64
import binascii

from django.db.models import QuerySet

from api.problems import ApiProblem

__all__ = ["DEFAULT_LIMIT", "MAX_ID", "MAX_LIMIT", "cursor_page"]

DEFAULT_LIMIT, MAX_LIMIT = 50, 100
MAX_ID = 2**63 - 1  # the largest id a BigAutoField holds: a larger one is a 400, not a database error


def _decode(cursor: str) -> int:
    try:
        value = int(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = -1
    if not 0 < value <= MAX_ID:
        raise ApiProblem(400, "invalid_request", "Check the request: “cursor”: is not one this API gave; send the "
                         "`next_cursor` of the previous page, or none for the first.",
                         errors={"cursor": "is not one this API gave"})
    return value


def _encode(pk: int) -> str:
    return base64.urlsafe_b64encode(str(pk).encode()).decode().rstrip("=")


def cursor_page(queryset: QuerySet, *, cursor: str | None, limit: int,
                newest_first: bool = False) -> tuple[list, str | None]:
    """The page's rows and the next cursor. `newest_first`: by id descending (jobs), else ascending."""
    if cursor:
        after = _decode(cursor)
        queryset = queryset.filter(pk__lt=after) if newest_first else queryset.filter(pk__gt=after)
    rows = list(queryset.order_by("-pk" if newest_first else "pk")[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode(rows[-1].pk) if more and rows else None)

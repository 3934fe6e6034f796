"""Every write through the API is audited with the token's owner and the token's name: a row of its own
(api.models.ApiWrite), and, on a connection, the events its service wrote name the token too (so the
connection's audit log says which program did it)."""

from __future__ import annotations

from api.models import ApiWrite
from connections.models import AuditEvent

__all__ = ["api_write_record", "audit_mark"]


def audit_mark() -> int:
    """Where the connections' audit log is before a write: the events after it are the write's."""
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    return last or 0


def api_write_record(request, *, operation: str, object_type: str, object_id: int | None, status_code: int,
                     summary: str = "", connection_events_after: int | None = None) -> ApiWrite:
    """Record the write; with `connection_events_after` (audit_mark()), the connection audit events the request
    wrote since then get the token's name in their summary and details."""
    token = request.api_token
    if connection_events_after is not None and object_id is not None:
        events = AuditEvent.objects.filter(pk__gt=connection_events_after, actor=request.user,
                                           connection_id=object_id)
        suffix = f" (API token “{token.name}”)"
        for event in events:
            event.summary = (event.summary[:500 - len(suffix)] + suffix) if event.summary else suffix.strip()
            event.details = {**(event.details or {}), "api_token": token.name}
            event.save(update_fields=["summary", "details"])
    return ApiWrite.objects.create(token=token, token_name=token.name, actor=request.user, operation=operation,
                                   object_type=object_type, object_id=object_id, status_code=status_code,
                                   summary=summary[:300])

"""Idempotency-Key on creates (after the IETF httpapi draft): a retry with the same key and body answers what the
first request answered, without creating again; the same key with another body is a 422; a retry while the first is
still running is a 409. Kept per token in the database (api.models.IdempotentRequest) for
SPLICE_API_IDEMPOTENCY_HOURS: a replay must survive a restart of Redis, and a create writes the database anyway."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import IdempotentRequest
from api.problems import ApiProblem

__all__ = ["KEY_MAX_LENGTH", "idempotent_create"]

KEY_MAX_LENGTH = 100


def _hours() -> int:
    return getattr(settings, "SPLICE_API_IDEMPOTENCY_HOURS", 24)


def idempotent_create(request, operation: str, create: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """(status, body) of `create()`, or of the first request that sent this request's Idempotency-Key."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return create()
    if not 0 < len(key) <= KEY_MAX_LENGTH or not key.isascii() or not key.isprintable():
        raise ApiProblem(400, "invalid_idempotency_key", f"Send an Idempotency-Key of 1 to {KEY_MAX_LENGTH} printable "
                         "ASCII characters (a UUID is a good one).")
    token = request.api_token
    fingerprint = hashlib.sha256(request.path.encode() + b"\n" + request.body).hexdigest()
    IdempotentRequest.objects.filter(token=token, created_at__lt=timezone.now() - timedelta(hours=_hours())).delete()
    try:
        with transaction.atomic():
            taken = IdempotentRequest.objects.create(token=token, key=key, operation=operation,
                                                     fingerprint=fingerprint)
    except IntegrityError:
        first = IdempotentRequest.objects.get(token=token, key=key)
        if first.fingerprint != fingerprint or first.operation != operation:
            raise ApiProblem(422, "idempotency_key_reused", "This Idempotency-Key was sent with another request: "
                             "use a new key for a new request.") from None
        if first.status_code is None:
            raise ApiProblem(409, "idempotency_key_in_use", "A request with this Idempotency-Key is still being "
                             "processed: try again in a moment.", headers={"Retry-After": "1"}) from None
        return first.status_code, first.body
    try:
        status, body = create()
    except BaseException:
        IdempotentRequest.objects.filter(pk=taken.pk).delete()  # a refusal: the same retry is refused again
        raise
    IdempotentRequest.objects.filter(pk=taken.pk).update(status_code=status, body=_stored(body))
    return status, body


def _stored(body: dict) -> dict:
    """The answer as JSON keeps it: dates in ISO 8601 with every digit, so a replay answers the same text."""
    return json.loads(json.dumps(body, default=lambda value: value.isoformat() if isinstance(value, date)
                                 else str(value)))

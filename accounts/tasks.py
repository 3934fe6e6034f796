"""Operational tasks."""

from celery import shared_task
from django.utils import timezone


@shared_task(name="splice.ping")
def ping(token: str) -> dict:
    """Round trip through broker and worker: `celery -A config call splice.ping --args='["x"]'`.

    Echoes the token with the worker's clock, so a health probe can tell a live worker from a stale result.
    """
    return {"pong": token, "at": timezone.now().isoformat()}

"""Accounts' tasks: the notification emails, and a round trip through broker and worker. They take ids only."""

from smtplib import SMTPException

from celery import shared_task
from django.utils import timezone

from accounts.emails import notification_emails_send

__all__ = ["notification_emails_send_task", "ping"]


@shared_task(name="splice.ping")
def ping(token: str) -> dict:
    """Round trip through broker and worker: `celery -A config call splice.ping --args='["x"]'`.

    Echoes the token with the worker's clock, so a health probe can tell a live worker from a stale result.
    """
    return {"pong": token, "at": timezone.now().isoformat()}


# Routed by settings.CELERY_TASK_ROUTES ("splice.notifications.*").
@shared_task(name="splice.notifications.email", bind=True, max_retries=5)
def notification_emails_send_task(self, notification_ids: list[int]) -> int:
    """Email these notifications to their recipients; a mail server that fails is tried again, backing off."""
    try:
        return notification_emails_send(notification_ids=notification_ids)
    except (SMTPException, OSError) as exc:
        raise self.retry(exc=exc, countdown=60 * 2 ** self.request.retries) from None

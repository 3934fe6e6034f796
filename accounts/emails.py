"""The emails Splice sends people: each notification, once (accounts.tasks sends them in the background)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification

__all__ = ["notification_emails_send"]


def notification_emails_send(*, notification_ids: list[int]) -> int:
    """Email each notification to its recipient, once (one already emailed, even by another worker, is skipped).
    Returns how many were sent; a mail server that fails raises, and leaves that one to send again."""
    base = settings.SPLICE_BASE_URL
    sent = 0
    pending = Notification.objects.filter(pk__in=notification_ids, emailed_at__isnull=True).select_related("recipient")
    with get_connection() as mail:
        for notification in pending:
            if not notification.recipient.email:
                continue
            if not Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True) \
                    .update(emailed_at=timezone.now()):
                continue  # another worker sent it
            parts = [notification.body]
            if notification.link:
                parts.append(f"{notification.link_label or 'Open'}: {base}{notification.link}")
            parts.append(" ".join(filter(None, [
                notification.why_sent, f"All notifications: {base}{reverse('notification_list')}"])))
            message = EmailMessage(subject=f"[Splice] {notification.title}", body="\n\n".join(parts) + "\n",
                                   to=[notification.recipient.email], connection=mail)
            try:
                message.send()
            except Exception:
                Notification.objects.filter(pk=notification.pk).update(emailed_at=None)
                raise
            sent += 1
    return sent

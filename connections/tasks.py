"""Celery tasks of the connection health checks. They take ids only (never a secret) and call
connections.health; the beat schedule (migration 0004) sends `splice.health.sweep` and `splice.health.prune`.
All of them go to SPLICE_HEALTH_QUEUE (settings.CELERY_TASK_ROUTES). Notification emails are accounts' task."""

from __future__ import annotations

from collections import Counter

from celery import shared_task
from django.conf import settings

from accounts.tasks import notification_emails_send_task
from connections import health
from connections.services import connections_pending_purge

__all__ = ["health_check", "health_sweep", "prune_check_history"]

# A check task starts checks only while one more fits in its leases, which last two checks' time limit.
_TASK_LIMIT = 2 * settings.SPLICE_HEALTH_CHECK_TIME_LIMIT + 10


@shared_task(name="splice.health.sweep")
def health_sweep() -> int | None:
    """Plan a sweep (enqueue one check per due connection); the id of the sweep, or None if one still runs.
    Wizard connections whose first authorization never came are removed first (nobody returns to them)."""
    connections_pending_purge()
    sweep = health.health_sweep_start()
    return sweep.pk if sweep else None


# No result kept: a sweep's outcome is in its HealthSweep row and the check history.
@shared_task(name="splice.health.check", bind=True, max_retries=health.HOST_BUSY_RETRIES, ignore_result=True,
             time_limit=_TASK_LIMIT, soft_time_limit=_TASK_LIMIT - 5)
def health_check(self, connection_ids: list[int] | int, sweep_id: int | None = None,
                 acting_user_id: int | None = None) -> dict[str, int]:
    """Check connections; those whose app host (or check) is busy are tried again a little later, in a new
    task. Returns how many ended in each state ("checked", "skipped", "duplicate", "failed")."""
    if isinstance(connection_ids, int):
        connection_ids = [connection_ids]  # a message enqueued before checks came in batches
    results = health.connections_health_check(
        connection_ids=connection_ids, sweep_id=sweep_id, acting_user_id=acting_user_id,
        last_attempt=self.request.retries >= self.max_retries,
    )
    deferred = [pk for pk, result in results.items() if result.state == "deferred"]
    if deferred:
        raise self.retry(args=[deferred, sweep_id, acting_user_id],
                         countdown=max(results[pk].retry_in for pk in deferred))
    return dict(Counter(result.state for result in results.values()))


# Its name before notifications moved to accounts: a message still queued under it is passed on (ids of rows
# that were copied to accounts_notification with their ids). Nothing sends it any more.
@shared_task(name="splice.health.email", ignore_result=True)
def send_notification_emails(notification_ids: list[int]) -> None:
    notification_emails_send_task.delay(notification_ids)


@shared_task(name="splice.health.prune")
def prune_check_history() -> int:
    """Delete check history older than SPLICE_CHECK_HISTORY_DAYS; how many checks were deleted."""
    return health.check_history_prune()

"""Connection health: the periodic sweep, polite checks of connections, the check history, and early warning
of credentials about to expire. Who is told about a status change, and how, is connections.notifications.

    health_sweep_start()           plan a sweep: every connected or failing connection that is due, in batches,
                                   one `splice.health.check` task per SPLICE_HEALTH_CHECKS_PER_TASK of them
                                   (ids only, never a secret)
    connections_health_check(...)  check connections: per-connection leases, a per-app-host slot, each
                                   connector's test request (the client's check: connections.operations), the
                                   outcomes recorded together (connection_record_outcomes, whose status
                                   machine also says when sweeps may check each again: Retry-After, backoff);
                                   connection_health_check(...) for one
    health_expiry_warn(...)        a sweep's warnings of refresh tokens and client secrets about to expire

Politeness: at most SPLICE_HEALTH_PER_HOST_CONCURRENCY checks per app host at once (HealthHostSlot, a
semaphore in the database, so it holds across worker processes with or without Redis), checks spread
over SPLICE_HEALTH_JITTER seconds, Retry-After honoured, and exponential backoff for a connection that
keeps failing transiently. No overlap: one sweep at a time (HealthSweep's partial unique index) and one
check per connection at a time (ConnectionHealth's lease).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from accounts.models import User
from connections.models import (
    Connection,
    ConnectionCheck,
    ConnectionHealth,
    HealthHostSlot,
    HealthSweep,
)
from connections.notifications import connection_expiry_notify, connection_failures_announce
from connections.tokens import refresh_leases_claim, refresh_leases_release

__all__ = [
    "CheckResult",
    "check_history_prune",
    "connections_health_check",
    "connection_health_check",
    "health_expiry_warn",
    "health_sweep_start",
    "project_check_all",
]

logger = logging.getLogger(__name__)

Status = Connection.Status
Reason = Connection.ErrorReason
Source = ConnectionCheck.Source

# A check that finds its app host (or its connection) busy tries again a second or two later, this many times.
HOST_BUSY_RETRIES = 30


def _check_ttl() -> timedelta:
    """How long a check may hold its lease and host slot: its task's hard time limit, plus a margin."""
    return timedelta(seconds=settings.SPLICE_HEALTH_CHECK_TIME_LIMIT + 5)


def _enqueue_checks(connection_ids: list[int], *, sweep_id: int | None = None, acting_user_id: int | None = None,
                    countdown: float = 0) -> None:
    """One check task per SPLICE_HEALTH_CHECKS_PER_TASK connections. The task is found by its name, so this module
    and the tasks that call it (connections.tasks) do not import each other."""
    health_check = current_app.tasks["splice.health.check"]
    for ids in _per_task(connection_ids):
        health_check.apply_async(args=[ids, sweep_id, acting_user_id], countdown=countdown or None,
                                 queue=settings.SPLICE_HEALTH_QUEUE)


def _per_task(connection_ids: list[int]) -> list[list[int]]:
    """The connections a check task takes at a time: a task costs more than a check, so each takes several."""
    size = max(settings.SPLICE_HEALTH_CHECKS_PER_TASK, 1)
    return [connection_ids[start:start + size] for start in range(0, len(connection_ids), size)]


# --- the sweep ----------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    """Not backing off and not asked by the app to wait (connections never swept have no health row)."""
    return (Q(health__isnull=True)
            | ((Q(health__next_check_at__isnull=True) | Q(health__next_check_at__lte=now))
               & (Q(health__retry_after_until__isnull=True) | Q(health__retry_after_until__lte=now))))


def health_sweep_start() -> HealthSweep | None:
    """Start a sweep, unless one is still running: enqueue a check of every connected or failing connection
    that is due, in batches of SPLICE_HEALTH_BATCH_SIZE. Returns the sweep, or None when another one runs."""
    now = timezone.now()
    # A sweep whose worker died never finishes: it stops holding the lock when its time is up.
    HealthSweep.objects.filter(running=True, lock_expires_at__lt=now).update(running=False)
    lock_for = (2 * settings.SPLICE_HEALTH_INTERVAL + settings.SPLICE_HEALTH_JITTER
                + settings.SPLICE_HEALTH_CHECK_TIME_LIMIT)
    try:
        with transaction.atomic():
            sweep = HealthSweep.objects.create(started_at=now, lock_expires_at=now + timedelta(seconds=lock_for))
    except IntegrityError:
        logger.info("Health sweep skipped: the previous sweep is still running")
        return None

    try:
        _sweep_plan(sweep, now)
    finally:
        # Planned (even if planning broke half-way): the sweep ends when the checks it enqueued are done.
        all_done = Q(done__gte=F("planned"))
        HealthSweep.objects.filter(pk=sweep.pk).update(
            planning_done=True,
            running=Case(When(all_done, then=Value(False)), default=F("running")),
            finished_at=Case(When(all_done, then=Value(timezone.now())), default=F("finished_at")),
        )
    for step in (health_expiry_warn, connection_failures_announce):
        try:
            step(now=now)
        except Exception:  # noqa: BLE001 (a failed warning must not stop the next sweep's checks)
            logger.exception("Health sweep %s: %s failed", sweep.pk, step.__name__)
    sweep.refresh_from_db()
    return sweep


def _sweep_plan(sweep: HealthSweep, now: datetime) -> None:
    """Enqueue a check of every connected or failing connection that is due, a batch at a time."""
    candidates = Connection.objects.filter(_due(now), status__in=[Status.CONNECTED, Status.ERROR]).order_by("pk")
    last_pk = 0
    while True:
        ids = list(candidates.filter(pk__gt=last_pk).values_list("pk", flat=True)[:settings.SPLICE_HEALTH_BATCH_SIZE])
        if not ids:
            return
        last_pk = ids[-1]
        ConnectionHealth.objects.bulk_create([ConnectionHealth(connection_id=pk) for pk in ids], ignore_conflicts=True)
        with transaction.atomic():
            HealthSweep.objects.filter(pk=sweep.pk).update(planned=F("planned") + len(ids))
            for task_ids in _per_task(ids):  # each task at its own moment within the jitter
                transaction.on_commit(partial(_enqueue_checks, task_ids, sweep_id=sweep.pk,
                                              countdown=random.uniform(0, settings.SPLICE_HEALTH_JITTER)))


def _sweep_count(sweep_id: int, results: list[CheckResult]) -> None:
    """Count connections of a sweep (ok / failed / skipped); the last ones finish the sweep. One UPDATE, so
    the last check and the end of planning cannot both miss the moment (SQL sees the row's values before it)."""
    if not results:
        return
    counts = Counter(result.counter for result in results)
    last = Q(planning_done=True, running=True, done__gte=F("planned") - len(results))
    HealthSweep.objects.filter(pk=sweep_id).update(
        done=F("done") + len(results),
        **{counter: F(counter) + n for counter, n in counts.items()},
        changed=F("changed") + sum(result.changed for result in results),
        running=Case(When(last, then=Value(False)), default=F("running")),
        finished_at=Case(When(last, then=Value(timezone.now())), default=F("finished_at")),
    )


@transaction.atomic
def project_check_all(*, project, acting_user: User) -> int:
    """Check now every connected or failing connection of a project, through the sweep's task. Returns how many."""
    ids = list(Connection.objects.filter(project=project, status__in=[Status.CONNECTED, Status.ERROR])
               .values_list("pk", flat=True))
    ConnectionHealth.objects.bulk_create([ConnectionHealth(connection_id=pk) for pk in ids], ignore_conflicts=True)
    transaction.on_commit(partial(_enqueue_checks, ids, acting_user_id=acting_user.pk))
    return len(ids)


# --- one check ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """What a check task did: `checked` (`ok` or not), `skipped` (not due, or checked since its sweep began),
    `failed` (an error inside Splice), `duplicate` (this sweep already has this connection: a redelivered task),
    or `deferred` (its app host is busy, or another check holds the connection: try again in `retry_in` s)."""

    state: str
    ok: bool = False
    changed: bool = False
    retry_in: float = 0.0

    @property
    def counter(self) -> str:
        """The HealthSweep counter this result adds to."""
        return "ok" if self.ok else "skipped" if self.state == "skipped" else "failed"


def connection_health_check(*, connection_id: int, sweep_id: int | None = None, acting_user_id: int | None = None,
                            last_attempt: bool = False) -> CheckResult:
    """Check one connection politely and record the result: connections_health_check for one."""
    return connections_health_check(connection_ids=[connection_id], sweep_id=sweep_id, acting_user_id=acting_user_id,
                                    last_attempt=last_attempt)[connection_id]


def connections_health_check(*, connection_ids: list[int], sweep_id: int | None = None,
                             acting_user_id: int | None = None, last_attempt: bool = False) -> dict[int, CheckResult]:
    """Check connections politely, one after another, and record the results (status, audit, history,
    notifications). Returns each connection's CheckResult.

    One check per connection at a time (a lease); sweep checks also skip a connection that is not due or was
    checked since the sweep began, and count each connection in their sweep exactly once. One slot of each
    app host is held while that host's connections are checked; the checks share one HTTP session (kept-alive
    connections, no cookies). `last_attempt`: a busy host or connection no longer defers, it skips. The
    database work is per batch, not per check: claim the leases; take host slots; record every outcome
    (connection_record_outcomes); release and count.
    """
    from connections.custom import custom_connectors_synced

    with custom_connectors_synced():
        return _check_batch(connection_ids, sweep_id, acting_user_id, last_attempt)


def _check_batch(connection_ids: list[int], sweep_id: int | None, acting_user_id: int | None,
                 last_attempt: bool) -> dict[int, CheckResult]:
    from connections.client import connection_client
    from connections.http import new_session

    now = timezone.now()
    owner = uuid.uuid4().hex
    ids = list(dict.fromkeys(connection_ids))
    # Leases and slots for two checks' worst case, not the batch's: a worker that dies holds them no longer.
    # A check starts only while a whole check still fits in them; the rest are deferred, to a new task.
    ttl = 2 * _check_ttl()
    last_start = now + ttl - _check_ttl()
    results: dict[int, CheckResult] = {}
    claimed = _leases_claim(ids, owner, now, ttl, sweep_id, results)
    session = new_session(shared=True)
    default_profiles: dict = {}  # each app's default OAuth profile, looked up once
    try:
        by_host: dict[str, list] = {}  # the connections' clients, by the host their requests go to
        for connection in claimed:
            if _not_due(connection, now, sweep_id):
                results[connection.pk] = CheckResult("skipped")
                continue
            try:
                client = connection_client(connection, session=session, default_profiles=default_profiles, fresh=True,
                                           refresh_lease=owner)
            except Exception:
                logger.exception("Health check of connection %s failed inside Splice", connection.pk)
                results[connection.pk] = CheckResult("failed")
                continue
            by_host.setdefault(urlsplit(client.base_url).netloc.lower()[:255], []).append(client)
        # The refresh leases of those whose tokens need refreshing: one statement, not one each.
        refresh_leases_claim([client.connection for clients in by_host.values() for client in clients
                              if client.auth.refreshes], owner)
        slots, probed = {}, []
        for host, clients in by_host.items():
            slot = _host_slot_acquire(host, owner, now, ttl)
            if slot is None:
                results |= {client.connection.pk: _deferred() for client in clients}
                continue
            slots[host] = slot
            for client in clients:
                if timezone.now() > last_start:
                    results[client.connection.pk] = _deferred()
                    continue
                try:
                    outcome, duration_ms = client.check()
                except Exception:
                    logger.exception("Health check of connection %s failed inside Splice", client.connection.pk)
                    results[client.connection.pk] = CheckResult("failed")
                    continue
                probed.append((client.connection, outcome, duration_ms))
    finally:
        session.close()
    actor = User.objects.filter(pk=acting_user_id).first() if acting_user_id else None
    # Refresh leases claimed but not used up by a refresh (a check deferred, skipped or failed).
    unused = [connection.pk for connection in claimed if connection.refresh_lease_owner == owner]
    # The outcomes, the leases and slots let go, and the sweep's count: one transaction.
    try:
        with transaction.atomic():
            refresh_leases_release(unused, owner)  # no statement when none is left
            release = _record(probed, actor, sweep_id, results)
            _finish(owner, slots, results, release, sweep_id, last_attempt)
    except Exception:
        logger.exception("Health checks of connections %s could not be recorded",
                         sorted(connection.pk for connection, _, _ in probed))
        results |= {connection.pk: CheckResult("failed") for connection, _, _ in probed}
        with transaction.atomic():
            refresh_leases_release(unused, owner)
            _finish(owner, slots, results, {}, sweep_id, last_attempt)
    return results


def _record(probed: list, actor: User | None, sweep_id: int | None, results: dict[int, CheckResult]) -> dict:
    """Record the probes' outcomes; fill in their results. Returns {connection id: when sweeps check it next}."""
    from connections.services import connection_audit_tested, connection_record_outcomes

    if not probed:
        return {}
    if actor is not None:
        for connection, outcome, _ in probed:
            connection_audit_tested(connection=connection, outcome=outcome, acting_user=actor)
    decisions = connection_record_outcomes(probed, actor=actor, source=Source.SWEEP if sweep_id else Source.CHECK,
                                           sweep_id=sweep_id)
    release = {}
    for connection, outcome, _ in probed:
        decision = decisions[connection.pk]
        results[connection.pk] = CheckResult("checked", ok=outcome.ok, changed=bool(decision and decision.changed))
        # When sweeps may check it again: the app's Retry-After, and the machine's backoff while it fails.
        release[connection.pk] = {"next_check_at": decision and decision.next_check_at,
                                  "retry_after_until": decision and decision.retry_after_until}
    return release


def _finish(owner: str, slots: dict[str, int], results: dict[int, CheckResult], release: dict[int, dict],
            sweep_id: int | None, last_attempt: bool) -> None:
    """Let go of the host slots and leases, and count the sweep's connections. On the last attempt, what is
    still deferred is skipped (and counted) instead."""
    if last_attempt:
        results |= {pk: CheckResult("skipped") for pk, result in results.items() if result.state == "deferred"}
    for host, slot in slots.items():
        _host_slot_release(host, slot, owner)
    _leases_release(owner, results, release)
    if sweep_id is not None:
        _sweep_count(sweep_id, [result for result in results.values() if result.state not in ("deferred",
                                                                                              "duplicate")])


def _deferred() -> CheckResult:
    return CheckResult("deferred", retry_in=random.uniform(0.5, 2))


def _not_due(connection: Connection, now: datetime, sweep_id: int | None) -> bool:
    """Whether a claimed connection is to be skipped: no longer connected or failing, the app asked to wait,
    backing off (sweeps), or checked since its sweep began (Check now, another sweep)."""
    health = connection.health
    if connection.status not in (Status.CONNECTED, Status.ERROR):
        return True
    if health.retry_after_until and health.retry_after_until > now:
        return True
    if sweep_id is not None:
        if health.next_check_at and health.next_check_at > now:
            return True
        started = _sweep_started(sweep_id)
        if connection.last_checked_at and started and connection.last_checked_at >= started:
            return True
    return False


def _sweep_started(sweep_id: int) -> datetime | None:
    """When a sweep began. It never changes, so each process asks once per sweep, not once per check."""
    started = _SWEEP_STARTED.get(sweep_id)
    if started is None:
        started = HealthSweep.objects.filter(pk=sweep_id).values_list("started_at", flat=True).first()
        if started is not None:
            if len(_SWEEP_STARTED) > 64:
                _SWEEP_STARTED.clear()
            _SWEEP_STARTED[sweep_id] = started
    return started


_SWEEP_STARTED: dict[int, datetime] = {}


def _leases_claim(ids: list[int], owner: str, now: datetime, ttl: timedelta, sweep_id: int | None,
                  results: dict[int, CheckResult]) -> list[Connection]:
    """Claim the connections for this check with one atomic UPDATE; returns those claimed (with their health
    row) and puts the others in `results`: "duplicate" (a check for this sweep already claimed it), "skipped"
    (gone) or "deferred" (another check holds it). A sweep's claim also marks the connection as counted by
    that sweep, so a redelivered task cannot count it twice."""
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    claim = {"lease_owner": owner, "lease_expires_at": now + ttl}
    if sweep_id is not None:
        free &= ~Q(counted_sweep_id=sweep_id)
        claim["counted_sweep_id"] = sweep_id
    for attempt in range(2):
        ConnectionHealth.objects.filter(free, pk__in=ids).update(**claim)
        rows = list(Connection.objects.filter(pk__in=ids).select_related("health", "oauth_profile").order_by("pk"))
        missing = [row.pk for row in rows if _health(row) is None]
        if not missing or attempt:
            break
        # No row yet (connections no sweep has seen): create them and claim again.
        ConnectionHealth.objects.bulk_create([ConnectionHealth(connection_id=pk) for pk in missing],
                                             ignore_conflicts=True)
    found = {row.pk for row in rows}
    results |= {pk: CheckResult("skipped") for pk in ids if pk not in found}
    claimed = []
    for row in rows:
        health = _health(row)
        if health is not None and health.lease_owner == owner:
            claimed.append(row)
        elif health is not None and sweep_id is not None and health.counted_sweep_id == sweep_id:
            results[row.pk] = CheckResult("duplicate")
        else:
            results[row.pk] = _deferred()
    return claimed


def _health(connection: Connection) -> ConnectionHealth | None:
    try:
        return connection.health
    except ConnectionHealth.DoesNotExist:
        return None


def _leases_release(owner: str, results: dict[int, CheckResult], release: dict[int, dict]) -> None:
    """Let go of the connections this check claimed, with when sweeps may check each next. A deferred one also
    stops counting as counted by its sweep, so its retry claims it again."""
    groups: dict[tuple, list[int]] = {}
    for pk, result in results.items():
        if result.state == "duplicate":
            continue
        values = dict(release.get(pk, {}))
        if result.state == "deferred":
            values["counted_sweep_id"] = None
        groups.setdefault(tuple(sorted(values.items())), []).append(pk)
    for values, pks in groups.items():
        ConnectionHealth.objects.filter(pk__in=pks, lease_owner=owner).update(
            lease_owner="", lease_expires_at=None, **dict(values))


def _host_slot_acquire(host: str, owner: str, now: datetime, ttl: timedelta | None = None) -> int | None:
    """Take one of the host's N slots for `ttl` (None when all are busy): one UPDATE when the first slot tried
    is free."""
    limit = settings.SPLICE_HEALTH_PER_HOST_CONCURRENCY
    if not host or limit <= 0:
        return -1  # nothing to limit
    free = Q(owner="") | Q(expires_at__lt=now)
    order = random.sample(range(limit), limit)
    for attempt in range(2):
        for slot in order:
            if HealthHostSlot.objects.filter(free, host=host, slot=slot).update(
                    owner=owner, expires_at=now + (ttl or _check_ttl())):
                return slot
        if attempt == 0:
            # All busy, or the host's slots do not exist yet (or a higher limit adds some): make them, try again.
            HealthHostSlot.objects.bulk_create([HealthHostSlot(host=host, slot=i) for i in range(limit)],
                                               ignore_conflicts=True)
    return None


def _host_slot_release(host: str, slot: int | None, owner: str) -> None:
    if slot is None or slot < 0:
        return
    HealthHostSlot.objects.filter(host=host, slot=slot, owner=owner).update(owner="", expires_at=None)


# --- history ------------------------------------------------------------------------------------


def check_history_prune(*, now: datetime | None = None) -> int:
    """Delete check history (and finished sweeps) older than SPLICE_CHECK_HISTORY_DAYS, in small batches."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SPLICE_CHECK_HISTORY_DAYS)
    deleted = 0
    while True:
        ids = list(ConnectionCheck.objects.filter(checked_at__lt=cutoff).values_list("pk", flat=True)[:5000])
        if not ids:
            break
        deleted += ConnectionCheck.objects.filter(pk__in=ids).delete()[0]
    HealthSweep.objects.filter(started_at__lt=cutoff, running=False).delete()
    return deleted


# --- early warning ------------------------------------------------------------------------------


def health_expiry_warn(*, now: datetime | None = None) -> int:
    """Warn, once per expiry date, about connections whose refresh token or OAuth client secret expires within
    SPLICE_EXPIRY_WARNING_DAYS. Returns how many connections were warned about."""
    from connections.selectors import connections_expiring

    warned = 0
    for item in connections_expiring(Connection.objects.all(), now=now, limit=None):
        connection = item.connection
        health, _ = ConnectionHealth.objects.get_or_create(connection=connection)
        if health.expiry_warned_for == item.expires_at:
            continue
        with transaction.atomic():
            if not ConnectionHealth.objects.filter(pk=connection.pk).exclude(expiry_warned_for=item.expires_at) \
                    .update(expiry_warned_for=item.expires_at):
                continue  # another sweep warned meanwhile
            connection_expiry_notify(connection=connection, what=item.what, expires_at=item.expires_at)
        warned += 1
    return warned

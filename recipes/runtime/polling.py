"""A poll trigger's run: list the app's records through the recipe's connection and start one job per new
record, oldest first.

What the trigger has seen (TriggerState: the newest id, the ids of recent records) advances in the same database
transaction that creates the jobs, and each job carries its record's id (one job per record and recipe, by a
unique constraint). So a worker killed after the app answered but before that commit leaves nothing behind (the
next poll sees the same records as new), and one killed after it leaves jobs that jobs_recover enqueues.

Where it starts: "from now" takes the records made after the recipe started (when the trigger says when a record
was made, `created_field`; else those not in the first listing), "since <date>" those made since then.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connections.catalog import dig
from connections.client import connection_client
from connections.credentials import connection_secret_values
from connections.models import Connection, ConnectionCheck
from connections.problems import Kind
from connections.services import connection_record_outcome
from connections.status import CheckOutcome
from recipes.builtins import operation_for
from recipes.models import Recipe
from recipes.runtime.jobs import jobs_create
from recipes.runtime.masking import Masker
from recipes.runtime.models import Job, TriggerState
from recipes.runtime.runner import shared_session
from recipes.runtime.triggers import trigger_step

__all__ = ["MIN_SEEN", "PollOutcome", "poll_run"]

MIN_SEEN = 1000  # ids kept at least (or twice a page of records, if more)


class PollOutcome:
    def __init__(self, *, jobs: int = 0, error: str = "", stopped: bool = False) -> None:
        self.jobs, self.error, self.stopped = jobs, error, stopped


def poll_run(recipe_id: int) -> PollOutcome:
    recipe = Recipe.objects.filter(pk=recipe_id, running=True).select_related("project", "created_by").first()
    step = trigger_step(recipe) if recipe is not None else None
    operation = operation_for(recipe, step) if step is not None else None
    if operation is None or getattr(operation, "kind", None) != "poll":
        return PollOutcome()
    binding = recipe.bindings.filter(**step.app_slot.lookup()).select_related("connection").first()
    connection = binding.connection if binding else None
    if connection is None or connection.status in (Connection.Status.DISCONNECTED, Connection.Status.NOT_CONNECTED):
        return PollOutcome(error="The trigger has no usable connection.")
    result = connection_client(connection, session=shared_session()).call(step.operation_key, dict(step.inputs or {}))
    if not result.ok:
        return _failed(recipe, connection, result)
    records = [(str(key), record) for record in operation.records(result.data)
               if (key := dig(record, operation.id_field)) not in (None, "")]
    with transaction.atomic():
        state, _ = TriggerState.objects.select_for_update().get_or_create(recipe=recipe)
        seen = set(state.seen_ids)
        new = [(key, record) for key, record in records if key not in seen]
        listed = [key for key, _ in new]
        if not state.primed:
            new = _first_poll(new, state.since, recipe.started_at, operation.created_field)
            state.primed = True
        jobs = jobs_create(recipe=recipe, trigger_kind=Job.Trigger.POLL, records=new,
                           mask=_recipe_secrets(recipe) if new else None)
        keep = max(MIN_SEEN, 2 * len(records))
        state.seen_ids = [*state.seen_ids, *listed][-keep:]
        if records:
            state.cursor = records[-1][0][:200]
        state.consecutive_auth_failures, state.last_error, state.last_polled_at = 0, "", timezone.now()
        state.save()
    return PollOutcome(jobs=len(jobs))


def _recipe_secrets(recipe: Recipe) -> Masker:
    """A record may quote a secret of any connection the recipe uses (the app echoes what it was sent): its job's
    trigger data is masked with all of them."""
    mask = Masker()
    for binding in recipe.bindings.filter(connection__isnull=False).select_related("connection"):
        mask.add(connection_secret_values(binding.connection))
    return mask


def _first_poll(new: list, since: datetime | None, started_at: datetime | None, created_field: str | None) -> list:
    """The records of the first poll that start jobs. "Since <date>": those made since then (all listed, when the
    trigger does not say when a record was made; a record without a date too). "From now": those made after the
    recipe started, so a record made while the first poll waited (a busy queue, the app down) is not lost; none
    of those listed, when the trigger does not say when a record was made."""
    if since is None and (created_field is None or started_at is None):
        return []
    if created_field is None:
        return new
    kept = []
    for key, record in new:
        made = _moment(dig(record, created_field))
        if (made is None and since is not None) or (made is not None and made >= (since or started_at)):
            kept.append((key, record))
    return kept


def _moment(value) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC) if 0 < value < 1e11 else None
    if isinstance(value, str):
        try:
            moment = parse_datetime(value)
        except ValueError:
            return None
        if moment is not None and timezone.is_naive(moment):
            moment = timezone.make_aware(moment, UTC)
        return moment
    return None


def _failed(recipe: Recipe, connection: Connection, result) -> PollOutcome:
    verdict = result.verdict
    if verdict.kind not in (Kind.CREDENTIALS_INVALID, Kind.INSUFFICIENT_PERMISSIONS):
        TriggerState.objects.filter(recipe=recipe).update(last_error=verdict.message[:2000],
                                                          last_polled_at=timezone.now())
        return PollOutcome(error=verdict.message)
    connection_record_outcome(connection=connection, source=ConnectionCheck.Source.JOB,
                              outcome=CheckOutcome(ok=False, verdict=verdict, status_code=result.status),
                              duration_ms=result.duration_ms)
    with transaction.atomic():
        state, _ = TriggerState.objects.select_for_update().get_or_create(recipe=recipe)
        state.consecutive_auth_failures += 1
        state.last_error, state.last_polled_at = verdict.message[:2000], timezone.now()
        state.save(update_fields=["consecutive_auth_failures", "last_error", "last_polled_at"])
        failures = state.consecutive_auth_failures
    if failures < settings.SPLICE_TRIGGER_AUTH_FAILURE_LIMIT:
        return PollOutcome(error=verdict.message)
    from recipes.services import recipe_stop_for_trigger_failures

    recipe_stop_for_trigger_failures(recipe=recipe, connection=connection, failures=failures,
                                     message=verdict.message)
    return PollOutcome(error=verdict.message, stopped=True)

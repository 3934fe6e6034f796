"""The runner: plays a job's steps in order on the recipe's bound connections, through each connection's client.

    outcome = job_run(job_id)        # RunOutcome(retry_in=None) when the job is finished or held elsewhere

A job is claimed with a lease (one UPDATE), so a second delivery of its task never runs it at the same time. A
step that succeeded is never sent again: a retry, a worker restart or a re-run starts at the first step that did
not. A passing failure (timeout, connection error, 429, 5xx) is tried again after a backoff with jitter (honouring
Retry-After, clamped), up to the recipe's retry limit; a request that may have reached the app is sent again only
when the action is safe to repeat (idempotent, or carrying the same idempotency key on every attempt), otherwise
its outcome is unknown and the job says so. 401 and 403 fail the job and are recorded on the connection through
the one status recorder, so every recipe using it shows the design-time error.

A delivery that comes before a waiting step's retry time (a redelivery, a recovery) does nothing: the message sent
with the retry's countdown runs it on time. A long job goes on in a new message before its task's time limit. A
callable job costs nine statements (tests/recipes/runtime/test_runner.py counts them).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from connections.catalog import MAKE_REQUEST
from connections.client import connection_client
from connections.credentials import connection_secret_values
from connections.custom import custom_connectors_synced
from connections.http import new_session
from connections.models import Connection, ConnectionCheck
from connections.problems import SEED_RECOMMENDATIONS, Kind, Verdict
from connections.runtime_users import child_connection_for, child_used, connect_link_path, connect_message
from connections.services import connection_record_outcome
from connections.status import CheckOutcome
from recipes.builtins import RETURN_RESULT, BuiltinOperation, operation_for
from recipes.models import ConnectionBinding, Recipe, Step
from recipes.pills import PILL_RE, render
from recipes.runtime.masking import Masker
from recipes.runtime.models import Job, JobStep
from recipes.runtime.waiting import job_finished_notify

__all__ = ["OUTCOME_UNKNOWN", "RunOutcome", "job_run", "retry_ceiling", "retry_delay", "shared_session"]

logger = logging.getLogger(__name__)

OUTCOME_UNKNOWN = "outcome unknown: check the app before re-running"
INTERNAL_ERROR = ("Splice failed while running this job (an internal error, logged for the administrators). Steps "
                  "that had succeeded are kept: re-run the job once it is fixed.")
_UNUSABLE = (Connection.Status.DISCONNECTED, Connection.Status.NOT_CONNECTED)
# A message that comes this much before its step's retry time is early (a redelivery, a recovery): it waits.
_EARLY_SLACK = timedelta(seconds=1)
_session = None


@dataclass(frozen=True)
class RunOutcome:
    retry_in: float | None = None  # seconds until the job's next attempt (a step waits to retry, or the job yields)


class _StepFailed(Exception):
    def __init__(self, message: str, *, code: str, recommendations=(), action_url: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.recommendations = message, code, list(recommendations)
        self.action_url = action_url  # where the person the job ran as connects their own account


def shared_session():
    """One kept-alive session per worker process (no cookies kept: jobs of many connections share it)."""
    global _session
    if _session is None:
        _session = new_session(shared=True)
    return _session


def retry_ceiling() -> float:
    """The longest wait before a retry: SPLICE_JOB_RETRY_MAX_DELAY, and never more than half the broker's
    visibility timeout (a message waiting longer than that is delivered again, so the job would run twice)."""
    ceiling = settings.SPLICE_JOB_RETRY_MAX_DELAY
    visibility = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}).get("visibility_timeout")
    return min(ceiling, visibility / 2) if visibility else ceiling


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before attempt `attempt + 1`: exponential backoff with full jitter, or the app's Retry-After;
    both clamped to `retry_ceiling()`."""
    ceiling = retry_ceiling()
    if retry_after is not None:
        return min(ceiling, max(retry_after, settings.SPLICE_JOB_RETRY_BASE_DELAY))
    backoff = min(ceiling, settings.SPLICE_JOB_RETRY_BASE_DELAY * 2 ** max(0, attempt - 1))
    return random.uniform(backoff / 2, backoff)


def _claim(job_id: int, now) -> str | None:
    """Take the job's lease and mark it started, in one UPDATE; None when it is finished, another run holds it, or
    its recipe was stopped before it began (a re-run still runs: a person asked for it)."""
    owner = uuid.uuid4().hex
    lease = now + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)
    stopped = Exists(Recipe.objects.filter(pk=OuterRef("recipe_id"), running=False))
    claimed = (Job.objects.filter(pk=job_id, status__in=[Job.Status.PENDING, Job.Status.RUNNING])
               .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
               .exclude(Q(status=Job.Status.PENDING, rerun_of__isnull=True) & stopped)
               .update(status=Job.Status.RUNNING, lease_owner=owner, lease_until=lease, updated_at=now,
                       started_at=Coalesce(F("started_at"), now)))
    return owner if claimed else None


def job_run(job_id: int) -> RunOutcome:
    """Play the job from its first step that has not succeeded. Returns when it is finished, waits to retry (or
    yields to a new message after a long run: `retry_in`), or another run holds it."""
    now = timezone.now()
    owner = _claim(job_id, now)
    if owner is None:
        _cancel_if_stopped(job_id)
        return RunOutcome()
    job = Job.objects.select_related("recipe").get(pk=job_id)
    first_run = job.started_at == now and job.rerun_of_id is None  # no step of it was recorded yet
    try:
        with custom_connectors_synced():
            outcome = _Run(job, job.recipe, owner, first_run=first_run).play()
    except (DatabaseError, SoftTimeLimitExceeded):
        raise  # the lease runs out and jobs_recover hands the job on; its finished steps are kept
    except Exception:
        logger.exception("Job %s of recipe %s failed inside Splice", job.pk, job.recipe_id)
        JobStep.objects.filter(job=job, status=JobStep.Status.RUNNING).update(
            status=JobStep.Status.FAILED, error=INTERNAL_ERROR, error_code="internal_error",
            finished_at=timezone.now())
        _finish(job, owner, Job.Status.FAILED, error=INTERNAL_ERROR, code="internal_error")
        return RunOutcome()
    if not job.finished:
        Job.objects.filter(pk=job.pk, lease_owner=owner).update(lease_owner="", lease_until=None)
    return outcome


def _cancel_if_stopped(job_id: int) -> None:
    """A job whose recipe was stopped before it began is cancelled (a re-run is not: a person asked for it)."""
    cancelled = (Job.objects.filter(pk=job_id, status=Job.Status.PENDING, rerun_of__isnull=True,
                                    recipe__running=False)
                 .update(status=Job.Status.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now(),
                         error="The recipe was stopped before this job ran.", error_code="stopped"))
    if cancelled:
        transaction.on_commit(lambda: job_finished_notify(job_id))


class _Run:
    def __init__(self, job: Job, recipe: Recipe, owner: str, *, first_run: bool) -> None:
        self.job, self.recipe, self.owner = job, recipe, owner
        self.steps = list(Step.objects.filter(recipe=recipe).order_by("position"))
        self.bindings = {b.app_slot: b for b in ConnectionBinding.objects.filter(recipe=recipe)
                         .select_related("connection")}
        # A job never run before has no step records (a re-run's are copied when it is made): no query for them.
        self.done = {} if first_run else {s.position: s for s in JobStep.objects.filter(job=job)}
        # Every secret of every connection the recipe uses, from the start: a step's input may quote one of another
        # step's connection.
        self.mask = Masker()
        self.masked_for: set[int] = set()
        for binding in self.bindings.values():
            if binding.connection is not None and not binding.runtime_user:
                self._mask_secrets_of(binding.connection)
        self.data: dict[str, Any] = {"trigger": job.trigger_data}
        self.result: Any = None
        self.started = time.monotonic()

    def play(self) -> RunOutcome:
        for step in self.steps:
            if step.is_trigger:
                continue
            record = self.done.get(step.position)
            if record is not None and record.status == JobStep.Status.SUCCEEDED:
                self.data[step.ref] = record.output
                if record.operation_key == RETURN_RESULT:
                    self.result = record.output
                    break
                continue
            if record is not None and record.status == JobStep.Status.RETRYING and record.next_attempt_at \
                    and record.next_attempt_at - _EARLY_SLACK > timezone.now():
                return RunOutcome()  # early: the message sent with the retry's countdown runs it on time
            if time.monotonic() - self.started > settings.CELERY_TASK_SOFT_TIME_LIMIT / 2:
                return RunOutcome(retry_in=0)  # a long job goes on in a new message, well within its time limit
            try:
                outcome = self._step(step, record)
            except _StepFailed as failure:
                logger.info("Job %s of recipe %s failed at step %s: %s", self.job.pk, self.recipe.pk,
                            step.position, failure.code)
                _finish(self.job, self.owner, Job.Status.FAILED, error=failure.message, code=failure.code,
                        recommendations=failure.recommendations, action_url=failure.action_url)
                return RunOutcome()
            if outcome is not None:
                return outcome
            if self.result is not None:
                break  # Return result ends the job
        _finish(self.job, self.owner, Job.Status.SUCCEEDED, result=self.result)
        return RunOutcome()

    # --- one step ---------------------------------------------------------------------------------

    def _step(self, step: Step, record: JobStep | None) -> RunOutcome | None:
        operation = operation_for(self.recipe, step)
        if operation is None:
            self._fail_new(step, f"Step {step.position} uses {step.connector_key}.{step.operation_key}, which the "
                                 "app no longer offers.", "unknown_operation")
        if isinstance(operation, BuiltinOperation):
            return self._builtin(step, operation)
        connection = self._connection(step)
        if record is not None and record.status == JobStep.Status.RUNNING and not self._safe_to_repeat(operation):
            # An attempt was under way when its worker stopped: the app may have acted on it.
            self._step_failed(record, OUTCOME_UNKNOWN, "outcome_unknown", SEED_RECOMMENDATIONS[1:2])
        inputs = self._inputs(step, operation, record)
        record = self._attempt(step, operation, connection, record, self.mask(inputs))
        headers = {operation.idempotency_header: record.idempotency_key} if operation.idempotency_header else None
        result = connection_client(connection, session=shared_session()).call(step.operation_key, inputs,
                                                                                headers=headers)
        if result.ok:
            output = self.mask(_output(operation, result))
            _step_update(record, status=JobStep.Status.SUCCEEDED, output=output, duration_ms=result.duration_ms,
                         error="", error_code="", recommendations=[], next_attempt_at=None,
                         finished_at=timezone.now())
            self.data[step.ref] = output
            return None
        return self._failed_call(record, operation, connection, result)

    def _attempt(self, step: Step, operation, connection: Connection, record: JobStep | None,
                 masked_input: dict) -> JobStep:
        """The step's record, marked running its next attempt (one INSERT the first time, one UPDATE after)."""
        fields = {"status": JobStep.Status.RUNNING, "started_at": timezone.now(), "input": masked_input,
                  "connection": connection, "connection_name": connection.name,
                  "run_as_id": connection.owner_id or connection.authorized_by_id}
        if record is None:
            record = JobStep.objects.create(
                job=self.job, position=step.position, connector_key=step.connector_key, slot=step.slot,
                operation_key=step.operation_key, name=operation.name, attempts=1,
                idempotency_key=uuid.uuid4().hex if operation.idempotency_header else "", **fields)
            self.done[step.position] = record
            return record
        if operation.idempotency_header and not record.idempotency_key:
            fields["idempotency_key"] = uuid.uuid4().hex  # kept on every later attempt
        _step_update(record, attempts=record.attempts + 1, **fields)  # the lease keeps other runs out
        return record

    def _failed_call(self, record: JobStep, operation, connection: Connection, result) -> RunOutcome | None:
        verdict: Verdict = result.verdict
        answer = self.mask(result.data) if result.data is not None else None
        message = self.mask(verdict.message)
        if verdict.kind in (Kind.CREDENTIALS_INVALID, Kind.INSUFFICIENT_PERMISSIONS):
            connection_record_outcome(connection=connection, source=ConnectionCheck.Source.JOB,
                                      outcome=CheckOutcome(ok=False, verdict=verdict, status_code=result.status),
                                      duration_ms=result.duration_ms)
            reason = ("credentials changed or revoked" if verdict.kind == Kind.CREDENTIALS_INVALID
                      else "insufficient permissions")
            action_url, ask = "", ""
            if connection.owner_id is not None:  # a person's own connection: they re-authorize it themselves
                action_url = self._connect_link(connection.parent_id)
                ask = f" Re-authorize your {connection.app_slot.label} account, then re-run this job."
            self._step_failed(record, f"{connection.name}: {reason}. {message}{ask}", verdict.kind.value,
                              SEED_RECOMMENDATIONS, output=answer, duration_ms=result.duration_ms,
                              action_url=action_url)
        if verdict.kind != Kind.TRANSIENT:
            self._step_failed(record, message, verdict.kind.value, verdict.recommendations, output=answer,
                              duration_ms=result.duration_ms)
        if verdict.may_have_reached and not self._safe_to_repeat(operation):
            self._step_failed(record, f"{message} The request may have reached the app: {OUTCOME_UNKNOWN}.",
                              "outcome_unknown", SEED_RECOMMENDATIONS[1:2], duration_ms=result.duration_ms)
        if record.attempts > self.recipe.retry_limit:
            self._step_failed(record, f"{message} Tried {record.attempts} times.", "transient",
                              verdict.recommendations, output=answer, duration_ms=result.duration_ms)
        delay = retry_delay(record.attempts, verdict.retry_after)
        _step_update(record, status=JobStep.Status.RETRYING, error=message, error_code="transient", output=answer,
                     duration_ms=result.duration_ms, next_attempt_at=timezone.now() + timedelta(seconds=delay))
        return RunOutcome(retry_in=delay)

    def _builtin(self, step: Step, operation: BuiltinOperation) -> None:
        if operation.key != RETURN_RESULT:
            return None
        result = self.mask({name: _render_value(value, self.data) for name, value in (step.inputs or {}).items()})
        now = timezone.now()
        fields = {"status": JobStep.Status.SUCCEEDED, "input": result, "output": result, "attempts": 1,
                  "started_at": now, "finished_at": now, "duration_ms": 0, "error": "", "error_code": ""}
        record = self.done.get(step.position)
        if record is None:
            JobStep.objects.create(job=self.job, position=step.position, connector_key=step.connector_key,
                                   slot=step.slot, operation_key=step.operation_key, name=operation.name, **fields)
        else:
            _step_update(record, **fields)
        self.result = result
        return None

    # --- helpers ----------------------------------------------------------------------------------

    def _connection(self, step: Step) -> Connection:
        binding = self.bindings.get(step.app_slot)
        connection = binding.connection if binding is not None else None
        if binding is not None and binding.runtime_user:
            connection = self._runtime_user_connection(step, binding)
        if connection is None:
            self._fail_new(step, f"{step.app_slot.label} has no connection in this recipe.", "no_connection")
        if connection.status in _UNUSABLE:
            self._fail_new(step, f"“{connection.name}” is {connection.get_status_display().lower()}: re-authorize "
                                 "it, then re-run this job.", "connection_unusable", connection=connection)
        self._mask_secrets_of(connection)
        return connection

    def _mask_secrets_of(self, connection: Connection) -> None:
        if connection.pk not in self.masked_for:
            self.mask.add(connection_secret_values(connection))
            self.masked_for.add(connection.pk)

    def _runtime_user_connection(self, step: Step, binding: ConnectionBinding) -> Connection:
        """The invoking person's own connection made from the recipe's (parent) one: the work is done as them,
        never as the parent. Without one (or with one disconnected), the job stops before its first call and asks
        exactly that person to connect, with a link only they can open."""
        person, parent = self.job.run_as, binding.connection
        if parent is None:
            self._fail_new(step, f"{step.app_slot.label} has no connection in this recipe.", "no_connection")
        if person is None:
            self._fail_new(step, f"{step.app_slot.label} runs as the person who calls this recipe, and this job has "
                                 "nobody it runs as.", "runtime_user_missing")
        mine = child_connection_for(person, parent)
        if mine is None or mine.status in _UNUSABLE:
            again = "" if mine is None else f" (your connection is {mine.get_status_display().lower()})"
            self._fail_new(step, f"{connect_message(parent)}{again} Then re-run this job.", "runtime_user_missing",
                           recommendations=[f"Follow the link to connect your own {parent.app_slot.label} account "
                                            f"({person.email}): the link works for you alone."],
                           action_url=self._connect_link(parent.pk))
        mine.parent = parent
        child_used(connection=mine, person=person, job_id=self.job.pk)
        return mine

    def _connect_link(self, parent_id: int | None) -> str:
        """The invoking person's connect link for that parent, this recipe and this job."""
        parent = next((b.connection for b in self.bindings.values() if b.connection_id == parent_id), None)
        if parent is None or self.job.run_as is None:
            return ""
        return connect_link_path(person=self.job.run_as, parent=parent, recipe_id=self.recipe.pk, job_id=self.job.pk)

    def _inputs(self, step: Step, operation, record: JobStep | None) -> dict[str, Any]:
        inputs = {}
        for name, value in (step.inputs or {}).items():
            input_field = operation.input_field(name)
            if input_field is None:
                continue
            try:
                value = _typed(input_field, _render_value(value, self.data, as_object=input_field.type == "object"))
            except ValueError as exc:
                message, fix = f"“{input_field.label}” {exc}", ["Correct the step's input in the recipe, then re-run."]
                if record is None:
                    self._fail_new(step, message, "invalid_input", recommendations=fix)
                self._step_failed(record, message, "invalid_input", fix)
            if value not in (None, ""):
                inputs[name] = value
        return inputs

    @staticmethod
    def _safe_to_repeat(operation) -> bool:
        return bool(operation.safe_to_repeat or operation.idempotency_header)

    def _fail_new(self, step: Step, message: str, code: str, *, connection: Connection | None = None,
                  recommendations=None, action_url: str = ""):
        """Fail the job at a step that could not be sent at all."""
        if recommendations is None:
            recommendations = SEED_RECOMMENDATIONS if connection else ()
        record = self.done.get(step.position) or JobStep(
            job=self.job, position=step.position, connector_key=step.connector_key, slot=step.slot,
            operation_key=step.operation_key, connection=connection,
            connection_name=connection.name if connection else "")
        record.status, record.error, record.error_code, record.finished_at = (JobStep.Status.FAILED, message, code,
                                                                              timezone.now())
        record.recommendations, record.next_attempt_at = list(recommendations), None
        record.save()
        raise _StepFailed(message, code=code, recommendations=recommendations, action_url=action_url)

    def _step_failed(self, record: JobStep, message: str, code: str, recommendations, *, action_url: str = "",
                     **fields):
        _step_update(record, status=JobStep.Status.FAILED, error=message, error_code=code,
                     recommendations=list(recommendations), next_attempt_at=None, finished_at=timezone.now(), **fields)
        raise _StepFailed(f"Step {record.position} ({record.name}): {message}", code=code,
                          recommendations=recommendations, action_url=action_url)


def _step_update(record: JobStep, **fields) -> None:
    JobStep.objects.filter(pk=record.pk).update(**fields)
    for name, value in fields.items():
        setattr(record, name, value)


def _finish(job: Job, owner: str, status: str, *, error: str = "", code: str = "", recommendations=(),
            result=None, action_url: str = "") -> None:
    """The job's last word, with its lease let go (one UPDATE). Whoever waits on a call is woken on commit."""
    now = timezone.now()
    fields = {"status": status, "finished_at": now, "updated_at": now, "error": error[:5000], "error_code": code,
              "recommendations": list(recommendations), "result": result, "action_url": action_url[:500]}
    Job.objects.filter(pk=job.pk, lease_owner=owner).update(lease_owner="", lease_until=None, **fields)
    for name, value in fields.items():
        setattr(job, name, value)
    if job.trigger_kind in (Job.Trigger.CALL, Job.Trigger.WORKBOT):
        transaction.on_commit(lambda: job_finished_notify(job.pk, trigger_kind=job.trigger_kind))


def _render_value(value: Any, data: dict[str, Any], *, as_object: bool = False) -> Any:
    """Fill the data pills in a step's input. An object input is JSON text whose strings may hold pills (or one
    pill that is a whole object)."""
    if as_object and isinstance(value, str) and value.strip() and not PILL_RE.fullmatch(value.strip()):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError("must be a JSON object") from None
        return _render_deep(parsed, data)
    return render(value, data)


def _render_deep(value: Any, data: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {key: _render_deep(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_deep(item, data) for item in value]
    return render(value, data)


def _typed(input_field, value: Any) -> Any:
    """Text from the editor as the input's type says: integers and booleans as such."""
    if not isinstance(value, str) or value.strip() == "":
        return value
    if input_field.type == "integer":
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
    if input_field.type == "boolean":
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value


def _output(operation, result) -> dict[str, Any]:
    """What a step gives later steps: the app's JSON object, with `status` and `body` where the action offers
    those pills (the generic "Make request" does)."""
    data = result.data
    output = dict(data) if isinstance(data, dict) else ({"items": data} if isinstance(data, list) else {})
    names = {o.name.split(".")[0] for o in operation.output}
    if operation.key == MAKE_REQUEST or "body" in names:
        output.setdefault("body", data)
    if operation.key == MAKE_REQUEST or "status" in names:
        output.setdefault("status", result.status)
    return output

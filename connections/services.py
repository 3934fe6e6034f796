"""Writes on connections: create, authorize with credentials, test, record health, edit, disconnect, delete.

Every state change writes its audit event. Secrets arrive as `str`/`Secret`, are sealed at once, and
appear in audit events only as ••••.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Project, User
from connections import usage
from connections.catalog import CatalogError, InvalidSettings, InvalidValue, registry
from connections.credentials import CONNECTION_SECRET_FIELDS, seal_secret, seal_secret_setting
from connections.egress import REFUSED_MESSAGE, EgressRefused, egress_policy
from connections.models import AuditEvent, Connection, ConnectionCheck, OAuthProfile
from connections.origins import origins_for_settings
from connections.problems import RECOMMENDATIONS, ConnectionProblem, Kind, Verdict
from connections.secrets import MASK, Secret
from connections.signals import connection_disconnected, connection_status_changed
from connections.status import (
    CheckOutcome,
    Current,
    Decision,
    Rules,
    classify_settings_error,
    decide,
    first_authorization_verdict,
)
from connections.vault import VaultError

__all__ = [
    "ConnectionInUse",
    "CheckOutcome",
    "audit_authorization_failed",
    "audit_record",
    "clean_endpoints",
    "connection_create",
    "connection_delete",
    "connection_disconnect",
    "connection_discard_pending",
    "connection_origin_change",
    "connection_audit_tested",
    "connection_record_outcome",
    "connection_record_outcomes",
    "connection_set_credentials",
    "connection_store_tokens",
    "connection_test",
    "connection_update",
    "connection_store_credentials_untested",
    "connections_pending_purge",
    "oauth_profile_create",
]

logger = logging.getLogger(__name__)

Status = Connection.Status
Reason = Connection.ErrorReason



def _pending_seconds() -> int:
    """How long a connection the wizard made waits for its first authorization (an OAuth flow extends it to the
    flow's own expiry): long enough to go and find an API key."""
    return settings.SPLICE_WIZARD_PENDING_SECONDS


def _reason_label(reason: str) -> str:
    return Reason(reason).label if reason in Reason.values else reason.replace("_", " ").capitalize()


class ConnectionInUse(ValidationError):
    """Recipes use the connection; `recipes` lists them so the page can name them."""

    def __init__(self, message: str, recipes) -> None:
        self.recipes = list(recipes)
        super().__init__(message)


def audit_record(*, connection: Connection, action: str, actor: User | None, summary: str = "",
                 details: dict | None = None, ip: str | None = None) -> AuditEvent:
    return AuditEvent.objects.create(
        connection=connection, connection_name=connection.name, project_id=connection.project_id, actor=actor,
        action=action, summary=summary[:500], details=details or {}, ip_address=ip,
    )


def audit_authorization_failed(*, connection: Connection, verdict: Verdict, acting_user: User | None,
                               ip: str | None = None) -> AuditEvent:
    """An authorization (a credentials form, an OAuth flow) that did not connect: the reason, never a value."""
    return audit_record(connection=connection, action=AuditEvent.Action.AUTHORIZATION_FAILED, actor=acting_user,
                        ip=ip, summary=verdict.message, details={"reason": verdict.kind})


# --- create and edit ----------------------------------------------------------------------------


@transaction.atomic
def connection_create(
    *, project: Project, connector_key: str, name: str, acting_user: User, auth_method: str | None = None,
    environment: str = Connection.Environment.PRODUCTION, settings_values: dict | None = None,
    secret_settings: dict | None = None, slot: str = Connection.Slot.PRIMARY, description: str = "",
    tags: list[str] | None = None, scopes: list[str] | None = None, oauth_profile: OAuthProfile | None = None,
    ip: str | None = None, pending: bool = False,
) -> Connection:
    """A new, not yet authorized connection. Raises ValidationError with a message per field.

    `pending` (the wizard): the connection exists only to be authorized; lists leave it out until its first
    authorization succeeds, and it is removed if that has not happened in time (connections_pending_purge). A
    connection made on purpose before its credentials (a shell, from the API or the demo) is not pending."""
    spec = registry().get(connector_key)
    method = spec.auth_method(auth_method) if auth_method else spec.auth[0]
    if pending:  # the same person's unfinished try under this name (they went back a step) gives way
        for earlier in Connection.objects.filter(project=project, name__iexact=name.strip(), created_by=acting_user,
                                                 pending_until__isnull=False, owner__isnull=True):
            connection_discard_pending(connection=earlier, acting_user=acting_user, ip=ip)
    connection = Connection(
        project=project, connector_key=spec.primary_key, slot=slot, name=name.strip(), description=description,
        tags=tags or [], environment=environment, auth_method=method.key, scopes=scopes or [],
        oauth_profile=oauth_profile, created_by=acting_user, status=Status.NOT_CONNECTED,
        pending_until=timezone.now() + timedelta(seconds=_pending_seconds()) if pending else None,
    )
    if spec.is_secondary:
        connection.slot = Connection.Slot.SECONDARY
    connection.settings = _clean_settings(spec, method.key, settings_values or {})
    for secret_name, value in (secret_settings or {}).items():
        seal_secret_setting(connection, secret_name, value)
    connection.full_clean(exclude=["data_key"])
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        raise ValidationError({"name": "A connection with this name already exists in this project."}) from None
    audit_record(connection=connection, action=AuditEvent.Action.CREATED, actor=acting_user, ip=ip,
                 summary=f"Created {spec.name} connection “{connection.name}”",
                 details={"app": spec.key, "environment": environment, "auth_method": method.key})
    return connection


def _clean_settings(spec, method_key: str, values: dict) -> dict:
    """The spec's rules, and the egress policy on every URL setting as far as the URL alone tells (a literal
    internal address or a denied name); the policy checks the addresses names resolve to at each request."""
    try:
        cleaned = spec.clean_settings(values, method=method_key,
                                      allow_insecure_loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK)
    except InvalidSettings as exc:
        raise ValidationError({f"setting_{name}": message for name, message in exc.errors.items()}) from None
    refused = {}
    for name, value in cleaned.items():
        if spec.settings[name].type == "url":
            try:
                egress_policy().check_url(value)
            except EgressRefused:
                refused[f"setting_{name}"] = REFUSED_MESSAGE
    if refused:
        raise ValidationError(refused)
    return cleaned


def connection_origin_change(*, connection: Connection, settings_values: dict) -> tuple[list[str], list[str]] | None:
    """(old origins, new origins) when these settings would send the connection's requests to other origins than
    it was authorized for (its credentials would then be erased); None when they would not, or when nothing is
    authorized anywhere (never authorized, or disconnected). Raises ValidationError for settings that are not
    valid."""
    spec = registry().get(connection.connector_key)
    return _origin_move(connection, _clean_settings(spec, connection.auth_method, settings_values))


def _origin_move(connection: Connection, cleaned: dict) -> tuple[list[str], list[str]] | None:
    """connection_origin_change for settings already cleaned."""
    old = list(connection.authorized_origins or ())
    if not old or connection.status == Status.DISCONNECTED:
        return None
    try:
        new = origins_for_settings(connection, cleaned)
    except InvalidValue as exc:
        raise ValidationError({f"setting_{exc.field}": str(exc)}) from None
    return (old, new) if new != old else None


@transaction.atomic
def connection_update(*, connection: Connection, acting_user: User, name: str | None = None,
                      description: str | None = None, tags: list[str] | None = None,
                      settings_values: dict | None = None, ip: str | None = None,
                      project: Project | None = None) -> Connection:
    """Edit the non-secret parts. New credentials go through connection_set_credentials (tested first).

    `project` moves the connection to another project the acting user may use, while no recipe uses it (a
    recipe binds only connections of its own project); its name must be free there.

    Settings that move the connection's requests to another origin erase its credentials, which were authorized
    for the old ones only: the connection is "not connected" until it is authorized again (audited, with both)."""
    changes: dict[str, list] = {}
    for attr, value in (("name", name), ("description", description), ("tags", tags)):
        if value is not None and getattr(connection, attr) != value:
            changes[attr] = [getattr(connection, attr), value]
            setattr(connection, attr, value.strip() if isinstance(value, str) else value)
    if project is not None and project.pk != connection.project_id:
        _check_move(connection, project, acting_user)
        changes["project"] = [connection.project.name, project.name]
        connection.project = project
    moved = None
    if settings_values is not None:
        spec = registry().get(connection.connector_key)
        cleaned = _clean_settings(spec, connection.auth_method, settings_values)
        if cleaned != connection.settings:
            moved = _origin_move(connection, cleaned)
            changes["settings"] = [connection.settings, cleaned]
            connection.settings = cleaned
    if not changes:
        return connection
    connection.full_clean(exclude=["data_key"])
    try:
        with transaction.atomic():
            connection.save(update_fields=[*(k for k in changes), "updated_at"])
    except IntegrityError:
        raise ValidationError({"name": "A connection with this name already exists in this project."}) from None
    audit_record(connection=connection, action=AuditEvent.Action.SETTINGS_CHANGED, actor=acting_user, ip=ip,
                 summary=f"Changed {', '.join(changes)}", details={"changes": changes})
    if moved is not None:
        old, new = moved
        _erase_credentials(connection, status=Status.NOT_CONNECTED, authorized_at=None, authorized_by=None,
                           identity="")
        audit_record(connection=connection, action=AuditEvent.Action.ORIGIN_CHANGED, actor=acting_user, ip=ip,
                     summary=f"Address changed from {', '.join(old) or '—'} to {', '.join(new)}: credentials erased, "
                             "not connected until authorized again",
                     details={"from_origins": old, "to_origins": new})
    return connection


def _check_move(connection: Connection, project: Project, acting_user: User) -> None:
    from accounts.models import ProjectAccess
    from accounts.selectors import projects_for_user

    if not projects_for_user(acting_user, ProjectAccess.USE).filter(pk=project.pk).exists():
        raise ValidationError({"project": "You cannot use that project."})
    if connection.owner_id is not None or connection.personal_connections.exists():
        raise ValidationError({"project": "A connection with runtime user connections (or one of them) stays in "
                                          "its project."})
    used_by = list(recipes_using(connection)[:5])
    if used_by:
        raise ValidationError({"project": "Recipes use this connection in its project ("
                                          + ", ".join(f"“{recipe.name}”" for recipe in used_by)
                                          + "): unbind it from them before moving it."})


def _erase_credentials(connection: Connection, *, status: str, **also) -> None:
    """Erase the stored credentials and where they could go; the token version moves so no refresh writes back."""
    Connection.objects.filter(pk=connection.pk).update(
        **{name: "" for name in CONNECTION_SECRET_FIELDS}, secret_settings={}, authorized_origins=[], status=status,
        error_reason="", error_message="", error_since=None, access_token_expires_at=None,
        access_token_refresh_margin=None, refresh_token_expires_at=None, token_version=F("token_version") + 1,
        updated_at=timezone.now(), **also,
    )
    connection.refresh_from_db()


# --- credentials (Basic, API key) ---------------------------------------------------------------


@sensitive_variables()
def connection_set_credentials(*, connection: Connection, acting_user: User, credentials: dict,
                               secret_settings: dict | None = None, ip: str | None = None) -> CheckOutcome:
    """Check new credentials with the connector's test request, and keep them only if they work.

    A failed check leaves the previous good credentials (if any) in place.
    `credentials`: username/password, or api_key (and api_secret); values may be str or Secret.
    """
    from connections.client import connection_client

    candidate = _with_credentials(connection, credentials, secret_settings)
    try:
        candidate.authorized_origins = origins_for_settings(candidate)
    except InvalidValue as exc:
        return CheckOutcome(ok=False, verdict=classify_settings_error(exc))
    outcome, _ = connection_client(candidate).check()
    reauthorize = connection.authorized_at is not None
    if not outcome.ok:
        outcome = _attempt_outcome(candidate, outcome)
        audit_authorization_failed(connection=connection, verdict=outcome.verdict, acting_user=acting_user, ip=ip)
        return outcome
    now = timezone.now()
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(
            # The candidate's data key too: sealing made one if the row had none yet.
            data_key=candidate.data_key,
            username=candidate.username, password=candidate.password, api_key=candidate.api_key,
            api_secret=candidate.api_secret, secret_settings=candidate.secret_settings,
            authorized_origins=candidate.authorized_origins,
            token_version=F("token_version") + 1, authorized_by=acting_user, authorized_at=now, updated_at=now,
        )
        _authorized(connection, acting_user, outcome, reauthorize=reauthorize, ip=ip,
                    changed={name: MASK for name in (*credentials, *(secret_settings or {}))})
    return outcome


def _with_credentials(connection: Connection, credentials: dict, secret_settings: dict | None) -> Connection:
    """A fresh copy of the row with the new credentials sealed on it (nothing saved)."""
    candidate = Connection.objects.get(pk=connection.pk)
    for name in ("password", "api_key", "api_secret"):
        if name in credentials:
            seal_secret(candidate, name, credentials[name])
    if "username" in credentials:
        candidate.username = str(credentials["username"]).strip()
    for secret_name, value in (secret_settings or {}).items():
        seal_secret_setting(candidate, secret_name, value)
    return candidate


@sensitive_variables()
def connection_store_credentials_untested(*, connection: Connection, acting_user: User, credentials: dict,
                                          ip: str | None = None) -> None:
    """Keep credentials without sending them anywhere (a shell connection made by a program that connects it
    later): the connection stays not connected until a test or an authorization succeeds. Sealed like any other,
    and bound to the origins its settings name, so they go nowhere else."""
    candidate = _with_credentials(connection, credentials, None)
    try:
        origins = origins_for_settings(candidate)
    except InvalidValue as exc:
        raise ValidationError(str(exc)) from None
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(
            data_key=candidate.data_key, username=candidate.username, password=candidate.password,
            api_key=candidate.api_key, api_secret=candidate.api_secret, authorized_origins=origins,
            token_version=F("token_version") + 1, updated_at=timezone.now())
        audit_record(connection=connection, action=AuditEvent.Action.SETTINGS_CHANGED, actor=acting_user, ip=ip,
                     summary="Credentials stored, not tested yet", details={name: MASK for name in credentials})
    connection.refresh_from_db()


def connection_store_tokens(*, connection: Connection, acting_user: User, tokens, origins: list[str],
                            token_secret: Secret | None = None, ip: str | None = None) -> CheckOutcome:
    """Keep the tokens an OAuth flow produced, for the origins it authorized, then test the connection with them."""
    from connections.client import connection_client

    reauthorize = connection.authorized_at is not None
    row = Connection.objects.get(pk=connection.pk)
    seal_secret(row, "access_token", tokens.access_token)
    seal_secret(row, "refresh_token", tokens.refresh_token)
    seal_secret(row, "previous_refresh_token", None)
    seal_secret(row, "token_secret", token_secret)
    now = timezone.now()
    with transaction.atomic():
        Connection.objects.filter(pk=row.pk).update(
            data_key=row.data_key, access_token=row.access_token, refresh_token=row.refresh_token,
            previous_refresh_token="", token_secret=row.token_secret, authorized_origins=list(origins),
            access_token_expires_at=tokens.access_expires_at, access_token_refresh_margin=tokens.refresh_margin,
            refresh_token_expires_at=tokens.refresh_expires_at,
            token_version=F("token_version") + 1, authorized_by=acting_user, authorized_at=now, updated_at=now,
        )
    row.refresh_from_db()
    outcome, _ = connection_client(row).check()
    if outcome.ok:
        with transaction.atomic():
            _authorized(row, acting_user, outcome, reauthorize=reauthorize, ip=ip)
    else:
        outcome = _attempt_outcome(row, outcome)
        audit_authorization_failed(connection=row, verdict=outcome.verdict, acting_user=acting_user, ip=ip)
        connection_record_outcome(connection=row, outcome=outcome, source=ConnectionCheck.Source.AUTHORIZATION)
    return outcome


def _attempt_outcome(connection: Connection, outcome: CheckOutcome) -> CheckOutcome:
    """A failed authorization someone just tried, in the words of that try (status.first_authorization_verdict):
    wrong credentials are "incorrect", a transient failure is theirs to try again."""
    from connections.custom import spec_for

    spec = spec_for(connection)
    return replace(outcome, verdict=first_authorization_verdict(
        outcome.verdict, method=spec.auth_method(connection.auth_method), app=spec.name))


def _authorized(connection: Connection, acting_user: User, outcome: CheckOutcome, *, reauthorize: bool,
                ip: str | None, changed: dict | None = None) -> None:
    """Audit a successful (re-)authorization; `changed` names the credential fields set, values masked."""
    action = AuditEvent.Action.REAUTHORIZED if reauthorize else AuditEvent.Action.AUTHORIZED
    # The wizard's connection is made: from now on it is listed, and no purge removes it.
    Connection.objects.filter(pk=connection.pk, pending_until__isnull=False).update(pending_until=None)
    connection.pending_until = None
    audit_record(connection=connection, action=action, actor=acting_user, ip=ip,
                 summary=f"Connected as {outcome.identity}" if outcome.identity else "Connected",
                 details={"credentials": changed} if changed else None)
    connection_record_outcome(connection=connection, outcome=outcome, actor=acting_user,
                            source=ConnectionCheck.Source.AUTHORIZATION)


# --- test and health ----------------------------------------------------------------------------


def connection_test(*, connection: Connection, acting_user: User | None = None, ip: str | None = None,
                    source: str = ConnectionCheck.Source.TEST, sweep_id: int | None = None) -> CheckOutcome:
    """Run the connector's test request now and record what it says (status, identity, audit, check history).

    `source` and `sweep_id` say what asked for the check (connections.health runs the scheduled ones)."""
    if connection.status in (Status.NOT_CONNECTED, Status.DISCONNECTED):
        return CheckOutcome(ok=False, verdict=Verdict(
            Kind.CREDENTIALS_INVALID, "This connection is not authorized: connect it first.",
            recommendations=[RECOMMENDATIONS[Kind.CREDENTIALS_INVALID][-1]]))
    from connections.client import connection_client

    outcome, duration_ms = connection_client(connection).check()
    if acting_user is not None:
        connection_audit_tested(connection=connection, outcome=outcome, acting_user=acting_user, ip=ip)
    connection_record_outcome(connection=connection, outcome=outcome, actor=acting_user, source=source,
                            sweep_id=sweep_id, duration_ms=duration_ms)
    return outcome


def connection_audit_tested(*, connection: Connection, outcome: CheckOutcome, acting_user: User,
                            ip: str | None = None) -> AuditEvent:
    return audit_record(connection=connection, action=AuditEvent.Action.TESTED, actor=acting_user, ip=ip,
                        summary=outcome.message, details={"ok": outcome.ok, "status_code": outcome.status_code})


def connection_record_outcome(*, connection: Connection, outcome: CheckOutcome, actor: User | None = None,
                              source: str = ConnectionCheck.Source.TEST, sweep_id: int | None = None,
                              duration_ms: int | None = None) -> Decision | None:
    """Record what one check found: connection_record_outcomes for one."""
    return connection_record_outcomes([(connection, outcome, duration_ms)], actor=actor, source=source,
                                      sweep_id=sweep_id)[connection.pk]


def status_rules() -> Rules:
    """The deployment's timings for the status machine."""
    return Rules(unreachable_after=timedelta(seconds=settings.SPLICE_UNREACHABLE_AFTER),
                 interval=timedelta(seconds=settings.SPLICE_HEALTH_INTERVAL))


# No savepoint when called inside a transaction (a health check's): a failure here fails that transaction.
@transaction.atomic(savepoint=False)
def connection_record_outcomes(checks: list[tuple[Connection, CheckOutcome, int | None]], *,
                               actor: User | None = None, source: str = ConnectionCheck.Source.TEST,
                               sweep_id: int | None = None) -> dict[int, Decision | None]:
    """The one recorder of outcomes, from any source (Test now, the health check, an authorization, a job
    step): for each (connection, outcome, duration in ms) the status machine's decision is written, with a check
    in the history and, when the status or reason changes, an audit event and, on commit, the
    `connection_status_changed` signal (notifications react to it). A batch costs a few statements whatever
    its size: one locking read, one UPDATE per distinct set of changes, one multi-row insert each of checks and
    audit events. Returns {connection id: decision}; None for a connection deleted or disconnected meanwhile,
    which is left alone (a late check never revives a connection someone disconnected)."""
    now = timezone.now()
    rules = status_rules()
    # Locked in one order (PostgreSQL; SQLite's write transactions are serial anyway): a concurrent check of
    # the same connections waits for this one.
    current = {row["pk"]: row for row in Connection.objects.select_for_update().filter(
        pk__in=[connection.pk for connection, _, _ in checks]).order_by("pk").values(
        "pk", "status", "error_reason", "failing_since", "consecutive_failures", "identity", "name", "project_id")}
    decisions: dict[int, Decision | None] = {}
    updates: dict[tuple, list[int]] = {}
    history, audits, moves = [], [], []
    for connection, outcome, duration_ms in checks:
        row = current.get(connection.pk)
        if row is None or row["status"] == Status.DISCONNECTED:
            decisions[connection.pk] = None
            continue
        decision = decide(Current(status=row["status"], reason=row["error_reason"],
                                  failing_since=row["failing_since"],
                                  consecutive_failures=row["consecutive_failures"], identity=row["identity"]),
                          outcome, now=now, rules=rules)
        decisions[connection.pk] = decision
        updates.setdefault(tuple(sorted(decision.columns.items())), []).append(connection.pk)
        history.append(ConnectionCheck(
            connection_id=connection.pk, checked_at=now, source=source, ok=outcome.ok,
            kind="ok" if outcome.ok else str(outcome.verdict.kind), status_code=outcome.status_code,
            message=outcome.message[:500], duration_ms=duration_ms, status_before=decision.before[0],
            reason_before=decision.before[1], status_after=decision.status, reason_after=decision.reason,
            actor=actor, sweep_id=sweep_id,
        ))
        if decision.changed:
            audits.append(_status_changed_event(row, decision, actor))
            moves.append((connection, decision))
    for columns, pks in updates.items():
        Connection.objects.filter(pk__in=pks).update(**dict(columns))
    ConnectionCheck.objects.bulk_create(history)
    AuditEvent.objects.bulk_create(audits)
    for connection, decision in moves:
        transaction.on_commit(partial(connection_status_changed.send, sender=Connection, connection=connection,
                                      before=decision.before, after=decision.after))
    return decisions


def _status_changed_event(row: dict, decision: Decision, actor: User | None) -> AuditEvent:
    (status_before, reason_before), (status_after, reason_after) = decision.before, decision.after
    return AuditEvent(
        connection_id=row["pk"], connection_name=row["name"], project_id=row["project_id"], actor=actor,
        action=AuditEvent.Action.STATUS_CHANGED,
        summary=f"{Status(status_before).label} → {Status(status_after).label}"
                + (f" ({_reason_label(reason_after)})" if reason_after else ""),
        details={"from": status_before, "to": status_after, "reason": reason_after, "from_reason": reason_before},
    )


# --- retire -------------------------------------------------------------------------------------


def running_recipes_using(connection: Connection):
    return usage.recipes_using(connection, running=True)


def recipes_using(connection: Connection):
    return usage.recipes_using(connection)


def connection_disconnect(*, connection: Connection, acting_user: User, force: bool = False,
                          ip: str | None = None) -> Connection:
    """Revoke the tokens at the app where its connector says how (RFC 7009), erase the credentials and mark the
    connection disconnected, whether or not the app confirmed. Running recipes need `force`: they are stopped (by
    recipes, on the `connection_disconnected` signal) in the same transaction."""
    running = list(running_recipes_using(connection))
    if running and not force:
        raise ConnectionInUse(
            f"{len(running)} running recipe(s) use this connection; disconnecting will stop them from working.",
            running,
        )
    revocation = _revoke(connection)  # before the transaction: no row lock held across the app's answer
    with transaction.atomic():
        previous = connection.status
        _erase_credentials(connection, status=Status.DISCONNECTED)
        details = {"from": previous, "running_recipes": [r.pk for r in running]}
        summary = "Disconnected; credentials erased" + (" (running recipes affected)" if running else "")
        if revocation:
            details["revocation"] = revocation
            summary += f"; tokens {revocation}"
        audit_record(connection=connection, action=AuditEvent.Action.DISCONNECTED, actor=acting_user, ip=ip,
                     summary=summary, details=details)
        connection_disconnected.send(sender=Connection, connection=connection, acting_user=acting_user,
                                     running=running)
    return connection


def _revoke(connection: Connection) -> str:
    """What became of the connection's tokens at the app ("" when its auth method offers no revocation)."""
    from connections.auth import auth_for
    from connections.client import oauth_client_for, resolved_auth

    if connection.status == Status.DISCONNECTED:
        return ""
    try:
        method = resolved_auth(connection)
        return auth_for(method.type).revoke(connection, method,
                                            oauth_client=lambda: oauth_client_for(connection, method=method))
    except ConnectionProblem as problem:
        return f"not revoked: {problem.verdict.message}"
    except (VaultError, CatalogError):  # unreadable credentials, a connector no longer offered: disconnect anyway
        return "not revoked: Splice cannot ask the app"


@transaction.atomic
def connection_discard_pending(*, connection: Connection, acting_user: User | None, ip: str | None = None,
                               reason: str = "its first authorization was not completed") -> bool:
    """Remove a connection the wizard made that never got authorized (cancelled, or its time ran out): nothing
    half-made is left in any list. The audit log keeps that it was. False when it is not pending (any more)."""
    row = (Connection.objects.select_for_update().filter(pk=connection.pk, pending_until__isnull=False)
           .only("pk", "name", "project_id").first())
    if row is None:
        return False
    audit_record(connection=row, action=AuditEvent.Action.DELETED, actor=acting_user, ip=ip,
                 summary=f"Removed “{row.name}”: {reason}")
    row.delete()
    return True


def connections_pending_purge(*, now=None) -> int:
    """Remove the wizard's connections whose first authorization did not happen in time (abandoned at step 3, or
    an OAuth flow that never came back). Returns how many. The wizard and each health sweep call it."""
    now = now or timezone.now()
    removed = 0
    for connection in Connection.objects.filter(pending_until__lt=now).only("pk")[:500]:
        with transaction.atomic():
            removed += connection_discard_pending(connection=connection, acting_user=None,
                                                  reason="its first authorization did not happen in time")
    return removed


@transaction.atomic
def connection_delete(*, connection: Connection, acting_user: User, ip: str | None = None) -> None:
    """Delete a disconnected connection that no recipe uses."""
    if connection.status != Status.DISCONNECTED:
        raise ValidationError("Disconnect the connection before deleting it.")
    used_by = list(recipes_using(connection))
    if used_by:
        raise ConnectionInUse(f"{len(used_by)} recipe(s) still use this connection.", used_by)
    audit_record(connection=connection, action=AuditEvent.Action.DELETED, actor=acting_user, ip=ip,
                 summary=f"Deleted “{connection.name}”")
    connection.delete()


# --- OAuth profiles -----------------------------------------------------------------------------


@transaction.atomic
def oauth_profile_create(*, connector_key: str, name: str, client_id: str, client_secret: str | Secret,
                         acting_user: User | None, is_default: bool = False,
                         endpoints: list[str] | None = None) -> OAuthProfile:
    """Register the client id and secret a deployment got from an app; the secret is sealed at once.

    `endpoints`: the app's OAuth endpoints the client was registered for (its secret goes to no other); by
    default those the app's spec fixes. An app whose endpoints are settings (the HTTP connector) has none
    unless they are given, so its connections cannot send the secret to an address a person typed."""
    spec = registry().get(connector_key)
    if not spec.has_oauth:
        raise ValidationError({"connector_key": f"{spec.name} does not use OAuth."})
    endpoints = spec.oauth_endpoint_templates() if endpoints is None else clean_endpoints(endpoints)
    if is_default:
        OAuthProfile.objects.filter(connector_key=spec.primary_key, is_default=True).update(is_default=False)
    profile = OAuthProfile(connector_key=spec.primary_key, name=name.strip(), client_id=client_id.strip(),
                           is_default=is_default, created_by=acting_user, endpoints=endpoints)
    seal_secret(profile, "client_secret", client_secret)
    profile.full_clean(exclude=["data_key", "client_secret"])
    profile.save()
    return profile


def clean_endpoints(endpoints: list[str]) -> list[str]:
    """Registered endpoints: https URLs (http for local servers where allowed) whose {name}s stand for one part."""
    from connections.catalog.templating import PLACEHOLDER_RE, check_https_url

    cleaned = []
    for endpoint in endpoints:
        endpoint = endpoint.strip()
        if not endpoint:
            continue
        try:
            check_https_url(PLACEHOLDER_RE.sub("x", endpoint), field="endpoints",
                            allow_insecure_loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK)
        except InvalidValue:
            raise ValidationError({"endpoints": f"{endpoint[:200]} is not an https URL."}) from None
        cleaned.append(endpoint)
    return list(dict.fromkeys(cleaned))

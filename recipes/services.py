"""Writes on recipes: create and edit, steps, connection bindings (one per app and slot), start and stop.

Every change bumps the recipe's version and keeps a RecipeVersion (who, when, what, and a snapshot).
Bindings change only while the recipe is stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts.models import Project, ProjectAccess, User
from accounts.services import notification_send
from connections.catalog import UnknownConnector, UnknownOperation
from connections.catalog.app_slot import AppSlot
from connections.models import AuditEvent, Connection
from connections.selectors import connections_for_user
from connections.services import audit_record, connection_test
from recipes.builtins import FIELD_NAME_RE, RECIPE_FUNCTION, app_for, call_fields_clean, needs_connection, operation_for
from recipes.design import DesignError, design_time_errors
from recipes.models import ConnectionBinding, Recipe, RecipeVersion, Step
from recipes.runtime.triggers import (
    check_trigger_startable,
    trigger_kind,
    trigger_step,
    triggers_register,
    triggers_unregister,
    webhook_token_regenerate,
)

__all__ = [
    "BindingNeedsConfirmation",
    "RecipeHasErrors",
    "binding_set",
    "binding_set_runtime_user",
    "check_connection_in_project",
    "only_project_connections_message",
    "recipe_create",
    "recipe_set_call_fields",
    "recipe_start",
    "recipe_stop",
    "recipe_stop_for_trigger_failures",
    "recipe_update",
    "recipe_webhook_regenerate",
    "step_add",
    "step_delete",
    "step_update_inputs",
]


class BindingNeedsConfirmation(Exception):
    """Binding another connection switches every step of that app: the caller must confirm first."""

    def __init__(self, *, current: Connection, new: Connection, steps: list[Step]) -> None:
        self.current, self.new, self.steps = current, new, steps
        super().__init__(f"{len(steps)} step(s) will switch from “{current.name}” to “{new.name}”.")


@dataclass
class RecipeHasErrors(Exception):
    errors: list[DesignError]

    def __str__(self) -> str:
        return f"The recipe has {len(self.errors)} design-time error(s)."


MAX_RETRY_LIMIT = 10
MIN_POLL_MINUTES, MAX_POLL_MINUTES = 1, 24 * 60
CHANGE_NAMES = {"name": "name", "description": "description", "kind": "kind", "retry_limit": "retry limit",
                "poll_minutes": "poll interval"}


def _check_stopped(recipe: Recipe, what: str) -> None:
    if recipe.running:
        raise ValidationError(f"Stop the recipe before you {what}.")


def _snapshot(recipe: Recipe) -> dict:
    return {
        "name": recipe.name, "kind": recipe.kind, "description": recipe.description,
        "call_fields": recipe.call_fields, "retry_limit": recipe.retry_limit, "poll_minutes": recipe.poll_minutes,
        "steps": [{"position": s.position, "trigger": s.is_trigger, "app": s.app_slot.catalog_key,
                   "operation": s.operation_key, "inputs": s.inputs} for s in recipe.steps.order_by("position")],
        "bindings": [{"app": b.connector_key, "slot": b.slot, "connection": b.connection_id,
                      "runtime_user": b.runtime_user} for b in recipe.bindings.order_by("connector_key", "slot")],
    }


def _new_version(recipe: Recipe, acting_user: User | None, summary: str) -> None:
    Recipe.objects.filter(pk=recipe.pk).update(version=F("version") + 1, updated_by=acting_user,
                                               updated_at=timezone.now())
    recipe.refresh_from_db(fields=["version", "updated_by", "updated_at"])
    RecipeVersion.objects.create(recipe=recipe, version=recipe.version, changed_by=acting_user, summary=summary[:300],
                                 snapshot=_snapshot(recipe))


@transaction.atomic
def recipe_create(*, project: Project, name: str, acting_user: User, kind: str = Recipe.Kind.STANDARD,
                  description: str = "") -> Recipe:
    recipe = Recipe(project=project, name=name.strip(), kind=kind, description=description, created_by=acting_user,
                    updated_by=acting_user)
    recipe.full_clean()
    recipe.save()
    RecipeVersion.objects.create(recipe=recipe, version=1, changed_by=acting_user, summary="Created",
                                 snapshot=_snapshot(recipe))
    return recipe


@transaction.atomic
def recipe_update(*, recipe: Recipe, acting_user: User, name: str, description: str, kind: str,
                  retry_limit: int | None = None, poll_minutes: int | None = None) -> Recipe:
    """Change the recipe's name, description, kind and runtime settings (None: keep it as it is)."""
    values = {"name": name.strip(), "description": description, "kind": kind,
              "retry_limit": recipe.retry_limit if retry_limit is None else retry_limit,
              "poll_minutes": recipe.poll_minutes if poll_minutes is None else poll_minutes}
    changed = [attr for attr, value in values.items() if getattr(recipe, attr) != value]
    if not changed:
        return recipe
    if "kind" in changed:
        _check_stopped(recipe, "change its kind")
    if "poll_minutes" in changed:
        _check_stopped(recipe, "change how often it polls")  # the interval is registered when it starts
    if not 0 <= values["retry_limit"] <= MAX_RETRY_LIMIT:
        raise ValidationError(f"Retry a step 0 to {MAX_RETRY_LIMIT} times.")
    if not MIN_POLL_MINUTES <= values["poll_minutes"] <= MAX_POLL_MINUTES:
        raise ValidationError(f"Poll every {MIN_POLL_MINUTES} to {MAX_POLL_MINUTES} minutes.")
    for attr, value in values.items():
        setattr(recipe, attr, value)
    recipe.full_clean()
    recipe.save(update_fields=[*changed, "updated_at"])
    _new_version(recipe, acting_user, f"Changed {', '.join(CHANGE_NAMES[attr] for attr in changed)}")
    return recipe


@transaction.atomic
def recipe_set_call_fields(*, recipe: Recipe, fields: list, acting_user: User) -> Recipe:
    """Declare a callable recipe's inputs ([{name, type, required}]): what a caller sends, and what its trigger
    offers later steps as data pills."""
    if recipe.kind != Recipe.Kind.CALLABLE:
        raise ValidationError("Only a callable recipe has input fields: make it callable in its settings first.")
    _check_stopped(recipe, "change its input fields")
    try:
        cleaned = call_fields_clean(fields)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    current = Recipe.objects.select_for_update().values_list("call_fields", flat=True).get(pk=recipe.pk)
    if cleaned == current:
        return recipe
    before = {f.get("name") for f in current or [] if isinstance(f, dict)}
    after = {f["name"] for f in cleaned}
    recipe.call_fields = cleaned
    recipe.save(update_fields=["call_fields", "updated_at"])
    added, removed = sorted(after - before), sorted(before - after)
    summary = "; ".join(part for part in (
        f"Added input field{'s' if len(added) > 1 else ''} {', '.join(added)}" if added else "",
        f"Removed input field{'s' if len(removed) > 1 else ''} {', '.join(removed)}" if removed else "",
    ) if part) or "Changed the input fields"
    _new_version(recipe, acting_user, summary)
    return recipe


@transaction.atomic
def recipe_webhook_regenerate(*, recipe: Recipe, acting_user: User) -> str:
    """A new webhook address for the recipe (the old one stops working at once), kept in its history. The history
    says only that it changed: the address itself is shown to editors alone."""
    if trigger_kind(recipe, trigger_step(recipe)) != "webhook":
        raise ValidationError("This recipe's trigger is not a webhook, so it has no address to regenerate.")
    had_one = bool(Recipe.objects.filter(pk=recipe.pk).values_list("webhook_token", flat=True).first())
    token = webhook_token_regenerate(recipe)
    _new_version(recipe, acting_user, "Regenerated the webhook address (the old one no longer works)" if had_one
                 else "Created the webhook address")
    return token


@transaction.atomic
def step_add(*, recipe: Recipe, acting_user: User, app: AppSlot, operation_key: str) -> Step:
    """Add the trigger (first, only one) or an action (after the others) of an app's operation."""
    _check_stopped(recipe, "change its steps")
    spec = app_for(app)
    if spec is None:
        raise ValidationError(f"There is no app {app.catalog_key!r} in the catalog.")
    try:
        operation = spec.operation(operation_key)
    except UnknownOperation as exc:
        raise ValidationError(str(exc)) from None
    if app.connector_key == RECIPE_FUNCTION and recipe.kind != Recipe.Kind.CALLABLE:
        raise ValidationError(f"{spec.name} steps are only for callable recipes: make this recipe callable in its "
                              "settings first.")
    steps = Recipe.objects.select_for_update().get(pk=recipe.pk).steps
    if operation.is_trigger:
        if steps.filter(is_trigger=True).exists():
            raise ValidationError("A recipe has one trigger: remove the current one first.")
        steps.update(position=F("position") + 1000)  # make room at the top without a unique clash
        steps.update(position=F("position") - 999)
        position = 1
    else:
        position = (steps.aggregate(last=Max("position"))["last"] or 0) + 1
    step = Step.objects.create(
        recipe=recipe, position=position, is_trigger=operation.is_trigger, **app.lookup(), operation_key=operation.key,
        inputs={f.name: f.default for f in operation.input if f.default is not None},
    )
    if needs_connection(spec):
        ConnectionBinding.objects.get_or_create(recipe=recipe, **app.lookup())
    _new_version(recipe, acting_user, f"Added {'trigger' if step.is_trigger else 'action'} {spec.name}: "
                                      f"{operation.name}")
    return step


@transaction.atomic
def step_update_inputs(*, step: Step, acting_user: User, inputs: dict) -> Step:
    _check_stopped(step.recipe, "change its steps")
    operation = operation_for(step.recipe, step)
    if operation is None:
        raise ValidationError("This step's app no longer offers it: remove the step.")
    if getattr(operation, "open_inputs", False):
        cleaned = {name.strip(): value for name, value in inputs.items() if FIELD_NAME_RE.match(name.strip())}
    else:
        allowed = {f.name for f in operation.input}
        cleaned = {name: value for name, value in inputs.items() if name in allowed}
    if cleaned == step.inputs:
        return step
    step.inputs = cleaned
    step.save(update_fields=["inputs"])
    _new_version(step.recipe, acting_user, f"Changed the inputs of step {step.position} ({operation.name})")
    return step


@transaction.atomic
def step_delete(*, step: Step, acting_user: User) -> None:
    recipe = step.recipe
    _check_stopped(recipe, "change its steps")
    position = step.position
    step.delete()
    later = recipe.steps.filter(position__gt=position)
    later.update(position=F("position") + 1000)
    later.update(position=F("position") - 1001)
    still_used = recipe.steps.filter(**step.app_slot.lookup()).exists()
    if not still_used:
        binding = recipe.bindings.filter(**step.app_slot.lookup()).select_related("connection").first()
        if binding is not None:
            _unbind_audit(binding, acting_user)
            binding.delete()
    _new_version(recipe, acting_user, f"Removed step {position}")


@transaction.atomic
def binding_set(*, recipe: Recipe, app: AppSlot, connection: Connection, acting_user: User,
                confirm: bool = False) -> ConnectionBinding:
    """Use `connection` for every step of its app (and slot) in the recipe.

    One connection per app per recipe: when another connection is bound already, every step of that
    app switches, after the caller confirms (BindingNeedsConfirmation names the steps).
    """
    _check_stopped(recipe, "change its connections")
    spec = _app_spec(app)
    check_connection_in_project(recipe=recipe, connection=connection)
    if not connections_for_user(acting_user, ProjectAccess.USE).filter(pk=connection.pk).exists():
        raise ValidationError("You can only use connections from projects you may use.")
    if connection.app_slot != app:
        raise ValidationError(f"“{connection.name}” is not a {spec.name} connection.")
    binding, _ = ConnectionBinding.objects.select_for_update().get_or_create(recipe=recipe, **app.lookup())
    if binding.connection_id == connection.pk:
        return binding
    if binding.connection_id is not None and not confirm:
        steps = list(recipe.steps.filter(**app.lookup()).order_by("position"))
        raise BindingNeedsConfirmation(current=binding.connection, new=connection, steps=steps)
    previous = binding.connection
    binding.connection = connection
    binding.full_clean()
    binding.save(update_fields=["connection", "updated_at"])
    if previous is not None:
        _unbind_audit(binding, acting_user, previous)
    audit_record(connection=connection, action=AuditEvent.Action.BOUND, actor=acting_user,
                 summary=f"Used by recipe “{recipe.name}”", details={"recipe": recipe.pk, "slot": app.slot})
    # The history is shown to everyone who can see the recipe: a connection from elsewhere (bound before bindings
    # were kept to the recipe's project) is not named there.
    switched = "" if previous is None else (f" (was “{previous.name}”)" if _in_project(recipe, previous)
                                            else " (was a connection from another project)")
    _new_version(recipe, acting_user, f"{spec.name} uses “{connection.name}”{switched}")
    return binding


def only_project_connections_message(recipe: Recipe) -> str:
    return f"Only connections in the project “{recipe.project.name}” can be used in this recipe."


def _in_project(recipe: Recipe, connection: Connection) -> bool:
    return connection.project_id == recipe.project_id and connection.owner_id is None


def check_connection_in_project(*, recipe: Recipe, connection: Connection) -> None:
    """A recipe uses only shared connections of its own project, whatever else the acting user may use.

    The connection's project is compared first, so a connection from elsewhere gets the same refusal whether or
    not the acting user can use its project. A personal (runtime user) connection belongs to one person: a job
    reaches it through the shared parent the recipe binds, never as the recipe's own connection.
    """
    if connection.project_id != recipe.project_id:
        raise ValidationError(only_project_connections_message(recipe))
    if connection.owner_id is not None:
        raise ValidationError("A person's own (runtime user) connection cannot be a recipe's connection: choose a "
                              f"shared connection in the project “{recipe.project.name}”.")


def _app_spec(app: AppSlot):
    """The app's spec; asking for the secondary of an app that has none is a clear refusal."""
    try:
        return app.spec
    except UnknownConnector:
        primary = app.as_primary().spec_or_none if app.is_secondary else None
        if primary is not None:
            raise ValidationError(f"{primary.name} has no secondary connector, so a recipe can use only one "
                                  f"{primary.name} connection.") from None
        raise ValidationError(f"There is no app {app.catalog_key!r} in the catalog.") from None


def _unbind_audit(binding: ConnectionBinding, acting_user: User, connection: Connection | None = None) -> None:
    connection = connection or binding.connection
    if connection is not None:
        audit_record(connection=connection, action=AuditEvent.Action.UNBOUND, actor=acting_user,
                     summary=f"No longer used by recipe “{binding.recipe.name}”", details={"recipe": binding.recipe_id})


@transaction.atomic
def binding_set_runtime_user(*, binding: ConnectionBinding, runtime_user: bool, acting_user: User) -> None:
    """Mark an app's binding as runtime user (each job uses the invoking person's own connection)."""
    _check_stopped(binding.recipe, "change its connections")
    if runtime_user and not binding.recipe.allows_runtime_user:
        raise ValidationError(f"“{binding.recipe.name}” is a standard recipe: only callable and Workbot recipes can "
                              "run as the person who invokes them. Change its kind in its settings first.")
    if binding.runtime_user == runtime_user:
        return
    binding.runtime_user = runtime_user
    binding.full_clean()
    binding.save(update_fields=["runtime_user", "updated_at"])
    _new_version(binding.recipe, acting_user,
                 f"{binding.connector_key}: runtime user connection {'on' if runtime_user else 'off'}")


def recipe_start(*, recipe: Recipe, acting_user: User, since: datetime | None = None) -> Recipe:
    """Test every bound connection now, then register the recipe's trigger and start it, or raise RecipeHasErrors
    listing what is wrong. `since`: where a poll trigger begins (None: from now).

    A connection whose test fails for a passing reason (timeout, 5xx) is not marked invalid, but the
    recipe does not start on a connection that cannot be reached right now.
    """
    errors: list[DesignError] = []
    for binding in recipe.bindings.select_related("connection"):
        connection = binding.connection
        if connection is None or connection.status not in (Connection.Status.CONNECTED, Connection.Status.ERROR):
            continue  # design_time_errors reports these
        if not _in_project(recipe, connection):
            continue  # nor is another project's connection tested: design_time_errors reports it too
        outcome = connection_test(connection=connection, acting_user=acting_user)
        if not outcome.ok and outcome.verdict.transient:
            errors.append(DesignError("connection_test_failed", f"“{connection.name}” did not pass its test: "
                                      f"{outcome.message}", recommendations=tuple(outcome.recommendations),
                                      fix_label="Open the connection", fix_url=connection.get_absolute_url()))
    errors = design_time_errors(recipe, bindings=recipe.bindings.select_related("connection")) + errors
    if not recipe.steps.filter(is_trigger=True).exists():
        errors.insert(0, DesignError("no_trigger", "Add a trigger: it decides when the recipe runs."))
    else:
        try:
            check_trigger_startable(recipe)
        except ValidationError as exc:
            # design_time_errors reports a bad schedule already, next to its step
            if not any(e.code == "schedule_invalid" for e in errors):
                errors.insert(0, DesignError("trigger_invalid", " ".join(exc.messages), (1,)))
    if errors:
        raise RecipeHasErrors(errors)
    with transaction.atomic():
        Recipe.objects.select_for_update().filter(pk=recipe.pk).update(
            running=True, started_at=timezone.now(), updated_by=acting_user, stopped_reason="")
        triggers_register(recipe, since=since)
    recipe.refresh_from_db()
    return recipe


@transaction.atomic
def recipe_stop(*, recipe: Recipe, acting_user: User | None, reason: str = "") -> Recipe:
    """Stop the recipe: its trigger is removed, so nothing starts a job any more (a tick already queued starts
    none, and a job not yet begun is cancelled). `reason`: why Splice stopped it, when no person did."""
    Recipe.objects.select_for_update().filter(pk=recipe.pk).update(running=False, updated_by=acting_user,
                                                                   stopped_reason=reason[:300])
    triggers_unregister(recipe)
    recipe.refresh_from_db()
    return recipe


def recipe_stop_for_trigger_failures(*, recipe: Recipe, connection: Connection, failures: int, message: str) -> None:
    """A trigger that kept failing authentication stops its recipe; the recipe's owner is told why."""
    reason = (f"Stopped after {failures} failed authentications of its trigger with “{connection.name}”: "
              f"{message}")
    with transaction.atomic():
        recipe_stop(recipe=recipe, acting_user=None, reason=reason)
        recipients = [user for user in (recipe.created_by,) if user is not None and user.is_active]
        notification_send(
            recipients=recipients, kind="recipe_stopped", kind_label="Recipe stopped", reason="trigger_auth",
            subject=recipe, title=f"“{recipe.name}” was stopped: its trigger cannot sign in",
            body=f"{reason}\n\nFix the connection (verify the credentials and the authorizing user's permissions, "
                 "or re-authorize it), then start the recipe again.",
            link=recipe.get_absolute_url(), link_label=f"Open “{recipe.name}”",
            why_sent="You created this recipe.")

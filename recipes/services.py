"""Writes on recipes: create and edit, steps, connection bindings (one per app and slot), start and stop.

Every change bumps the recipe's version and keeps a RecipeVersion (who, when, what, and a snapshot).
Bindings change only while the recipe is stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts.models import Project, ProjectAccess, User
from connections.catalog import UnknownConnector, UnknownOperation
from connections.catalog.app_slot import AppSlot
from connections.models import AuditEvent, Connection
from connections.selectors import connections_for_user
from connections.services import audit_record, connection_test
from recipes.design import DesignError, design_time_errors
from recipes.models import ConnectionBinding, Recipe, RecipeVersion, Step

__all__ = [
    "BindingNeedsConfirmation",
    "RecipeHasErrors",
    "binding_set",
    "binding_set_runtime_user",
    "check_connection_in_project",
    "only_project_connections_message",
    "recipe_create",
    "recipe_start",
    "recipe_stop",
    "recipe_update",
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


def _check_stopped(recipe: Recipe, what: str) -> None:
    if recipe.running:
        raise ValidationError(f"Stop the recipe before you {what}.")


def _snapshot(recipe: Recipe) -> dict:
    return {
        "name": recipe.name, "kind": recipe.kind, "description": recipe.description,
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
def recipe_update(*, recipe: Recipe, acting_user: User, name: str, description: str, kind: str) -> Recipe:
    changed = [attr for attr, value in (("name", name.strip()), ("description", description), ("kind", kind))
               if getattr(recipe, attr) != value]
    if not changed:
        return recipe
    if "kind" in changed:
        _check_stopped(recipe, "change its kind")
    recipe.name, recipe.description, recipe.kind = name.strip(), description, kind
    recipe.full_clean()
    recipe.save(update_fields=[*changed, "updated_at"])
    _new_version(recipe, acting_user, f"Changed {', '.join(changed)}")
    return recipe


@transaction.atomic
def step_add(*, recipe: Recipe, acting_user: User, app: AppSlot, operation_key: str) -> Step:
    """Add the trigger (first, only one) or an action (after the others) of an app's operation."""
    _check_stopped(recipe, "change its steps")
    try:
        spec = app.spec
        operation = spec.operation(operation_key)
    except (UnknownConnector, UnknownOperation) as exc:
        raise ValidationError(str(exc)) from None
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
    ConnectionBinding.objects.get_or_create(recipe=recipe, **app.lookup())
    _new_version(recipe, acting_user, f"Added {'trigger' if step.is_trigger else 'action'} {spec.name}: "
                                      f"{operation.name}")
    return step


@transaction.atomic
def step_update_inputs(*, step: Step, acting_user: User, inputs: dict) -> Step:
    _check_stopped(step.recipe, "change its steps")
    operation = step.app_slot.spec.operation(step.operation_key)
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
    if binding.runtime_user == runtime_user:
        return
    binding.runtime_user = runtime_user
    binding.full_clean()
    binding.save(update_fields=["runtime_user", "updated_at"])
    _new_version(binding.recipe, acting_user,
                 f"{binding.connector_key}: runtime user connection {'on' if runtime_user else 'off'}")


def recipe_start(*, recipe: Recipe, acting_user: User) -> Recipe:
    """Test every bound connection now, then start the recipe, or raise RecipeHasErrors listing what is wrong.

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
    if errors:
        raise RecipeHasErrors(errors)
    with transaction.atomic():
        Recipe.objects.filter(pk=recipe.pk).update(running=True, started_at=timezone.now(), updated_by=acting_user)
    recipe.refresh_from_db()
    return recipe


@transaction.atomic
def recipe_stop(*, recipe: Recipe, acting_user: User) -> Recipe:
    Recipe.objects.filter(pk=recipe.pk).update(running=False, updated_by=acting_user)
    recipe.refresh_from_db()
    return recipe

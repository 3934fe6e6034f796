"""Design-time errors: what is wrong with a recipe before it runs. A recipe with any cannot be started.

Computed from the recipe's steps and bindings and the live status of the bound connections, so a
connection that breaks later (health check, job) shows up in every recipe using it, without an edit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.urls import reverse

from connections.catalog.app_slot import AppSlot
from connections.models import Connection
from recipes.builtins import (
    NEW_CALL,
    RECIPE_FUNCTION,
    RETURN_RESULT,
    app_for,
    builtin_design_problems,
    needs_connection,
    operation_for,
)
from recipes.models import ConnectionBinding, Recipe, Step
from recipes.pills import PILL_RE, unresolved_pills
from recipes.runtime.triggers import schedule_of

__all__ = ["DesignError", "design_time_errors", "error_counts"]


@dataclass(frozen=True)
class DesignError:
    code: str
    message: str
    steps: tuple[int, ...] = ()
    fix_label: str = ""
    fix_url: str = ""
    recommendations: tuple[str, ...] = field(default_factory=tuple)

    @property
    def anchor(self) -> str:
        return f"#step-{self.steps[0]}" if self.steps else "#connections"


def design_time_errors(recipe: Recipe, *, steps: Iterable[Step] | None = None,
                       bindings: Iterable[ConnectionBinding] | None = None) -> list[DesignError]:
    """Every design-time error of the recipe. Pass prefetched steps and bindings to avoid queries."""
    steps = list(steps if steps is not None else recipe.steps.all())
    bindings = list(bindings if bindings is not None else recipe.bindings.select_related("connection"))
    by_app = {b.app_slot: b for b in bindings}
    editor = reverse("recipe_editor", args=[recipe.pk])
    errors: list[DesignError] = []

    apps_used: dict[AppSlot, list[int]] = {}
    for step in steps:
        apps_used.setdefault(step.app_slot, []).append(step.position)

    for app, positions in apps_used.items():
        if not needs_connection(app_for(app)):
            continue
        app_name = app.label
        binding = by_app.get(app)
        connect = f"{editor}#connection-{app.connector_key}-{app.slot}"
        if binding is not None and binding.connection is None and binding.runtime_user:
            errors.append(DesignError(
                "runtime_user_no_parent", f"{app_name} runs on each caller's own connection, which is made from the "
                f"recipe's: connect a shared {app_name} connection (it also supplies pick lists while you edit).",
                tuple(positions), f"Connect {app_name}", connect))
            continue
        if binding is None or binding.connection is None:
            errors.append(DesignError("no_connection", f"{app_name} has no connection. Connect to {app_name} to "
                                      "configure its steps.", tuple(positions), f"Connect {app_name}", connect))
            continue
        connection = binding.connection
        if connection is not None and connection.project_id != recipe.project_id:
            # Bound before bindings were kept to the recipe's project, or made directly: named nowhere, since not
            # everyone who sees the recipe can see that project, and not tested or used until it is replaced.
            errors.append(DesignError(
                "connection_other_project", f"{app_name} uses a connection from another project. Only connections in "
                f"the project “{recipe.project.name}” can be used in this recipe.", tuple(positions),
                f"Choose a {app_name} connection", connect))
        elif connection is not None and connection.owner_id is not None:
            errors.append(DesignError(
                "connection_personal", f"{app_name} uses a person's own (runtime user) connection, which cannot be a "
                "recipe's connection.", tuple(positions), f"Choose a shared {app_name} connection", connect))
        elif connection is not None:
            errors.extend(_connection_errors(connection, app_name, positions))
        if binding.runtime_user and not recipe.allows_runtime_user:
            errors.append(DesignError(
                "runtime_user_on_standard", f"{app_name} uses a runtime user connection, which only callable and "
                "workbot recipes can use.", tuple(positions), "Use the shared connection", connect))

    errors.extend(_kind_errors(recipe, steps, editor))
    errors.extend(DesignError(p.code, p.message, p.steps, p.fix_label, f"{editor}#step-{p.steps[0]}")
                  for p in builtin_design_problems(recipe, steps))
    available: dict[str, list[str]] = {}
    for step in steps:
        at_step = f"{editor}#step-{step.position}"
        operation = operation_for(recipe, step)
        if operation is None:
            errors.append(DesignError("unknown_operation", f"Step {step.position} uses {step.connector_key}."
                                      f"{step.operation_key}, which the app no longer offers.", (step.position,),
                                      "Remove the step", at_step))
            continue
        if operation.kind == "schedule":
            try:
                schedule_of(step.inputs or {})
            except ValueError as exc:
                errors.append(DesignError("schedule_invalid", f"Step {step.position}: {exc}", (step.position,),
                                          "Fix the schedule", at_step))
        # Return result's fields have any names: each is checked as an input of its own.
        fields = operation.input if not getattr(operation, "open_inputs", False) else [
            _OpenField(name) for name in (step.inputs or {})]
        for input_field in fields:
            value = (step.inputs or {}).get(input_field.name)
            if input_field.required and (value is None or str(value).strip() == ""):
                errors.append(DesignError("required_input", f"Step {step.position}: “{input_field.label}” is "
                                          "required.", (step.position,), "Fill it in", at_step))
            if input_field.type == "object" and not _is_json_object(value):
                errors.append(DesignError("invalid_json", f"Step {step.position}: “{input_field.label}” must be a "
                                          'JSON object, such as {"name": "{{trigger.name}}"}.', (step.position,),
                                          "Fix the JSON", at_step))
            for pill in unresolved_pills(value, available):
                errors.append(DesignError("unresolved_pill", f"Step {step.position}: “{input_field.label}” uses "
                                          f"{pill.text}, which no earlier step provides.", (step.position,),
                                          "Fix the data pill", at_step))
        available[step.ref] = [o.name for o in operation.output]
    return errors


@dataclass(frozen=True)
class _OpenField:
    """A field of an operation with open inputs (Return result), named by the person."""

    name: str
    required: bool = False
    type: str = "string"

    @property
    def label(self) -> str:
        return self.name


def _is_json_object(value) -> bool:
    """Empty, one data pill (an object from an earlier step), or JSON text of an object whose strings may hold
    pills: what the runner can turn into an object."""
    if value is None or isinstance(value, dict) or str(value).strip() == "":
        return True
    text = str(value).strip()
    if PILL_RE.fullmatch(text):
        return True
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _kind_errors(recipe: Recipe, steps: list[Step], editor: str) -> list[DesignError]:
    """What the recipe's kind asks of its steps: a callable recipe starts when called; only it may be called, or
    return a result; Return result ends the job, so no step may follow it."""
    errors = []
    callable_steps = [s for s in steps if s.connector_key == RECIPE_FUNCTION]
    if recipe.kind != Recipe.Kind.CALLABLE:
        for step in callable_steps:
            name = "When called" if step.operation_key == NEW_CALL else "Return result"
            errors.append(DesignError(
                "callable_only", f"Step {step.position}: “{name}” is only for callable recipes. Make this recipe "
                "callable in its settings, or remove the step.", (step.position,), "Remove the step",
                f"{editor}#step-{step.position}"))
    trigger = next((s for s in steps if s.is_trigger), None)
    if recipe.kind == Recipe.Kind.CALLABLE and trigger is not None and not (
            trigger.connector_key == RECIPE_FUNCTION and trigger.operation_key == NEW_CALL):
        errors.append(DesignError(
            "callable_without_call_trigger", "A callable recipe starts when it is called: its trigger must be "
            "Callable recipe → When called. Remove this trigger and add that one.", (trigger.position,),
            "Replace the trigger", f"{editor}#step-{trigger.position}"))
    returns = [s for s in callable_steps if s.operation_key == RETURN_RESULT]
    if returns and steps[-1].position != returns[0].position:
        later = [s.position for s in steps if s.position > returns[0].position]
        errors.append(DesignError(
            "steps_after_return", f"Return result (step {returns[0].position}) ends the job, so step"
            f"{'s' if len(later) > 1 else ''} {', '.join(map(str, later))} would never run. Move Return result "
            "last by removing the steps after it, or remove it.", tuple(later), "Remove the step",
            f"{editor}#step-{later[0]}"))
    return errors


def _connection_errors(connection: Connection, app_name: str, positions: list[int]) -> list[DesignError]:
    reauthorize = reverse("connection_authorize", args=[connection.pk])
    if connection.status == Connection.Status.ERROR:
        reason = connection.get_error_reason_display() or "Error"
        return [DesignError(
            "connection_error", f"{app_name} connection “{connection.name}”: {reason}. "
            f"{connection.error_message}".strip(), tuple(positions), "Re-authorize", reauthorize,
            tuple(connection.recommendations))]
    if connection.status == Connection.Status.DISCONNECTED:
        return [DesignError("connection_disconnected", f"{app_name} connection “{connection.name}” is disconnected.",
                            tuple(positions), "Re-authorize", reauthorize)]
    if connection.status == Connection.Status.NOT_CONNECTED:
        return [DesignError("connection_not_connected", f"{app_name} connection “{connection.name}” is not "
                            "authorized yet.", tuple(positions), "Authorize", reauthorize)]
    return []


def error_counts(recipes: Iterable[Recipe]) -> dict[int, int]:
    """Design-time error counts for recipes fetched with `prefetch_related("steps", "bindings__connection")`."""
    return {r.pk: len(design_time_errors(r, steps=r.steps.all(), bindings=r.bindings.all())) for r in recipes}

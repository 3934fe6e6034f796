"""Built-in apps: steps that need no connection. The Scheduler starts a recipe on a timetable; a callable recipe
starts when it is called (its inputs are the recipe's declared fields) and ends with "Return result", whose fields
(any names, each built from data pills) are what the caller gets back.

    app = app_for(step.app_slot)           # a built-in app, the catalog's spec, or None
    operation = operation_for(recipe, step)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from connections.catalog import Icon, InputField, OutputField, UnknownOperation
from connections.catalog.app_slot import AppSlot
from recipes.runtime.masking import secret_name

__all__ = [
    "CALL_FIELD_TYPES", "RECIPE_FUNCTION", "RETURN_RESULT", "SCHEDULER", "BuiltinApp", "BuiltinOperation",
    "app_for", "builtin_apps", "call_fields_clean", "needs_connection", "operation_for",
]

SCHEDULER, RECIPE_FUNCTION = "scheduler", "recipe_function"
NEW_CALL, RETURN_RESULT, EVERY = "new_call", "return_result", "every"
CALL_FIELD_TYPES = ("string", "integer", "number", "boolean", "object", "array")
FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
MAX_CALL_FIELDS = 50


@dataclass(frozen=True)
class BuiltinOperation:
    """A built-in trigger or action, shaped like a connector's (key, name, inputs, outputs)."""

    key: str
    name: str
    kind: str
    description: str = ""
    input: list = field(default_factory=list)
    output: list = field(default_factory=list)
    is_trigger: bool = False
    open_inputs: bool = False  # inputs of any name (Return result's fields)

    def input_field(self, name: str):
        return next((f for f in self.input if f.name == name), None)


@dataclass(frozen=True)
class BuiltinApp:
    key: str
    name: str
    description: str
    icon: Icon
    triggers: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    secondary: bool = False
    needs_connection: bool = False

    @property
    def all_actions(self) -> list:
        return self.actions

    @property
    def operations(self) -> list:
        return [*self.triggers, *self.actions]

    def operation(self, key: str) -> BuiltinOperation:
        for op in self.operations:
            if op.key == key:
                return op
        raise UnknownOperation(f"{self.key} has no trigger or action {key!r}")


_SCHEDULE = BuiltinOperation(
    key=EVERY, name="On a schedule", kind="schedule", is_trigger=True,
    description="Every N minutes, or at the times a cron expression names (UTC).",
    input=[
        InputField(name="minutes", label="Every (minutes)", type="integer", default=60,
                   help="From 1 to 10080 (a week). Leave empty to use a cron expression instead."),
        InputField(name="cron", label="Cron expression", help="Five fields, in UTC: minute hour day month weekday "
                   "(“0 9 * * 1-5” is 09:00 on weekdays). Used instead of minutes when set."),
    ],
    output=[OutputField(name="scheduled_at", label="Scheduled time", type="datetime")],
)
_NEW_CALL = BuiltinOperation(
    key=NEW_CALL, name="When called", kind="call", is_trigger=True,
    description="POST /api/v1/recipes/<id>/call with a personal API token; its inputs are the fields you declare.",
)
_RETURN = BuiltinOperation(
    key=RETURN_RESULT, name="Return result", kind="return", open_inputs=True,
    description="The fields the caller gets back, each built from data pills. Ends the job.",
)

_APPS = {
    SCHEDULER: BuiltinApp(key=SCHEDULER, name="Scheduler", description="Start a recipe on a timetable.",
                          icon=Icon(letter="S", color="#7c3aed"), triggers=[_SCHEDULE]),
    RECIPE_FUNCTION: BuiltinApp(key=RECIPE_FUNCTION, name="Callable recipe",
                                description="Start a recipe from the API and return a result to the caller.",
                                icon=Icon(letter="ƒ", color="#0369a1"), triggers=[_NEW_CALL], actions=[_RETURN]),
}


def builtin_apps() -> list[BuiltinApp]:
    return list(_APPS.values())


def app_for(app: AppSlot):
    """The built-in app, else the catalog's spec, else None (an app no longer in the catalog)."""
    if app.connector_key in _APPS:
        return _APPS[app.connector_key] if not app.is_secondary else None
    return app.spec_or_none


def needs_connection(app) -> bool:
    return getattr(app, "needs_connection", True)


def operation_for(recipe, step):
    """The step's operation (its trigger or action), or None when its app no longer offers it. A callable
    recipe's trigger outputs the recipe's declared fields."""
    app = app_for(step.app_slot)
    if app is None:
        return None
    try:
        operation = app.operation(step.operation_key)
    except (UnknownOperation, LookupError):
        return None
    if isinstance(operation, BuiltinOperation) and operation.key == NEW_CALL:
        outputs = [OutputField(name=f["name"], label=f["name"], type=_output_type(f["type"]))
                   for f in recipe.call_fields or [] if isinstance(f, dict) and "name" in f and "type" in f]
        return BuiltinOperation(**{**operation.__dict__, "output": outputs})
    return operation


def _output_type(field_type: str) -> str:
    return field_type if field_type in ("string", "integer", "number", "boolean", "object", "array") else "string"


def call_fields_clean(fields: list) -> list[dict]:
    """A callable recipe's declared inputs, checked: [{name, type, required}]; raises ValueError with a message."""
    if not isinstance(fields, list) or len(fields) > MAX_CALL_FIELDS:
        raise ValueError(f"Declare at most {MAX_CALL_FIELDS} input fields.")
    cleaned, seen = [], set()
    for item in fields:
        name = str(item.get("name", "")).strip() if isinstance(item, dict) else ""
        if not FIELD_NAME_RE.match(name):
            raise ValueError(f"“{name[:50]}” is not a field name: letters, digits and _, starting with a letter.")
        if name in seen:
            raise ValueError(f"The field “{name}” is declared twice.")
        if secret_name(name):
            # A job keeps no secret: what arrives under such a name is masked in its records, and its steps read
            # those records, so the value would reach them as ••••••.
            raise ValueError(f"“{name}” is named like a secret, and Splice masks such values in jobs, so steps could "
                             "not use it. Give it another name, or keep the secret in a connection.")
        seen.add(name)
        field_type = item.get("type", "string")
        if field_type not in CALL_FIELD_TYPES:
            raise ValueError(f"“{name}” has an unknown type; choose one of {', '.join(CALL_FIELD_TYPES)}.")
        cleaned.append({"name": name, "type": field_type, "required": bool(item.get("required"))})
    return cleaned

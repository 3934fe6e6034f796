"""Built-in apps: steps that need no connection. The Scheduler starts a recipe on a timetable; a callable recipe
starts when it is called (its inputs are the recipe's declared fields) and ends with "Return result", whose fields
(any names, each built from data pills) are what the caller gets back. A Workbot recipe starts when a person posts
its chat command (the trigger declares the command and its arguments) and ends with "Reply", whose text goes back
to that person in the chat (recipes.workbot).

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
    "CALL_FIELD_TYPES", "NEW_COMMAND", "RECIPE_FUNCTION", "RETURN_RESULT", "SCHEDULER", "WORKBOT", "BuiltinApp",
    "BuiltinOperation", "BuiltinProblem", "CommandArgument", "CommandSpec", "app_for", "builtin_apps",
    "builtin_apps_for", "builtin_design_problems", "builtin_offered", "call_fields_clean", "command_spec",
    "needs_connection", "operation_for",
]

SCHEDULER, RECIPE_FUNCTION, WORKBOT = "scheduler", "recipe_function", "workbot"
NEW_CALL, RETURN_RESULT, EVERY, NEW_COMMAND = "new_call", "return_result", "every", "new_command"
# Slack's rule for a slash command's name (https://api.slack.com/interactivity/slash-commands#creating_commands):
# a slash, then at most 32 lowercase letters, digits, hyphens and underscores.
COMMAND_RE = re.compile(r"^/[a-z0-9][a-z0-9_-]{0,31}$")
MAX_COMMAND_ARGUMENTS = 20
# What a Workbot trigger offers besides its arguments, so no argument may take these names.
COMMAND_OUTPUT_NAMES = ("person", "chat_user_id", "team_id")
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
    recipe_kind: str | None = None  # offered only to recipes of this kind (None: to every recipe)

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

_NEW_COMMAND = BuiltinOperation(
    key=NEW_COMMAND, name="When a command is posted", kind="command", is_trigger=True,
    description="A person types the command in Slack (/opportunity Acme 5000); the job runs as the Splice person "
                "their chat account is linked to, and its Reply goes back to them.",
    input=[
        InputField(name="command", label="Command", required=True,
                   help="The slash command, as configured in your Slack app: a slash and up to 32 lowercase letters, "
                        "digits, - or _, like /opportunity."),
        InputField(name="arguments", label="Arguments",
                   help="The words that follow the command, in order, separated by spaces; an optional one in "
                        "brackets: “account amount [stage]”. Quote a value of several words (\"Closed won\"); "
                        "the last argument takes the rest of the line."),
    ],
)
# The Reply ends the job with its text as the job's result, as Return result does in a callable recipe: the runner
# knows it by this key (recipes.runtime.runner), and recipes.workbot posts it back to the chat.
_REPLY = BuiltinOperation(
    key=RETURN_RESULT, name="Reply", kind="return",
    description="The message the person who posted the command gets back, built from data pills. Ends the job.",
    input=[
        InputField(name="text", label="Message", type="text", required=True,
                   help="What the person reads in Slack, like “Created {{step2.name}}”."),
        InputField(name="visibility", label="Visible to", type="select", default="ephemeral",
                   options=[{"value": "ephemeral", "label": "Only the person who posted the command"},
                            {"value": "in_channel", "label": "Everyone in the channel"}]),
    ],
)

_APPS = {
    SCHEDULER: BuiltinApp(key=SCHEDULER, name="Scheduler", description="Start a recipe on a timetable.",
                          icon=Icon(letter="S", color="#7c3aed"), triggers=[_SCHEDULE]),
    RECIPE_FUNCTION: BuiltinApp(key=RECIPE_FUNCTION, name="Callable recipe",
                                description="Start a recipe from the API and return a result to the caller.",
                                icon=Icon(letter="ƒ", color="#0369a1"), triggers=[_NEW_CALL], actions=[_RETURN],
                                recipe_kind="callable"),
    WORKBOT: BuiltinApp(key=WORKBOT, name="Workbot", description="Start a recipe with a chat command and reply "
                        "to the person who posted it.", icon=Icon(letter="W", color="#4a154b"),
                        triggers=[_NEW_COMMAND], actions=[_REPLY], recipe_kind="workbot"),
}


def builtin_apps() -> list[BuiltinApp]:
    return list(_APPS.values())


def builtin_apps_for(kind: str) -> list[BuiltinApp]:
    """The built-in apps the editor offers to a recipe of this kind."""
    return [app for app in _APPS.values() if app.recipe_kind in (None, kind)]


def builtin_offered(connector_key: str, kind: str) -> bool:
    """Whether a recipe of this kind may have steps of this app (every catalog app: yes)."""
    app = _APPS.get(connector_key)
    return app is None or app.recipe_kind in (None, kind)


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
    if isinstance(operation, BuiltinOperation) and operation.key == NEW_COMMAND:
        return BuiltinOperation(**{**operation.__dict__, "output": _command_outputs(step.inputs or {})})
    return operation


def _command_outputs(inputs: dict) -> list[OutputField]:
    """A command's data pills: its arguments (those it declares well), who posted it, and from which chat account."""
    try:
        arguments = command_spec(inputs).arguments
    except ValueError:
        arguments = ()
    return [*(OutputField(name=a.name, label=a.name) for a in arguments),
            OutputField(name="person.email", label="Person's email"),
            OutputField(name="person.name", label="Person's name"),
            OutputField(name="chat_user_id", label="Chat user id"),
            OutputField(name="team_id", label="Chat workspace id")]


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


# --- Workbot commands -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandArgument:
    name: str
    required: bool = True


@dataclass(frozen=True)
class CommandSpec:
    """What a Workbot trigger declares: the command and its arguments, in the order they are typed."""

    command: str
    arguments: tuple[CommandArgument, ...] = ()

    @property
    def usage(self) -> str:
        """How to type it: `/opportunity <account> <amount> [stage]`."""
        words = [f"<{a.name}>" if a.required else f"[{a.name}]" for a in self.arguments]
        return " ".join([self.command, *words])


def command_spec(inputs: dict) -> CommandSpec:
    """The command and arguments of a Workbot trigger's inputs, checked; raises ValueError saying what is wrong."""
    command = str(inputs.get("command") or "").strip()
    if not command:
        raise ValueError("Give the command people type, like /opportunity.")
    if not COMMAND_RE.match(command):
        raise ValueError(f"“{command[:50]}” is not a slash command: a slash and up to 32 lowercase letters, digits, "
                         "- or _, like /opportunity.")
    words = str(inputs.get("arguments") or "").split()
    if len(words) > MAX_COMMAND_ARGUMENTS:
        raise ValueError(f"Declare at most {MAX_COMMAND_ARGUMENTS} arguments.")
    arguments, seen = [], set()
    for word in words:
        optional = word.startswith("[") and word.endswith("]")
        name = word[1:-1] if optional else word
        if not FIELD_NAME_RE.match(name):
            raise ValueError(f"“{word[:50]}” is not an argument name: letters, digits and _, starting with a letter; "
                             "an optional one in brackets, like [stage].")
        if name in seen:
            raise ValueError(f"The argument “{name}” is declared twice.")
        if name in COMMAND_OUTPUT_NAMES:
            raise ValueError(f"“{name}” is a data pill every command offers already: give the argument another name.")
        if secret_name(name):
            raise ValueError(f"“{name}” is named like a secret, and Splice masks such values in jobs, so steps could "
                             "not use it. Give it another name; a secret has no place in a chat message.")
        if not optional and arguments and not arguments[-1].required:
            raise ValueError(f"“{name}” is required but follows an optional argument: put optional arguments last.")
        seen.add(name)
        arguments.append(CommandArgument(name=name, required=not optional))
    return CommandSpec(command=command, arguments=tuple(arguments))


@dataclass(frozen=True)
class BuiltinProblem:
    """A design-time error of a built-in step (recipes.design makes a DesignError of it)."""

    code: str
    message: str
    steps: tuple[int, ...]
    fix_label: str


def builtin_design_problems(recipe, steps) -> list[BuiltinProblem]:
    """What a Workbot recipe's kind asks of its steps, and its trigger's command; no query (`steps` are given)."""
    steps = list(steps)
    workbot_steps = [s for s in steps if s.connector_key == WORKBOT]
    is_workbot = recipe.kind == "workbot"
    problems = []
    if not is_workbot:
        for step in workbot_steps:
            name = "When a command is posted" if step.operation_key == NEW_COMMAND else "Reply"
            problems.append(BuiltinProblem(
                "workbot_only", f"Step {step.position}: “{name}” is only for Workbot recipes. Make this recipe a "
                "Workbot recipe in its settings, or remove the step.", (step.position,), "Remove the step"))
        return problems
    trigger = next((s for s in steps if s.is_trigger), None)
    if trigger is not None and not (trigger.connector_key == WORKBOT and trigger.operation_key == NEW_COMMAND):
        problems.append(BuiltinProblem(
            "workbot_without_command_trigger", "A Workbot recipe starts when a person posts its command: its trigger "
            "must be Workbot → When a command is posted. Remove this trigger and add that one.", (trigger.position,),
            "Replace the trigger"))
    elif trigger is not None and str((trigger.inputs or {}).get("command") or "").strip():
        # A missing command is the trigger's required input (recipes.design says so); here, a malformed one.
        try:
            command_spec(trigger.inputs or {})
        except ValueError as exc:
            problems.append(BuiltinProblem("command_invalid", f"Step {trigger.position}: {exc}", (trigger.position,),
                                           "Fix the command"))
    replies = [s for s in workbot_steps if s.operation_key == RETURN_RESULT]
    if replies and steps[-1].position != replies[0].position:
        later = tuple(s.position for s in steps if s.position > replies[0].position)
        problems.append(BuiltinProblem(
            "steps_after_reply", f"Reply (step {replies[0].position}) ends the job, so step"
            f"{'s' if len(later) > 1 else ''} {', '.join(map(str, later))} would never run. Remove the steps after "
            "it, or remove it.", later, "Remove the step"))
    return problems

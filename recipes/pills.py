"""Data pills: an action's input may use an earlier step's output as `{{trigger.email}}` or
`{{step2.id}}`. Plain text substitution only: nothing is evaluated, so there is nothing to inject."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connections.catalog import dig

__all__ = ["PILL_RE", "Pill", "pills_in", "render", "unresolved_pills"]

PILL_RE = re.compile(r"\{\{\s*(trigger|step[1-9][0-9]{0,3})\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")


@dataclass(frozen=True)
class Pill:
    step_ref: str
    path: str

    @property
    def text(self) -> str:
        return "{{" + f"{self.step_ref}.{self.path}" + "}}"


def pills_in(value: Any) -> list[Pill]:
    if not isinstance(value, str):
        return []
    return [Pill(m.group(1), m.group(2)) for m in PILL_RE.finditer(value)]


def unresolved_pills(value: Any, available: dict[str, Iterable[str]]) -> list[Pill]:
    """Pills in `value` that name no earlier step, or an output that step does not have.

    `available` maps a step ref to its output names (dotted names may be reached into: `user.email`
    resolves when `user` is an object output).
    """
    missing = []
    for pill in pills_in(value):
        outputs = set(available.get(pill.step_ref, ()))
        head = pill.path.split(".")[0]
        if pill.path not in outputs and head not in outputs:
            missing.append(pill)
    return missing


def render(value: Any, data: dict[str, Any]) -> Any:
    """Fill pills from `data` (step ref → that step's output). A value that is one pill keeps its type."""
    if not isinstance(value, str):
        return value
    whole = PILL_RE.fullmatch(value.strip())
    if whole:
        return dig(data.get(whole.group(1)), whole.group(2))
    return PILL_RE.sub(lambda m: str(dig(data.get(m.group(1)), m.group(2), "")), value)

"""What ``manage.py connectors`` does, as plain functions (no Django needed, so they are easy to test)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .errors import Problem
from .loader import load_specs
from .registry import Registry
from .schema import ConnectorSpec

__all__ = ["connectors_table", "validate_paths"]


def connectors_table(registry: Registry) -> str:
    """A text table of the catalog: key, name, auth methods, secondary, trigger and action counts."""
    header = ("KEY", "NAME", "AUTH", "SECONDARY", "TRIGGERS", "ACTIONS")
    rows = [header]
    for spec in registry.all():
        rows.append(
            (
                spec.key,
                spec.name,
                ", ".join(m.key if m.key == m.type else f"{m.key} ({m.type})" for m in spec.auth),
                "yes" if spec.secondary else "no",
                str(len(spec.triggers)),
                str(len(spec.actions)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def validate_paths(paths: Sequence[str | Path], *, out: TextIO, builtin_dir: str | Path | None = None) -> int:
    """Validate spec files and folders, print each problem as ``file: path: problem``; return 0 or 1.

    With ``builtin_dir``, a spec that reuses a built-in key from another file is a problem too,
    since the registry would refuse it.
    """
    specs, problems = load_specs(paths)
    if builtin_dir is not None:
        problems.extend(_shadowing(specs, builtin_dir))
    for problem in problems:
        out.write(f"{problem}\n")
    if problems:
        return 1
    out.write(f"{len(specs)} spec{'s' if len(specs) != 1 else ''} OK\n")
    return 0


def _shadowing(specs: Sequence[ConnectorSpec], builtin_dir: str | Path) -> list[Problem]:
    builtin, _ = load_specs([builtin_dir])
    by_key = {spec.key: spec for spec in builtin}
    problems = []
    for spec in specs:
        original = by_key.get(spec.key)
        if original is not None and Path(original.source).resolve() != Path(spec.source).resolve():
            problems.append(Problem(spec.source, "key", f"{spec.key!r} is a built-in connector and cannot be replaced"))
    return problems

"""The registry of connectors: loaded explicitly from spec folders, refusing duplicates and unknown keys.

Specs loaded from files (the built-in folder and ``SPLICE_CONNECTOR_DIRS``) are *built-in*: a
custom connector registered at runtime from YAML text cannot replace or remove them. Each primary
spec with ``secondary: true`` also appears as its own app, its secondary entry (`app_slot.AppSlot` names it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import Problem, ProtectedConnector, SpecError, UnknownConnector
from .loader import load_specs, parse_spec_text
from .schema import ConnectorSpec

__all__ = ["Registry"]


class Registry:
    """Connector specs by key, with the lookups the wizard and the recipe editor need.

    Reads take a snapshot and never block; writes (load, register, unregister) hold a lock.
    """

    def __init__(self) -> None:
        self._specs: dict[str, ConnectorSpec] = {}
        self._apps: dict[str, ConnectorSpec] = {}
        self._builtin: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> Registry:
        """A registry holding the specs under ``paths`` (folders or files); raises `SpecError`."""
        registry = cls()
        registry.load(paths)
        return registry

    # --- writes --------------------------------------------------------------------------------

    def load(self, paths: Iterable[str | Path]) -> list[ConnectorSpec]:
        """Add the specs under ``paths`` as built-in connectors, all or none.

        Raises `SpecError` with every problem: invalid specs, and keys already defined by
        another file (the message names both files) or by this registry.
        """
        specs, problems = load_specs(paths)
        with self._lock:
            for spec in specs:
                existing = self._specs.get(spec.key)
                if existing is not None:
                    problems.append(
                        Problem(
                            spec.source,
                            "key",
                            f"duplicate connector key {spec.key!r} (already defined in {existing.source})",
                        )
                    )
            if problems:
                raise SpecError(problems)
            for spec in specs:
                self._put(spec)
                self._builtin.add(spec.key)
        return specs

    def register_yaml(self, text: str, *, source: str = "<custom>", replace: bool = False) -> ConnectorSpec:
        """Validate and add a custom connector from YAML text (an upload, or a row from the database).

        ``replace=True`` swaps in a new version of a custom connector with the same key. A
        built-in key is always refused.
        """
        spec = parse_spec_text(text, source=source)
        with self._lock:
            existing = self._specs.get(spec.key)
            if spec.key in self._builtin and existing is not None:
                raise SpecError(
                    [
                        Problem(
                            source,
                            "key",
                            f"{spec.key!r} is a built-in connector (defined in {existing.source})"
                            " and cannot be replaced by a custom one",
                        )
                    ]
                )
            if existing is not None and not replace:
                raise SpecError(
                    [Problem(source, "key", f"a custom connector with key {spec.key!r} is already registered")]
                )
            if existing is not None:
                self._drop(spec.key)
            self._put(spec)
        return spec

    def unregister(self, key: str) -> None:
        """Remove a custom connector (and its secondary entry); built-in ones cannot be removed."""
        with self._lock:
            if key not in self._specs:
                raise UnknownConnector(key)
            if key in self._builtin:
                raise ProtectedConnector(f"{key!r} is a built-in connector and cannot be removed")
            self._drop(key)

    def _put(self, spec: ConnectorSpec) -> None:
        specs = dict(self._specs)
        apps = dict(self._apps)
        specs[spec.key] = spec
        apps[spec.key] = spec
        if spec.secondary:
            secondary = spec.as_secondary()
            apps[secondary.key] = secondary
        self._specs, self._apps = specs, apps

    def _drop(self, key: str) -> None:
        self._specs = {k: v for k, v in self._specs.items() if k != key}
        self._apps = {k: v for k, v in self._apps.items() if v.primary_key != key}

    # --- reads ---------------------------------------------------------------------------------

    def get(self, key: str) -> ConnectorSpec:
        """The connector (or secondary entry) with this key; raises `UnknownConnector`."""
        try:
            return self._apps[key]
        except KeyError:
            raise UnknownConnector(key) from None

    def __contains__(self, key: object) -> bool:
        return key in self._apps

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> Iterator[ConnectorSpec]:
        return iter(self.all())

    def is_builtin(self, key: str) -> bool:
        """Whether ``key`` (or the primary of a secondary key) came from a spec file."""
        spec = self._apps.get(key)
        return spec is not None and spec.primary_key in self._builtin

    def all(self) -> list[ConnectorSpec]:
        """The primary connectors, sorted by name (the wizard's app picker)."""
        return sorted(self._specs.values(), key=_sort_key)

    def apps(self) -> list[ConnectorSpec]:
        """Every app a recipe can bind, secondary entries included, sorted by name."""
        return sorted(self._apps.values(), key=_sort_key)

    def search(self, text: str, *, include_secondary: bool = False) -> list[ConnectorSpec]:
        """Connectors matching ``text`` in name, key, category or description; best matches first."""
        pool = self.apps() if include_secondary else self.all()
        needle = " ".join(text.casefold().split())
        if not needle:
            return pool
        ranked: list[tuple[int, ConnectorSpec]] = []
        for spec in pool:
            name = spec.name.casefold()
            if name.startswith(needle) or spec.key.startswith(needle.replace(" ", "_")):
                rank = 0
            elif needle in name or needle in spec.key:
                rank = 1
            elif any(needle in c.casefold() for c in spec.categories):
                rank = 2
            elif needle in spec.description.casefold():
                rank = 3
            else:
                continue
            ranked.append((rank, spec))
        return [spec for _, spec in sorted(ranked, key=lambda item: (item[0], _sort_key(item[1])))]


def _sort_key(spec: ConnectorSpec) -> tuple[str, str]:
    return (spec.name.casefold(), spec.key)

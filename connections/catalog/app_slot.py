"""One name for an app in a slot: a connector key and the slot (primary or secondary) it is used in.

A connector with a secondary connector is listed twice in the catalog, as `salesforce` and `salesforce_secondary`,
so that a recipe can bind a second connection of it. Steps, connection bindings and connections store the pair
(`connector_key`, `slot`); the catalog, URLs and forms use the catalog key. This module is the only place that
turns one into the other: nothing else adds or strips the suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["PRIMARY", "SECONDARY", "SECONDARY_SUFFIX", "SLOTS", "AppSlot"]

PRIMARY, SECONDARY = "primary", "secondary"
SLOTS = (PRIMARY, SECONDARY)
# The catalog key of a secondary entry is its connector's key with this suffix; connector keys may not end in it.
SECONDARY_SUFFIX = "_secondary"


class _CatalogEntry(Protocol):
    # What this module needs of a ConnectorSpec; naming the class would make the spec module and this one
    # import each other (the spec module takes the suffix from here).
    key: str
    name: str


@dataclass(frozen=True, order=True)
class AppSlot:
    """A connector in a slot: `AppSlot("salesforce", SECONDARY)` is the catalog's `salesforce_secondary`."""

    connector_key: str
    slot: str = PRIMARY

    def __post_init__(self) -> None:
        if self.slot not in SLOTS:
            raise ValueError(f"{self.slot!r} is not a slot (one of {', '.join(SLOTS)})")

    @classmethod
    def from_catalog_key(cls, key: str) -> AppSlot:
        """The app a catalog key names: `salesforce_secondary` → (salesforce, secondary). Any text parses (an
        unknown app is found out by `spec`), so a key from a request needs no checking first."""
        connector_key = key.removesuffix(SECONDARY_SUFFIX)
        if connector_key and connector_key != key:
            return cls(connector_key, SECONDARY)
        return cls(key, PRIMARY)

    @classmethod
    def of(cls, spec: _CatalogEntry) -> AppSlot:
        """The app a catalog entry is (a secondary entry is its connector in the secondary slot)."""
        return cls.from_catalog_key(spec.key)

    @property
    def catalog_key(self) -> str:
        """The key of the catalog entry: what URLs, forms and `registry().get()` use."""
        return self.connector_key + SECONDARY_SUFFIX if self.is_secondary else self.connector_key

    @property
    def is_secondary(self) -> bool:
        return self.slot == SECONDARY

    def as_primary(self) -> AppSlot:
        return AppSlot(self.connector_key, PRIMARY)

    def as_secondary(self) -> AppSlot:
        return AppSlot(self.connector_key, SECONDARY)

    def lookup(self) -> dict[str, str]:
        """The model fields that hold the pair, for a query: `Step.objects.filter(**app.lookup())`."""
        return {"connector_key": self.connector_key, "slot": self.slot}

    @property
    def spec(self):
        """Its catalog entry (a ConnectorSpec); raises `UnknownConnector` (also for the secondary slot of an app
        that has none)."""
        from . import registry

        return registry().get(self.catalog_key)

    @property
    def spec_or_none(self):
        """Its catalog entry, or None when the catalog has no such app."""
        from .errors import UnknownConnector

        try:
            return self.spec
        except UnknownConnector:
            return None

    @property
    def label(self) -> str:
        """Its name for people ("Salesforce (secondary)"); the connector key of an app no longer in the catalog."""
        spec = self.spec_or_none
        return spec.name if spec is not None else self.connector_key

    def __str__(self) -> str:
        return self.catalog_key

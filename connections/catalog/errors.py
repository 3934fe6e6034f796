"""Exceptions raised by the connector catalog, and the `Problem` record used to report spec errors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CatalogError",
    "InvalidInput",
    "InvalidSetting",
    "InvalidSettings",
    "InvalidValue",
    "Problem",
    "ProtectedConnector",
    "SpecError",
    "UnknownAuthMethod",
    "UnknownConnector",
    "UnknownOperation",
]


class CatalogError(Exception):
    """Base class for every error the catalog raises."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a spec, printed as ``file: path.to.field: problem``."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        if self.path:
            return f"{self.file}: {self.path}: {self.message}"
        return f"{self.file}: {self.message}"


class SpecError(CatalogError):
    """One or more specs are invalid; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownConnector(CatalogError, LookupError):
    """No connector with this key is registered."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"unknown connector {key!r}")


class ProtectedConnector(CatalogError):
    """A built-in connector cannot be replaced or removed at runtime."""


class UnknownAuthMethod(CatalogError, LookupError):
    """The connector has no auth method with this key, type or index."""


class UnknownOperation(CatalogError, LookupError):
    """The connector has no trigger or action with this key."""


class InvalidValue(CatalogError, ValueError):
    """A value given for a named field was refused; ``str()`` reads ``field: message``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class InvalidSetting(InvalidValue):
    """A connection setting was refused, e.g. ``subdomain: must match ^[a-z0-9-]+$``."""


class InvalidInput(InvalidValue):
    """An operation input was refused (missing, or unusable in a request path)."""


class InvalidSettings(CatalogError, ValueError):
    """Several settings were refused at once; ``errors`` maps each field to its message."""

    def __init__(self, errors: Iterable[InvalidSetting]) -> None:
        self.items: list[InvalidSetting] = list(errors)
        self.errors: dict[str, str] = {e.field: e.message for e in self.items}
        super().__init__("; ".join(str(e) for e in self.items))

"""What uses a connection, as the app that uses connections (recipes) tells it: connections imports nothing of
recipes. Recipes registers its provider at start (recipes.apps); without one, nothing uses a connection.

    usage.recipes_using(connection)            # what the disconnect and delete pages name
    usage.recipes_using(connection, running=True)
    usage.counts([connection.pk, ...])         # {connection id: (recipes, running)} for a page of rows
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["UsageProvider", "counts", "recipes_using", "register_usage_provider"]


class UsageProvider(Protocol):
    def using(self, connection_ids: list[int], *, running: bool = False) -> Any:
        """The recipes (a queryset: callers narrow, order and select_related it) bound to these connections."""

    def counts(self, connection_ids: list[int]) -> dict[int, tuple[int, int]]:
        """{connection id: (recipes using it, of which running)}, for connections used at all."""


class _Nothing:
    def using(self, connection_ids, *, running=False):
        return []

    def counts(self, connection_ids):
        return {}


_provider: UsageProvider = _Nothing()


def register_usage_provider(provider: UsageProvider) -> None:
    global _provider
    _provider = provider


def recipes_using(connection, *, running: bool = False):
    return _provider.using([connection.pk], running=running)


def counts(connection_ids: list[int]) -> dict[int, tuple[int, int]]:
    return _provider.counts(connection_ids) if connection_ids else {}

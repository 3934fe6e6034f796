"""The recipes that use connections, for the connection pages and services (connections.usage)."""

from __future__ import annotations

from django.db.models import Count, Q

from recipes.models import ConnectionBinding, Recipe


class RecipeUsage:
    def using(self, connection_ids: list[int], *, running: bool = False):
        recipes = Recipe.objects.filter(bindings__connection__in=connection_ids).distinct()
        return recipes.filter(running=True) if running else recipes

    def counts(self, connection_ids: list[int]) -> dict[int, tuple[int, int]]:
        rows = (ConnectionBinding.objects.filter(connection__in=connection_ids).values("connection_id")
                .annotate(recipes=Count("recipe", distinct=True),
                          running=Count("recipe", filter=Q(recipe__running=True), distinct=True)))
        return {row["connection_id"]: (row["recipes"], row["running"]) for row in rows}

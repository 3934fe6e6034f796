"""Reads of recipes that apply project access."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import ProjectAccess
from accounts.selectors import projects_for_user
from recipes.models import ConnectionBinding, Recipe, Step

__all__ = ["recipe_for_user_or_404", "recipes_for_user", "recipes_page"]

KIND_FILTERS = set(Recipe.Kind.values)


def recipes_for_user(user, access: ProjectAccess = ProjectAccess.VIEW) -> QuerySet[Recipe]:
    return Recipe.objects.filter(project__in=projects_for_user(user, access))


def recipe_for_user_or_404(user, pk, access: ProjectAccess = ProjectAccess.VIEW) -> Recipe:
    return get_object_or_404(recipes_for_user(user, access).select_related("project"), pk=pk)


def with_editor_data(queryset: QuerySet[Recipe]) -> QuerySet[Recipe]:
    """Steps in order and bindings with their connections: what design-time errors need, in 2 queries."""
    return queryset.prefetch_related(
        Prefetch("steps", queryset=Step.objects.order_by("position")),
        Prefetch("bindings", queryset=ConnectionBinding.objects.select_related("connection")),
    )


def recipes_page(user, *, project: int | None = None, kind: str = "", state: str = "", q: str = ""):
    queryset = recipes_for_user(user).select_related("project")
    if project:
        queryset = queryset.filter(project_id=project)
    if kind in KIND_FILTERS:
        queryset = queryset.filter(kind=kind)
    if state in ("running", "stopped"):
        queryset = queryset.filter(running=state == "running")
    if q:
        queryset = queryset.filter(name__icontains=q)
    return with_editor_data(queryset).order_by("name", "pk")

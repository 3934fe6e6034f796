"""Reads of recipes that apply project access."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ProjectAccess
from accounts.selectors import projects_for_user
from recipes.models import Recipe

__all__ = ["recipes_for_user"]


def recipes_for_user(user, access: ProjectAccess = ProjectAccess.VIEW) -> QuerySet[Recipe]:
    return Recipe.objects.filter(project__in=projects_for_user(user, access))

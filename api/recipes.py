"""/api/v1/recipes: list, show (steps, bindings, design-time errors), start and stop. Each operation checks what
the recipe pages check (recipes/views.py): the privilege, and view or use access to the recipe's project through
recipes.selectors (another project's recipe is a 404); start and stop are recipes.services', audited with the token
(api.audit). The callable call, POST /recipes/{id}/call, is recipes.api's (api.callable documents it)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.conf import settings
from ninja import Path, Query, Router, Schema
from pydantic import Field

from accounts.models import ProjectAccess
from api.audit import api_write_record
from api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, cursor_page
from api.problems import ApiProblem, Problem
from api.security import require_privilege
from recipes import services
from recipes.design import DesignError, design_time_errors
from recipes.models import Recipe
from recipes.selectors import recipes_for_user, visible_connection_ids, with_editor_data

__all__ = ["recipe_or_404", "router"]

router = Router(tags=["Recipes"])

Kind = Literal["standard", "callable", "workbot"]


class DesignErrorOut(Schema):
    code: str
    message: str
    steps: list[int] = Field(description="The positions of the steps it is about.")
    recommendations: list[str]


class StepOut(Schema):
    position: int
    is_trigger: bool
    app: str = Field(description="The app's catalog key.")
    operation: str
    inputs: dict


class BindingOut(Schema):
    app: str
    connection_id: int | None = Field(description="Null when none is bound, or it is in a project you cannot see.")
    runtime_user: bool = Field(description="Each job uses its caller's own connection, a child of this one.")


class RecipeOut(Schema):
    id: int
    name: str
    description: str
    project_id: int
    kind: Kind
    running: bool
    stopped_reason: str
    version: int
    started_at: datetime | None
    created_at: datetime
    updated_at: datetime
    design_time_error_count: int
    url: str


class RecipeDetail(RecipeOut):
    call_fields: list[dict] = Field(description="A callable recipe's inputs.")
    steps: list[StepOut]
    bindings: list[BindingOut]
    design_time_errors: list[DesignErrorOut]


class RecipePage(Schema):
    items: list[RecipeOut]
    next_cursor: str | None


class RecipeFilters(Schema):
    project_id: int | None = Field(None, gt=0, le=MAX_ID)
    kind: Kind | None = None
    running: bool | None = None
    cursor: str | None = Field(None, max_length=40)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _errors(errors: list[DesignError]) -> list[dict]:
    return [{"code": e.code, "message": e.message, "steps": list(e.steps), "recommendations": list(e.recommendations)}
            for e in errors]


def _summary(recipe: Recipe, errors: list[DesignError]) -> dict:
    return {
        "id": recipe.pk, "name": recipe.name, "description": recipe.description, "project_id": recipe.project_id,
        "kind": recipe.kind, "running": recipe.running, "stopped_reason": recipe.stopped_reason,
        "version": recipe.version, "started_at": recipe.started_at, "created_at": recipe.created_at,
        "updated_at": recipe.updated_at, "design_time_error_count": len(errors),
        "url": settings.SPLICE_BASE_URL + recipe.get_absolute_url(),
    }


def _detail(request, recipe: Recipe) -> dict:
    recipe = with_editor_data(Recipe.objects.filter(pk=recipe.pk).select_related("project")).get()
    steps, bindings = list(recipe.steps.all()), list(recipe.bindings.all())
    errors = design_time_errors(recipe, steps=steps, bindings=bindings)
    visible = visible_connection_ids(request.user, (b.connection for b in bindings))
    return _summary(recipe, errors) | {
        "call_fields": recipe.call_fields or [],
        "steps": [{"position": s.position, "is_trigger": s.is_trigger, "app": s.app_slot.catalog_key,
                   "operation": s.operation_key, "inputs": s.inputs or {}} for s in steps],
        "bindings": [{"app": b.app_slot.catalog_key, "runtime_user": b.runtime_user,
                      "connection_id": b.connection_id if b.connection_id in visible else None} for b in bindings],
        "design_time_errors": _errors(errors),
    }


def recipe_or_404(request, pk: int, access: ProjectAccess) -> Recipe:
    recipe = recipes_for_user(request.user, access).select_related("project").filter(pk=pk).first()
    if recipe is None:
        raise ApiProblem(404, "not_found", "There is no recipe with this id that you may use.")
    return recipe


@router.get("", response={200: RecipePage}, summary="List recipes")
def recipe_list(request, filters: Query[RecipeFilters]):
    require_privilege(request, "recipes.view_recipe")
    rows = with_editor_data(recipes_for_user(request.user).select_related("project"))
    if filters.project_id:
        rows = rows.filter(project_id=filters.project_id)
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.running is not None:
        rows = rows.filter(running=filters.running)
    page, next_cursor = cursor_page(rows, cursor=filters.cursor, limit=filters.limit)
    items = [_summary(r, design_time_errors(r, steps=r.steps.all(), bindings=r.bindings.all())) for r in page]
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{id:recipe_id}", response={200: RecipeDetail, 404: Problem}, summary="Show a recipe")
def recipe_show(request, recipe_id: int = Path(..., gt=0, le=MAX_ID)):
    require_privilege(request, "recipes.view_recipe")
    return _detail(request, recipe_or_404(request, recipe_id, ProjectAccess.VIEW))


@router.post("/{id:recipe_id}/start", response={200: RecipeDetail, 403: Problem, 404: Problem, 409: Problem},
             summary="Start a recipe")
def recipe_start(request, recipe_id: int = Path(..., gt=0, le=MAX_ID)):
    """Tests its connections, then starts it; 409 listing its design-time errors when it cannot. Starting a
    running recipe changes nothing. A poll trigger begins from now."""
    require_privilege(request, "recipes.start_recipe")
    recipe = recipe_or_404(request, recipe_id, ProjectAccess.USE)
    if recipe.running:
        return _detail(request, recipe)
    try:
        services.recipe_start(recipe=recipe, acting_user=request.user)
    except services.RecipeHasErrors as exc:
        api_write_record(request, operation="recipe_start", object_type="recipe", object_id=recipe.pk,
                         status_code=409, summary=str(exc))
        raise ApiProblem(409, "recipe_has_errors", f"“{recipe.name}” cannot start: "
                         + " ".join(e.message for e in exc.errors), design_time_errors=_errors(exc.errors)) from None
    api_write_record(request, operation="recipe_start", object_type="recipe", object_id=recipe.pk, status_code=200,
                     summary=f"Started “{recipe.name}”")
    return _detail(request, recipe)


@router.post("/{id:recipe_id}/stop", response={200: RecipeDetail, 403: Problem, 404: Problem}, summary="Stop a recipe")
def recipe_stop(request, recipe_id: int = Path(..., gt=0, le=MAX_ID)):
    """Nothing starts a job any more; a job not yet begun is cancelled. Stopping a stopped recipe changes nothing."""
    require_privilege(request, "recipes.start_recipe")
    recipe = recipe_or_404(request, recipe_id, ProjectAccess.USE)
    if recipe.running:
        services.recipe_stop(recipe=recipe, acting_user=request.user)
        api_write_record(request, operation="recipe_stop", object_type="recipe", object_id=recipe.pk,
                         status_code=200, summary=f"Stopped “{recipe.name}”")
    return _detail(request, recipe)

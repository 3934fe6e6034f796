"""Recipe pages: the list, creating a recipe, and the editor with its steps, connection bindings,
design-time errors, and start/stop.

Each view checks a privilege (accounts.access) and project access (recipes.selectors: another
project's recipe is a 404). Editing needs "Edit recipes" and use of the project.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from accounts.access import privilege_required, require_privilege
from accounts.models import ProjectAccess
from accounts.selectors import projects_for_user
from config.converters import parse_id
from connections.catalog import registry
from connections.catalog.app_slot import PRIMARY, AppSlot
from connections.models import Connection
from connections.selectors import connections_for_user
from recipes import services
from recipes.design import design_time_errors, error_counts
from recipes.forms import RecipeForm, RecipeSettingsForm
from recipes.models import ConnectionBinding, Recipe, Step
from recipes.selectors import (
    ConnectionChoice,
    candidate_connections_for_user,
    recipe_for_user_or_404,
    recipes_for_user,
    recipes_page,
    visible_connection_ids,
    with_editor_data,
)
from recipes.templatetags import recipe_editor as editor_markup

PAGE_SIZE = 50
PENDING_BINDING = "recipe_pending_binding"
ANY_POSITION = 987654321  # a step position that stands for every position in a reversed URL
MAX_INPUT_LENGTH = 10_000  # one step input (a mapping with its data pills, a message template...)


@privilege_required("recipes.view_recipe")
def recipe_list(request):
    filters = {"project": parse_id(request.GET.get("project", "")), "kind": request.GET.get("kind", ""),
               "state": request.GET.get("state", ""), "q": request.GET.get("q", "").strip()[:100]}
    page = Paginator(recipes_page(request.user, **filters), PAGE_SIZE).get_page(request.GET.get("page"))
    counts = error_counts(page.object_list)
    rows = [(recipe, counts[recipe.pk], _apps_of(recipe)) for recipe in page.object_list]
    query = urlencode({k: v for k, v in filters.items() if v})
    context = {"page": page, "rows": rows, "filters": filters, "page_query": query,
               "projects": projects_for_user(request.user).order_by("name"), "kinds": Recipe.Kind.choices,
               "filtered": any(filters.values())}
    return render(request, "recipes/recipe_list.html", context)


def _apps_of(recipe: Recipe) -> list:
    apps = dict.fromkeys(step.app_slot for step in recipe.steps.all())
    return [spec for spec in (app.spec_or_none for app in apps) if spec is not None]


@privilege_required("recipes.add_recipe")
def recipe_create(request):
    projects = projects_for_user(request.user, ProjectAccess.USE).order_by("name")
    project_id = parse_id(request.GET.get("project", ""))
    initial = {"project": projects.filter(pk=project_id).first() if project_id else projects.first()}
    form = RecipeForm(request.POST or None, projects=projects, initial=initial)
    if request.method == "POST" and form.is_valid():
        recipe = services.recipe_create(project=form.cleaned_data["project"], name=form.cleaned_data["name"],
                                        kind=form.cleaned_data["kind"], description=form.cleaned_data["description"],
                                        acting_user=request.user)
        messages.success(request, f"Recipe “{recipe.name}” created. Pick an app to add its trigger.")
        return redirect(recipe)
    return render(request, "recipes/recipe_form.html", {"form": form})


# --- the editor ---------------------------------------------------------------------------------


@privilege_required("recipes.view_recipe")
def recipe_editor(request, pk: int):
    recipe = get_object_or_404(with_editor_data(recipes_for_user(request.user).filter(pk=pk)).select_related("project"))
    return render(request, "recipes/editor.html", _editor_context(request, recipe))


def _editor_context(request, recipe: Recipe, *, binding_error: tuple[AppSlot, list[str]] | None = None,
                    **extra) -> dict:
    """What the editor shows. `binding_error` is (app, messages): a refused binding, shown on that app's
    connection form."""
    steps = list(recipe.steps.all())
    bindings = {b.app_slot: b for b in recipe.bindings.all()}
    errors = design_time_errors(recipe, steps=steps, bindings=bindings.values())
    may_change = request.user.has_perm("recipes.change_recipe")
    may_start = request.user.has_perm("recipes.start_recipe")
    # Project access is checked once, and only if a privilege needs it: each guardian check costs two queries.
    uses_project = (may_change or may_start) and request.user.has_perm("accounts.use_project", recipe.project)
    can_edit = may_change and uses_project
    editable = can_edit and not recipe.running

    used = list(dict.fromkeys(s.app_slot for s in steps))
    candidates = candidate_connections_for_user(request.user, used, project=recipe.project)
    # A recipe page shows nothing of a bound connection the viewer cannot see (one from a project they cannot
    # access, bound before bindings were kept to the recipe's project): only that there is one.
    visible = visible_connection_ids(request.user, (b.connection for b in bindings.values()))
    apps = []
    for app in used:
        spec = app.spec_or_none
        binding = bindings.get(app)
        bound = binding.connection if binding else None
        connection = bound if bound is not None and bound.pk in visible else None
        usable = connection is not None and connection.project_id == recipe.project_id and connection.owner_id is None
        apps.append({
            "spec": spec, "app_slot": app, "binding": binding, "connection": connection,
            "hidden_connection": bound is not None and connection is None,
            "ready": bool(usable and connection.status == Connection.Status.CONNECTED)
            or bool(binding and binding.runtime_user),
            "candidates": _with_bound(candidates.get(app, []), connection if usable else None),
            "binding_errors": binding_error[1] if binding_error and binding_error[0] == app else [],
            "steps": [s for s in steps if s.app_slot == app],
            # The same app again, with a connection of its own: offered beside the primary slot of an app that has it.
            "secondary": app.as_secondary() if spec is not None and spec.secondary and app.slot == PRIMARY else None,
        })
    ready = {a["app_slot"]: a["ready"] for a in apps}

    errors_by_step = {}
    for error in errors:
        for position in error.steps:
            errors_by_step.setdefault(position, []).append(error)
    inputs_url = _url_per_position("recipe_step_inputs", recipe)
    delete_url = _url_per_position("recipe_step_delete", recipe)
    step_views, pill_buttons = [], SafeString()
    for step in steps:
        app = step.app_slot
        spec = app.spec_or_none
        operation = _operation(spec, step)
        step_views.append({
            "step": step, "spec": spec, "operation": operation, "ready": ready.get(app),
            "errors": errors_by_step.get(step.position, []),
            "inputs": [(field, (step.inputs or {}).get(field.name, "")) for field in (operation.input if operation
                                                                                      else [])],
            "pill_buttons": pill_buttons,
            "inputs_url": inputs_url(step.position), "delete_url": delete_url(step.position),
        })
        if operation is not None:
            pill_buttons += editor_markup.pill_buttons(step, operation)

    chosen = AppSlot.from_catalog_key(request.GET["app"]) if request.GET.get("app") else None
    return {
        "recipe": recipe, "steps": step_views, "apps": apps, "errors": errors, "can_edit": can_edit,
        "editable": editable, "catalog": registry().apps(), "chosen": chosen,
        "chosen_app": chosen.spec_or_none if chosen else None,
        "has_trigger": any(s.is_trigger for s in steps),
        "can_start": may_start and uses_project,
        "settings_form": RecipeSettingsForm(instance=recipe) if editable else None,
        # A refusal for an app without a panel (its steps removed meanwhile) shows above the panels.
        "binding_errors": binding_error[1] if binding_error and not any(a["binding_errors"] for a in apps) else [],
        **extra,
    }


def _url_per_position(name: str, recipe: Recipe) -> Callable[[int], str]:
    """The URL `name` of each step of the recipe, from one reverse(): reversing for every step of a long
    recipe cost more than rendering the step's heading."""
    head, _, tail = reverse(name, args=[recipe.pk, ANY_POSITION]).rpartition(str(ANY_POSITION))
    return lambda position: f"{head}{position}{tail}"


def _with_bound(candidates: list[ConnectionChoice], connection) -> list[ConnectionChoice]:
    """The bound connection (when it is one the recipe may use) is always offered, even beyond the first
    CANDIDATES_PER_APP."""
    if connection is None or any(c.pk == connection.pk for c in candidates):
        return candidates
    return [ConnectionChoice.of(connection), *candidates]


def _posted_app(request) -> AppSlot:
    """The app a form names by its catalog key (`app_key`: `salesforce`, `salesforce_secondary`); a 404 if the
    catalog has no such app."""
    app = AppSlot.from_catalog_key(request.POST.get("app_key", ""))
    if app.spec_or_none is None:
        raise Http404("No such app")
    return app


def _operation(spec, step: Step):
    if spec is None:
        return None
    try:
        return spec.operation(step.operation_key)
    except LookupError:
        return None


def _editable_recipe(request, pk: int) -> Recipe:
    """Editing needs use of the recipe's project; a recipe the user cannot use is a 404."""
    return recipe_for_user_or_404(request.user, pk, ProjectAccess.USE)


def _back(recipe: Recipe, anchor: str = "") -> str:
    return recipe.get_absolute_url() + anchor


@privilege_required("recipes.change_recipe")
@require_POST
def recipe_settings(request, pk: int):
    recipe = _editable_recipe(request, pk)
    form = RecipeSettingsForm(request.POST, instance=Recipe.objects.get(pk=recipe.pk))
    if form.is_valid():
        try:
            services.recipe_update(recipe=recipe, acting_user=request.user, name=form.cleaned_data["name"],
                                   description=form.cleaned_data["description"], kind=form.cleaned_data["kind"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Recipe saved.")
    else:
        messages.error(request, "Check the recipe's name and kind: " + "; ".join(
            f"{form.fields[f].label}: {' '.join(e)}" for f, e in form.errors.items() if f in form.fields))
    return redirect(recipe)


@privilege_required("recipes.change_recipe")
@require_POST
def step_add(request, pk: int):
    recipe = _editable_recipe(request, pk)
    try:
        step = services.step_add(recipe=recipe, acting_user=request.user,
                                 app=AppSlot.from_catalog_key(request.POST.get("app_key", "")),
                                 operation_key=request.POST.get("operation_key", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(recipe)
    return redirect(_back(recipe, f"#step-{step.position}"))


@privilege_required("recipes.change_recipe")
@require_POST
def step_inputs(request, pk: int, position: int):
    recipe = _editable_recipe(request, pk)
    step = get_object_or_404(recipe.steps, position=position)
    inputs = {name.removeprefix("input_"): value for name, value in request.POST.items() if name.startswith("input_")}
    too_long = [name for name, value in inputs.items() if len(value) > MAX_INPUT_LENGTH]
    try:
        if too_long:
            raise ValidationError(f"Each input may hold at most {MAX_INPUT_LENGTH:,} characters: shorten "
                                  f"{', '.join(sorted(too_long)[:5])[:200]}. Nothing was saved.")
        services.step_update_inputs(step=step, acting_user=request.user, inputs=inputs)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Step {position} saved.")
    return redirect(_back(recipe, f"#step-{position}"))


@privilege_required("recipes.change_recipe")
@require_POST
def step_delete(request, pk: int, position: int):
    recipe = _editable_recipe(request, pk)
    step = get_object_or_404(recipe.steps, position=position)
    try:
        services.step_delete(step=step, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Step {position} removed.")
    return redirect(recipe)


def _editor_response(request, recipe: Recipe, *, status: int, **extra):
    """The editor again, as this request left the recipe (with `extra` context: a refusal, a question)."""
    recipe = with_editor_data(Recipe.objects.filter(pk=recipe.pk)).select_related("project").get()
    return render(request, "recipes/editor.html", _editor_context(request, recipe, **extra), status=status)


def _binding_refused(request, recipe: Recipe, app: AppSlot, exc: ValidationError):
    """A refused change to a binding: the editor re-rendered with the reason on that app's connection form, as
    a form with errors is (nothing was changed)."""
    return _editor_response(request, recipe, status=200, binding_error=(app, exc.messages))


def _bind(request, recipe: Recipe, app: AppSlot, connection_id: str, *, confirm: bool, success: str):
    """Bind the connection `connection_id` to the app, or show why not. `success` is formatted with the app
    and connection names.

    The connection is looked up among those the user may use, so one they cannot see gets the same answer as
    one that does not exist; the service then refuses any outside the recipe's project, whatever the user's
    access to it."""
    connection = connections_for_user(request.user, ProjectAccess.USE).filter(
        pk=parse_id(connection_id) or 0).first()
    if connection is None:
        return _binding_refused(request, recipe, app, ValidationError(
            f"Choose one of the connections listed. {services.only_project_connections_message(recipe)}"))
    try:
        services.binding_set(recipe=recipe, app=app, connection=connection, acting_user=request.user,
                             confirm=confirm)
    except services.BindingNeedsConfirmation as pending:
        seen = visible_connection_ids(request.user, [pending.current])
        current = pending.current if pending.current.pk in seen else None
        return _editor_response(request, recipe, status=409, switch={
            "app_slot": app, "current": current, "new": pending.new, "steps": pending.steps})
    except ValidationError as exc:
        return _binding_refused(request, recipe, app, exc)
    messages.success(request, success.format(app=app.label, connection=connection.name))
    return redirect(_back(recipe, "#connections"))


@privilege_required("recipes.change_recipe")
@require_POST
def binding_set(request, pk: int):
    """Choose the connection of an app. Switching from another one first shows which steps will switch."""
    recipe = _editable_recipe(request, pk)
    return _bind(request, recipe, _posted_app(request), request.POST.get("connection", ""),
                 confirm=request.POST.get("confirm") == "1", success="{app} now uses “{connection}”.")


@privilege_required("recipes.change_recipe")
@require_POST
def binding_runtime_user(request, pk: int):
    recipe = _editable_recipe(request, pk)
    app = AppSlot.from_catalog_key(request.POST.get("app_key", ""))
    binding = get_object_or_404(ConnectionBinding, recipe=recipe, **app.lookup())
    try:
        services.binding_set_runtime_user(binding=binding, runtime_user=request.POST.get("runtime_user") == "1",
                                          acting_user=request.user)
    except ValidationError as exc:
        return _binding_refused(request, recipe, app, exc)
    return redirect(_back(recipe, "#connections"))


@privilege_required("recipes.change_recipe")
@require_POST
def connect_start(request, pk: int):
    """Create a connection for an app without leaving the editor: the wizard, then back with it bound."""
    require_privilege(request.user, "connections.add_connection")
    recipe = _editable_recipe(request, pk)
    app = _posted_app(request)
    request.session[PENDING_BINDING] = {"recipe": recipe.pk, "app_key": app.catalog_key}
    done = reverse("recipe_connect_done", args=[recipe.pk])
    return redirect(f"{reverse('connection_create_app', args=[app.catalog_key])}?"
                    f"{urlencode({'project': recipe.project_id, 'next': done})}")


@privilege_required("recipes.change_recipe")
def connect_done(request, pk: int):
    """Back from the wizard: bind the new connection to the app the editor asked for."""
    recipe = _editable_recipe(request, pk)
    pending = request.session.pop(PENDING_BINDING, None)
    connection_id = request.GET.get("connection", "")
    if not pending or pending.get("recipe") != recipe.pk or parse_id(connection_id) is None:
        return redirect(recipe)
    return _bind(request, recipe, AppSlot.from_catalog_key(pending.get("app_key", "")), connection_id, confirm=True,
                 success="“{connection}” is connected and used by this recipe.")


@privilege_required("recipes.start_recipe")
@require_POST
def recipe_start(request, pk: int):
    recipe = recipe_for_user_or_404(request.user, pk, ProjectAccess.USE)
    try:
        services.recipe_start(recipe=recipe, acting_user=request.user)
    except services.RecipeHasErrors as exc:
        messages.error(request, f"The recipe can't start: {len(exc.errors)} design-time error"
                                f"{'s' if len(exc.errors) != 1 else ''} to fix first (listed at the top).")
    else:
        messages.success(request, f"“{recipe.name}” is running.")
    return redirect(recipe)


@privilege_required("recipes.start_recipe")
@require_POST
def recipe_stop(request, pk: int):
    recipe = recipe_for_user_or_404(request.user, pk, ProjectAccess.USE)
    services.recipe_stop(recipe=recipe, acting_user=request.user)
    messages.success(request, f"“{recipe.name}” is stopped.")
    return redirect(recipe)


@privilege_required("recipes.view_recipe")
def recipe_history(request, pk: int):
    recipe = recipe_for_user_or_404(request.user, pk)
    versions = recipe.versions.select_related("changed_by")
    page = Paginator(versions, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "recipes/history.html", {"recipe": recipe, "page": page})


"""Recipe pages: the list, creating a recipe, and the editor with its steps, connection bindings,
design-time errors, and start/stop.

Each view checks a privilege (accounts.access) and project access (recipes.selectors: another
project's recipe is a 404). Editing needs "Edit recipes" and use of the project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from accounts.access import privilege_required, require_privilege
from accounts.models import ProjectAccess
from accounts.selectors import project_preselected, projects_for_user
from config.converters import parse_id
from connections import services as connection_services
from connections.auth import auth_for
from connections.catalog import registry
from connections.catalog.app_slot import PRIMARY, AppSlot
from connections.forms import CredentialsForm, DescribeConnectionForm, validation_error_to_form
from connections.models import Connection
from connections.oauth import admin_setup_for, connection_authorize_begin, connection_authorize_client_credentials
from connections.problems import ConnectionProblem
from connections.selectors import connection_for_user_or_404, connections_for_user, usable_projects
from connections.status import CheckOutcome
from recipes import services
from recipes.builtins import (
    FIELD_NAME_RE,
    NEW_CALL,
    RECIPE_FUNCTION,
    app_for,
    builtin_apps_for,
    builtin_offered,
    needs_connection,
    operation_for,
)
from recipes.design import design_time_errors, error_counts
from recipes.forms import CallFieldForm, RecipeForm, RecipeSettingsForm, RecipeStartForm
from recipes.models import ConnectionBinding, Recipe
from recipes.runtime.triggers import trigger_kind
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
from recipes.webhooks import webhook_url

PAGE_SIZE = 50
PENDING_BINDING = "recipe_pending_binding"
# Where connections.views.oauth_callback sends the browser once an app has authorized a connection (it pops it).
OAUTH_NEXT = "connection_next"
# Design-time errors whose fix is authorizing the connection again: their link comes back to the recipe.
REAUTHORIZE_ERRORS = frozenset({"connection_error", "connection_disconnected", "connection_not_connected"})
ANY_POSITION = 987654321  # a step position that stands for every position in a reversed URL
MAX_INPUT_LENGTH = 10_000  # one step input (a mapping with its data pills, a message template...)
MAX_RESULT_FIELDS = 100  # Return result's fields


@privilege_required("recipes.view_recipe")
def recipe_list(request):
    filters = {"project": parse_id(request.GET.get("project", "")), "kind": request.GET.get("kind", ""),
               "state": request.GET.get("state", ""), "q": request.GET.get("q", "").strip()[:100]}
    page = Paginator(recipes_page(request.user, **filters), PAGE_SIZE).get_page(request.GET.get("page"))
    counts = error_counts(page.object_list)
    jobs_url = _url_per_recipe("recipe_jobs")
    rows = [(recipe, counts[recipe.pk], _apps_of(recipe), jobs_url(recipe.pk)) for recipe in page.object_list]
    query = urlencode({k: v for k, v in filters.items() if v})
    context = {"page": page, "rows": rows, "filters": filters, "page_query": query,
               "projects": projects_for_user(request.user).order_by("name"), "kinds": Recipe.Kind.choices,
               "filtered": any(filters.values())}
    return render(request, "recipes/recipe_list.html", context)


def _apps_of(recipe: Recipe) -> list:
    apps = dict.fromkeys(step.app_slot for step in recipe.steps.all())
    return [app for app in map(app_for, apps) if app is not None]


@privilege_required("recipes.add_recipe")
def recipe_create(request):
    projects = projects_for_user(request.user, ProjectAccess.USE).order_by("name")
    # The project the person came from (a project page, a recipe's editor), else their own, never the first by name.
    initial = {"project": project_preselected(request.user, projects, request.GET.get("project"))}
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
                    step_state: dict | None = None, start_form: RecipeStartForm | None = None,
                    call_field_form: CallFieldForm | None = None, **extra) -> dict:
    """What the editor shows. `binding_error` is (app, messages): a refused binding, shown on that app's
    connection form. `step_state`: a step's inputs as posted, with the message that refused them ({position,
    inputs, message, new_name, new_value}). `start_form`, `call_field_form`: those forms with their errors."""
    steps = list(recipe.steps.all())
    bindings = {b.app_slot: b for b in recipe.bindings.all()}
    errors = _returning_here(recipe, design_time_errors(recipe, steps=steps, bindings=bindings.values()))
    may_change = request.user.has_perm("recipes.change_recipe")
    may_start = request.user.has_perm("recipes.start_recipe")
    # Project access is checked once, and only if a privilege needs it: each guardian check costs two queries.
    uses_project = (may_change or may_start) and request.user.has_perm("accounts.use_project", recipe.project)
    can_edit = may_change and uses_project
    editable = can_edit and not recipe.running
    is_callable = recipe.kind == Recipe.Kind.CALLABLE

    used = list(dict.fromkeys(s.app_slot for s in steps))
    app_of = {app: app_for(app) for app in used}
    # Built-in apps (the Scheduler, Callable recipe) take no connection: no panel, always ready.
    connected_apps = [app for app in used if needs_connection(app_of[app])]
    candidates = candidate_connections_for_user(request.user, connected_apps, project=recipe.project)
    # A recipe page shows nothing of a bound connection the viewer cannot see (one from a project they cannot
    # access, bound before bindings were kept to the recipe's project): only that there is one.
    visible = visible_connection_ids(request.user, (b.connection for b in bindings.values()))
    apps = []
    ready = {app: True for app in used}
    for app in connected_apps:
        spec = app_of[app]
        binding = bindings.get(app)
        bound = binding.connection if binding else None
        connection = bound if bound is not None and bound.pk in visible else None
        usable = connection is not None and connection.project_id == recipe.project_id and connection.owner_id is None
        ready[app] = (bool(usable and connection.status == Connection.Status.CONNECTED)
                      or bool(binding and binding.runtime_user))
        apps.append({
            "spec": spec, "app_slot": app, "binding": binding, "connection": connection,
            "hidden_connection": bound is not None and connection is None, "ready": ready[app],
            "candidates": _with_bound(candidates.get(app, []), connection if usable else None),
            "binding_errors": binding_error[1] if binding_error and binding_error[0] == app else [],
            "steps": [s for s in steps if s.app_slot == app],
            # The same app again, with a connection of its own: offered beside the primary slot of an app that has it.
            "secondary": app.as_secondary() if spec is not None and spec.secondary and app.slot == PRIMARY else None,
        })

    errors_by_step = {}
    for error in errors:
        for position in error.steps:
            errors_by_step.setdefault(position, []).append(error)
    inputs_url = _url_per_position("recipe_step_inputs", recipe)
    delete_url = _url_per_position("recipe_step_delete", recipe)
    step_views, pill_buttons, pill_labels = [], SafeString(), {}
    for step in steps:
        app = step.app_slot
        operation = operation_for(recipe, step)
        state = step_state if step_state and step_state["position"] == step.position else None
        values = state["inputs"] if state else (step.inputs or {})
        open_inputs = bool(getattr(operation, "open_inputs", False))
        step_views.append({
            "step": step, "spec": app_of[app], "operation": operation, "ready": ready.get(app),
            "errors": errors_by_step.get(step.position, []),
            "inputs": [(field, values.get(field.name, "")) for field in (operation.input if operation else [])],
            # Return result: fields the person names, each built from data pills.
            "result_fields": list(values.items()) if open_inputs else None,
            "state": state, "is_call": step.is_trigger and operation is not None and operation.key == NEW_CALL
            and step.connector_key == RECIPE_FUNCTION,
            "pill_buttons": pill_buttons,
            "inputs_url": inputs_url(step.position), "delete_url": delete_url(step.position),
        })
        if operation is not None:
            pill_buttons += editor_markup.pill_buttons(step, operation)
            pill_labels |= _pill_labels(step, operation)

    trigger = next((s for s in steps if s.is_trigger), None)
    kind = trigger_kind(recipe, trigger) if trigger is not None else None
    chosen = AppSlot.from_catalog_key(request.GET["app"]) if request.GET.get("app") else None
    chosen_app = app_for(chosen) if chosen else None
    if chosen_app is not None and not builtin_offered(chosen.connector_key, recipe.kind):
        chosen_app = None  # Callable recipe / Workbot: offered only to recipes of that kind
    menu = builtin_apps_for(recipe.kind)
    return {
        "recipe": recipe, "steps": step_views, "apps": apps, "errors": errors, "can_edit": can_edit,
        "editable": editable, "builtins": menu, "catalog": registry().apps(), "chosen": chosen,
        "pill_labels": pill_labels,
        "chosen_app": chosen_app, "has_trigger": trigger is not None, "trigger_kind": kind,
        "can_start": may_start and uses_project,
        "start_form": start_form or (RecipeStartForm() if kind == "poll" else None),
        "settings_form": RecipeSettingsForm(instance=recipe) if editable else None,
        "call_field_form": call_field_form or (CallFieldForm() if editable and is_callable else None),
        "call_url": f"{settings.SPLICE_BASE_URL}/api/v1/recipes/{recipe.pk}/call" if is_callable else "",
        **(_workbot_addresses() if recipe.kind == Recipe.Kind.WORKBOT else {}),
        # The webhook address starts a job for anyone who has it: shown to the people who may edit the recipe
        # (and so regenerate it), not to everyone who can view the recipe, so that a viewer's screen, a shared
        # screenshot or a read-only account does not leak it.
        "webhook_url": webhook_url(recipe) if kind == "webhook" and can_edit else None,
        "jobs_url": reverse("recipe_jobs", args=[recipe.pk]),
        # A refusal for an app without a panel (its steps removed meanwhile) shows above the panels.
        "binding_errors": binding_error[1] if binding_error and not any(a["binding_errors"] for a in apps) else [],
        **extra,
    }


def _workbot_addresses() -> dict[str, str]:
    """Where the Slack app posts a Workbot recipe's commands, and where people link their Slack account."""
    return {"workbot_commands_url": settings.SPLICE_BASE_URL + reverse("workbot_slack_commands"),
            "workbot_link_url": settings.SPLICE_BASE_URL + reverse("workbot_link")}


def _returning_here(recipe: Recipe, errors: list) -> list:
    """The errors, with a Re-authorize (or Authorize) link that comes back to this recipe once it is done."""
    back = urlencode({"next": recipe.get_absolute_url()})
    return [replace(e, fix_url=f"{e.fix_url}{'&' if '?' in e.fix_url else '?'}{back}")
            if e.code in REAUTHORIZE_ERRORS and e.fix_url else e for e in errors]


def _pill_labels(step, operation) -> dict[str, str]:
    """How the editor shows this step's data pills as chips: `trigger.name` → "Trigger › Name"."""
    where = "Trigger" if step.is_trigger else f"Step {step.position}"
    return {f"{step.ref}.{output.name}": f"{where} › {output.label}" for output in operation.output}


def _url_per_recipe(name: str) -> Callable[[int], str]:
    """The URL `name` of each recipe of a list, from one reverse()."""
    head, _, tail = reverse(name, args=[ANY_POSITION]).rpartition(str(ANY_POSITION))
    return lambda pk: f"{head}{pk}{tail}"


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
    catalog has no such app (a built-in app takes no connection, so it is none of these forms' apps)."""
    app = AppSlot.from_catalog_key(request.POST.get("app_key", ""))
    if app.spec_or_none is None:
        raise Http404("No such app")
    return app


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
        data = form.cleaned_data
        try:
            services.recipe_update(recipe=recipe, acting_user=request.user, name=data["name"],
                                   description=data["description"], kind=data["kind"],
                                   retry_limit=data["retry_limit"], poll_minutes=data["poll_minutes"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Recipe saved.")
    else:
        messages.error(request, "The settings were not saved: " + "; ".join(
            f"{form.fields[f].label}: {' '.join(e)}" for f, e in form.errors.items() if f in form.fields))
    return redirect(_back(recipe, "#settings"))


@privilege_required("recipes.change_recipe")
@require_POST
def call_field_add(request, pk: int):
    """Declare one more input field of a callable recipe (name, type, required)."""
    recipe = _editable_recipe(request, pk)
    form = CallFieldForm(request.POST, declared=recipe.call_fields)
    if form.is_valid():
        field = form.cleaned_data
        try:
            services.recipe_set_call_fields(recipe=recipe, acting_user=request.user, fields=[
                *recipe.call_fields, {"name": field["name"], "type": field["type"], "required": field["required"]}])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Input field “{field['name']}” added.")
            return redirect(_back(recipe, "#call-fields"))
    return _editor_response(request, recipe, status=200, call_field_form=form)


@privilege_required("recipes.change_recipe")
@require_POST
def call_field_delete(request, pk: int):
    """Remove one input field of a callable recipe, by name."""
    recipe = _editable_recipe(request, pk)
    name = request.POST.get("name", "")
    remaining = [f for f in recipe.call_fields if not (isinstance(f, dict) and f.get("name") == name)]
    if len(remaining) == len(recipe.call_fields):
        messages.error(request, "That input field is not declared (any more): nothing was removed.")
        return redirect(_back(recipe, "#call-fields"))
    try:
        services.recipe_set_call_fields(recipe=recipe, acting_user=request.user, fields=remaining)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Input field “{name}” removed. A step that used its data pill now shows a "
                                  "design-time error.")
    return redirect(_back(recipe, "#call-fields"))


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
    """Save a step's inputs. Return result's fields have names the person gives: the form adds one
    (`new_field_name`, `new_field_value`) or removes one (the `remove_field` button pressed) as it saves."""
    recipe = _editable_recipe(request, pk)
    step = get_object_or_404(recipe.steps, position=position)
    inputs = {name.removeprefix("input_"): value for name, value in request.POST.items() if name.startswith("input_")}
    new_name = request.POST.get("new_field_name", "").strip()
    new_value = request.POST.get("new_field_value", "")
    removed = request.POST.get("remove_field", "")
    operation = operation_for(recipe, step)
    open_inputs = bool(getattr(operation, "open_inputs", False))
    try:
        if open_inputs:
            inputs = _result_fields(inputs, new_name, new_value, removed)
        too_long = [name for name, value in inputs.items() if len(value) > MAX_INPUT_LENGTH]
        if too_long:
            raise ValidationError(f"Each input may hold at most {MAX_INPUT_LENGTH:,} characters: shorten "
                                  f"{', '.join(sorted(too_long)[:5])[:200]}. Nothing was saved.")
        services.step_update_inputs(step=step, acting_user=request.user, inputs=inputs)
    except ValidationError as exc:
        # The editor again with what was typed, and why it was not saved, on the step's form.
        state = {"position": position, "inputs": inputs, "message": " ".join(exc.messages),
                 "new_name": new_name, "new_value": new_value}
        return _editor_response(request, recipe, status=200, step_state=state)
    if removed and open_inputs:
        messages.success(request, f"Field “{removed}” removed from step {position}.")
    elif new_name:
        messages.success(request, f"Field “{new_name}” added to step {position}.")
    else:
        messages.success(request, f"Step {position} saved.")
    return redirect(_back(recipe, f"#step-{position}"))


def _result_fields(inputs: dict[str, str], new_name: str, new_value: str, removed: str) -> dict[str, str]:
    """Return result's fields after this save: the posted ones, less the one removed, plus the one added."""
    fields = {name: value for name, value in inputs.items() if name != removed}
    if not new_name:
        if new_value.strip():
            raise ValidationError("Name the new field: the caller reads its value under that name. Nothing was "
                                  "saved.")
        return fields
    if not FIELD_NAME_RE.match(new_name):
        raise ValidationError(f"“{new_name[:50]}” is not a field name: use letters, digits and _, starting with a "
                              "letter (order_id). Nothing was saved.")
    if new_name in fields:
        raise ValidationError(f"The result has a field “{new_name}” already: change its value above, or choose "
                              "another name. Nothing was saved.")
    if len(fields) >= MAX_RESULT_FIELDS:
        raise ValidationError(f"A result has at most {MAX_RESULT_FIELDS} fields. Nothing was saved.")
    return {**fields, new_name: new_value}


@privilege_required("recipes.change_recipe")
@require_POST
def step_delete(request, pk: int, position: int):
    """Remove a step, once the person confirms (`confirm=1`): the question is a dialog in the step (htmx), or the
    editor again with the question on top."""
    recipe = _editable_recipe(request, pk)
    step = get_object_or_404(recipe.steps, position=position)
    if request.POST.get("confirm") != "1":
        question = {"step": step, "operation": _operation_name(recipe, step), "app": step.app_slot.label,
                    "delete_url": request.path, "later": recipe.steps.filter(position__gt=position).count()}
        if request.htmx:
            return render(request, "recipes/_remove_step.html", {"recipe": recipe, "question": question})
        return _editor_response(request, recipe, status=200, remove_question=question)
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


def _bind(request, recipe: Recipe, app: AppSlot, connection_id: str, *, confirm: bool, success: str,
          anchor: str = "#connections"):
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
        steps = [(step, _operation_name(recipe, step)) for step in pending.steps]
        return _editor_response(request, recipe, status=409, switch={
            "app_slot": app, "current": current, "new": pending.new, "steps": steps})
    except ValidationError as exc:
        return _binding_refused(request, recipe, app, exc)
    messages.success(request, success.format(app=app.label, connection=connection.name))
    return redirect(_back(recipe, anchor))


def _operation_name(recipe: Recipe, step) -> str:
    """A step's trigger or action by its name ("New item"); its key only when the app no longer offers it."""
    operation = operation_for(recipe, step)
    return operation.name if operation is not None else step.operation_key


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
    """Create a connection for an app without the editor's help of htmx: the wizard, then back with it bound.
    With htmx, the same button opens the side pane instead (connect_pane)."""
    require_privilege(request.user, "connections.add_connection")
    recipe = _editable_recipe(request, pk)
    app = _posted_app(request)
    _remember_pending(request, recipe, app, request.POST.get("step"))
    done = reverse("recipe_connect_done", args=[recipe.pk])
    return redirect(f"{reverse('connection_create_app', args=[app.catalog_key])}?"
                    f"{urlencode({'project': recipe.project_id, 'next': done})}")


def _remember_pending(request, recipe: Recipe, app: AppSlot, step) -> None:
    """What connect_done binds when the person comes back: this recipe's app, and the step to show."""
    request.session[PENDING_BINDING] = {"recipe": recipe.pk, "app_key": app.catalog_key, "step": parse_id(step or "")}


@privilege_required("recipes.change_recipe")
def connect_done(request, pk: int):
    """Back from the wizard (or an app's authorization page): bind the new connection to the app the editor asked
    for, and show the step the person started from."""
    recipe = _editable_recipe(request, pk)
    pending = request.session.pop(PENDING_BINDING, None)
    connection_id = request.GET.get("connection", "")
    if not pending or pending.get("recipe") != recipe.pk or parse_id(connection_id) is None:
        return redirect(recipe)
    return _bind(request, recipe, AppSlot.from_catalog_key(pending.get("app_key", "")), connection_id, confirm=True,
                 success="“{connection}” is connected and used by this recipe.",
                 anchor=_step_anchor(recipe, pending.get("step")))


def _step_anchor(recipe: Recipe, position) -> str:
    return f"#step-{position}" if position and recipe.steps.filter(position=position).exists() else "#connections"


# --- connecting in the side pane (htmx) ---------------------------------------------------------
# The connection pages' own forms and services, in a pane beside the steps: name and settings, then the credentials
# form, or the app's authorization page and back to connect_done. The new connection is bound to the app at once.


@privilege_required("recipes.change_recipe")
def connect_pane(request, pk: int):
    """The side pane's first form: name, environment, auth method and settings (the wizard's step 2). GET opens it
    (or, with `auth_method`, re-renders the settings for that method); POST creates the connection."""
    require_privilege(request.user, "connections.add_connection")
    recipe = _editable_recipe(request, pk)
    if request.method == "GET" and not request.htmx:  # the pane is a part of the editor, not a page
        return redirect(recipe)
    data = request.POST if request.method == "POST" else request.GET
    app = AppSlot.from_catalog_key(data.get("app_key", ""))
    spec = app.spec_or_none
    if spec is None:
        raise Http404("No such app")
    step = parse_id(data.get("step", ""))
    method_key = data.get("auth_method") or spec.auth[0].key
    if method_key not in {m.key for m in spec.auth}:
        method_key = spec.auth[0].key
    projects = usable_projects(request.user).filter(pk=recipe.project_id)  # a recipe binds its project's only
    initial = {"name": _default_connection_name(spec, recipe), "project": recipe.project,
               **{k: v for k, v in request.GET.items() if k.startswith("setting_")}}
    form = DescribeConnectionForm(request.POST if request.method == "POST" else None, initial=initial, spec=spec,
                                  method_key=method_key, projects=projects, auto_id="connect_%s",
                                  loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK)
    # An OAuth method without the deployment's OAuth client: the pane says what an admin must do, and makes nothing.
    setup = admin_setup_for(spec, spec.auth_method(method_key))
    context = {"recipe": recipe, "spec": spec, "app": app, "step": step, "stage": "describe", "form": form,
               "method": spec.auth_method(method_key), "setup": setup}
    if request.method == "GET" and request.GET.get("auth_method"):
        return render(request, "connections/_describe_fields.html", context)
    if request.method == "POST" and request.POST.get("refresh") != "auth_method":
        if setup is None and form.is_valid():
            try:
                connection = connection_services.connection_create(
                    project=recipe.project, connector_key=spec.key, name=form.cleaned_data["name"],
                    acting_user=request.user, auth_method=method_key, environment=form.cleaned_data["environment"],
                    settings_values=form.setting_values(), secret_settings=form.secret_values(),
                    scopes=form.cleaned_data.get("scopes") or [], ip=request.META.get("REMOTE_ADDR"))
            except ValidationError as exc:
                validation_error_to_form(form, exc)
            else:
                return _pane(request, recipe, connection, spec=spec, app=app, step=step)
    elif request.method == "POST":
        form.errors.clear()
    return render(request, "recipes/_connect_pane.html", context)


def _default_connection_name(spec, recipe: Recipe) -> str:
    """“My <App> account”, numbered when the recipe's project has one already."""
    taken = set(Connection.objects.filter(project=recipe.project, name__istartswith=f"My {spec.name}")
                .values_list("name", flat=True))
    name, number = f"My {spec.name} account", 2
    while name in taken:
        name, number = f"My {spec.name} account {number}", number + 1
    return name


def _pane(request, recipe: Recipe, connection: Connection, *, spec, app: AppSlot, step, form=None, outcome=None,
          status: int = 200):
    """The pane's second form: the credentials (Basic, API key), or the button that goes to the app to sign in."""
    method = spec.auth_method(connection.auth_method)
    auth = auth_for(method.type)
    if auth.uses_credentials_form and form is None:
        form = CredentialsForm(spec=spec, method_key=method.key, auto_id="connect_%s",
                               initial={"username": connection.username})
    context = {"recipe": recipe, "spec": spec, "app": app, "step": step, "connection": connection, "method": method,
               "stage": "credentials" if auth.uses_credentials_form else "authorize", "form": form,
               "outcome": outcome}
    return render(request, "recipes/_connect_pane.html", context, status=status)


def _pane_connection(request, recipe: Recipe, connection_pk: int) -> Connection:
    """A connection the pane authorizes: one the person may use, in the recipe's project (else a 404). One that
    worked before is re-authorized, which edits it."""
    connection = connection_for_user_or_404(request.user, connection_pk, ProjectAccess.USE)
    if connection.project_id != recipe.project_id or connection.owner_id is not None:
        raise Http404("No such connection")
    if connection.authorized_at is not None:
        require_privilege(request.user, "connections.change_connection")
    return connection


@privilege_required("recipes.change_recipe")
@require_POST
def connect_credentials(request, pk: int, connection_pk: int):
    """The pane's credentials form: checked with the app's test request, then the connection is bound."""
    require_privilege(request.user, "connections.add_connection")
    recipe = _editable_recipe(request, pk)
    connection = _pane_connection(request, recipe, connection_pk)
    spec, app, step = connection.app_slot.spec, connection.app_slot, parse_id(request.POST.get("step", ""))
    method = spec.auth_method(connection.auth_method)
    form = CredentialsForm(request.POST, spec=spec, method_key=method.key, auto_id="connect_%s")
    if not form.is_valid():
        return _pane(request, recipe, connection, spec=spec, app=app, step=step, form=form)
    outcome = connection_services.connection_set_credentials(
        connection=connection, acting_user=request.user, credentials=form.credentials(),
        secret_settings=form.secret_values(), ip=request.META.get("REMOTE_ADDR"))
    if not outcome.ok:
        return _pane(request, recipe, connection, spec=spec, app=app, step=step, form=form, outcome=outcome)
    return _bind_from_pane(request, recipe, app, connection, step)


@privilege_required("recipes.change_recipe")
@require_POST
def connect_authorize(request, pk: int, connection_pk: int):
    """The pane's "Connect to <App>": off to the app's sign-in page (htmx follows HX-Redirect there, a navigation
    the page's form-action policy does not limit), back through connect_done to this recipe's step."""
    require_privilege(request.user, "connections.add_connection")
    recipe = _editable_recipe(request, pk)
    connection = _pane_connection(request, recipe, connection_pk)
    spec, app, step = connection.app_slot.spec, connection.app_slot, parse_id(request.POST.get("step", ""))
    method = spec.auth_method(connection.auth_method)
    if not auth_for(method.type).redirects(method):  # OAuth 2.0 client credentials: no browser needed
        outcome = connection_authorize_client_credentials(connection=connection, acting_user=request.user,
                                                          ip=request.META.get("REMOTE_ADDR"))
        if not outcome.ok:
            return _pane(request, recipe, connection, spec=spec, app=app, step=step, outcome=outcome)
        return _bind_from_pane(request, recipe, app, connection, step)
    if not request.session.session_key:
        request.session.save()
    try:
        url = connection_authorize_begin(connection=connection, acting_user=request.user,
                                         session_key=request.session.session_key)
    except ConnectionProblem as problem:
        return _pane(request, recipe, connection, spec=spec, app=app, step=step,
                     outcome=CheckOutcome(ok=False, verdict=problem.verdict))
    _remember_pending(request, recipe, app, step)
    request.session[OAUTH_NEXT] = reverse("recipe_connect_done", args=[recipe.pk])
    return _go(request, url)


def _bind_from_pane(request, recipe: Recipe, app: AppSlot, connection: Connection, step):
    """Bind the connection the pane just authorized, and show the editor again at the step it was made for."""
    try:
        services.binding_set(recipe=recipe, app=app, connection=connection, acting_user=request.user, confirm=True)
    except ValidationError as exc:  # the recipe was started meanwhile, say: the connection stays, unbound
        return render(request, "recipes/_connect_pane.html", {
            "recipe": recipe, "spec": app.spec, "app": app, "step": step, "connection": connection, "stage": "refused",
            "refusal": " ".join(exc.messages)})
    messages.success(request, f"“{connection.name}” is connected and used by this recipe.")
    # A query that changes with each connection, so the browser loads the page again rather than only scrolling.
    return _go(request, f"{recipe.get_absolute_url()}?connected={connection.pk}{_step_anchor(recipe, step)}")


def _go(request, url: str):
    """Leave the pane for `url`: htmx navigates there (HX-Redirect); a plain form post is redirected."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@privilege_required("recipes.start_recipe")
@require_POST
def recipe_start(request, pk: int):
    """Start the recipe. A poll trigger begins from now, or since the date the person chose (`start-begin`,
    `start-since`)."""
    recipe = recipe_for_user_or_404(request.user, pk, ProjectAccess.USE)
    since = None
    if trigger_kind(recipe, recipe.steps.filter(is_trigger=True).first()) == "poll":
        form = RecipeStartForm(request.POST)
        if not form.is_valid():
            return _editor_response(request, recipe, status=200, start_form=form)
        since = form.cleaned_data["since"]
    try:
        services.recipe_start(recipe=recipe, acting_user=request.user, since=since)
    except services.RecipeHasErrors as exc:
        messages.error(request, f"The recipe can't start: {len(exc.errors)} design-time error"
                                f"{'s' if len(exc.errors) != 1 else ''} to fix first (listed at the top).")
    else:
        begins = f" It starts with records created since {since:%Y-%m-%d %H:%M}." if since else ""
        messages.success(request, f"“{recipe.name}” is running.{begins}")
    return redirect(recipe)


@privilege_required("recipes.start_recipe")
@require_POST
def recipe_stop(request, pk: int):
    recipe = recipe_for_user_or_404(request.user, pk, ProjectAccess.USE)
    services.recipe_stop(recipe=recipe, acting_user=request.user)
    messages.success(request, f"“{recipe.name}” is stopped.")
    return redirect(recipe)


@privilege_required("recipes.change_recipe")
@require_POST
def webhook_regenerate(request, pk: int):
    """A new webhook address for the recipe, after the person confirms: the old one stops working at once."""
    recipe = _editable_recipe(request, pk)
    # Only a webhook recipe is asked first: for any other, the service says why there is nothing to regenerate.
    if request.POST.get("confirm") != "1" and trigger_kind(
            recipe, recipe.steps.filter(is_trigger=True).first()) == "webhook":
        return _editor_response(request, recipe, status=200, regenerate_question=True)
    had_one = bool(recipe.webhook_token)
    try:
        services.recipe_webhook_regenerate(recipe=recipe, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The webhook address was regenerated: the old one no longer works. Give the "
                                  "new one to the app that sends to it." if had_one else
                         "The recipe has its webhook address: give it to the app that sends to it.")
    return redirect(_back(recipe, "#webhook"))


@privilege_required("recipes.view_recipe")
def recipe_history(request, pk: int):
    recipe = recipe_for_user_or_404(request.user, pk)
    versions = recipe.versions.select_related("changed_by")
    page = Paginator(versions, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "recipes/history.html", {"recipe": recipe, "page": page})


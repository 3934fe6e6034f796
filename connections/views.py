"""Connection pages: the list, the wizard (pick an app, describe, authorize), a connection's page and
its actions (test, re-authorize, edit, disconnect, delete), the audit log, and the OAuth callback.

Each view makes two checks: a privilege (accounts.access: a 403 naming it) and project access
(connections.selectors: a connection or project the user cannot access is a 404).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.access import privilege_required, require_privilege
from accounts.models import ProjectAccess, User
from accounts.selectors import projects_for_user
from config.converters import parse_id
from connections import services
from connections.auth import auth_for
from connections.catalog import origin_of, registry
from connections.catalog.app_slot import AppSlot
from connections.client import resolved_auth
from connections.forms import (
    SETTING_PREFIX,
    CredentialsForm,
    DescribeConnectionForm,
    EditConnectionForm,
    oauth_profiles_for,
    validation_error_to_form,
)
from connections.models import AuditEvent, Connection
from connections.oauth import (
    AuthorizationRefused,
    connection_authorize_begin,
    connection_authorize_client_credentials,
    connection_authorize_complete,
)
from connections.problems import ConnectionProblem
from connections.selectors import (
    ConnectionFilters,
    audit_events_for_user,
    connection_for_user_or_404,
    connection_recent_checks,
    connections_expiring,
    connections_for_user,
    connections_page,
    usable_projects,
)
from connections.status import CheckOutcome

PAGE_SIZE = 50
SORT_CHOICES = [("name", "Name"), ("-name", "Name (Z–A)"), ("app", "App"), ("status", "Status"),
                ("project", "Project"), ("checked", "Last checked"), ("created", "Newest")]


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _spec_or_404(app: AppSlot):
    spec = app.spec_or_none
    if spec is None:
        raise Http404("No such app")
    return spec


# --- list ---------------------------------------------------------------------------------------


@privilege_required("connections.view_connection")
def connection_list(request):
    filters = ConnectionFilters.from_query(request.GET)
    # The project filter's choices, and what the user may see.
    projects = list(projects_for_user(request.user).only("name").order_by("name"))
    visible = connections_for_user(request.user, projects=projects)
    page = connections_page(visible, filters, number=request.GET.get("page"), per_page=PAGE_SIZE)
    apps = registry().apps()
    specs = {spec.key: spec for spec in apps}
    rows = [(connection, specs.get(connection.app_slot.catalog_key)) for connection in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page, "rows": rows, "filters": filters, "query": query.urlencode(),
        "projects": projects, "apps": apps,
        "statuses": Connection.Status.choices, "environments": Connection.Environment.choices,
        "sorts": SORT_CHOICES,
        # Early warning, above the table: a fixed number of queries however many connections there are.
        "expiring": [] if request.htmx else connections_expiring(visible),
    }
    template = "connections/_connection_rows.html" if request.htmx else "connections/connection_list.html"
    return render(request, template, context)


# --- wizard -------------------------------------------------------------------------------------


@privilege_required("connections.add_connection")
def wizard_pick_app(request):
    """Step 1: a searchable grid of the catalog; secondary connectors are apps of their own."""
    query = request.GET.get("q", "").strip()[:100]
    apps = registry().search(query, include_secondary=True) if query else registry().apps()
    context = {"apps": apps, "query": query, "project": request.GET.get("project", "")}
    template = "connections/_wizard_app_grid.html" if request.htmx else "connections/wizard_pick_app.html"
    return render(request, template, context)


@privilege_required("connections.add_connection")
@sensitive_post_parameters()
def wizard_describe(request, app_key: str):
    """Step 2: name, project, environment, auth method, settings; creates the (not yet authorized) connection.
    `app_key` is the app's catalog key (`salesforce_secondary` for a second Salesforce connection in recipes)."""
    spec = _spec_or_404(AppSlot.from_catalog_key(app_key))
    projects = usable_projects(request.user)
    if not projects.exists():
        return render(request, "connections/wizard_no_project.html", status=403)
    method_key = request.POST.get("auth_method") or request.GET.get("auth_method") or spec.auth[0].key
    if method_key not in {m.key for m in spec.auth}:
        method_key = spec.auth[0].key
    profiles = oauth_profiles_for(spec) if request.user.has_perm("connections.manage_connectors") else None
    initial = {"name": _default_name(spec, projects, request.GET.get("project")),
               "project": _preselected_project(projects, request.GET.get("project"))}
    if request.htmx:  # the auth method changed: keep what was typed in the settings both methods share
        initial |= {k: v for k, v in request.GET.items() if k.startswith(SETTING_PREFIX)}
    form = DescribeConnectionForm(
        request.POST if request.method == "POST" else None, initial=initial, spec=spec, method_key=method_key,
        projects=projects, profiles=profiles, loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK,
    )
    changing_method = request.method == "POST" and request.POST.get("refresh") == "auth_method"
    if request.method == "POST" and not changing_method and form.is_valid():
        try:
            connection = services.connection_create(
                project=form.cleaned_data["project"], connector_key=spec.key, name=form.cleaned_data["name"],
                acting_user=request.user, auth_method=method_key, environment=form.cleaned_data["environment"],
                settings_values=form.setting_values(), secret_settings=form.secret_values(),
                scopes=form.cleaned_data.get("scopes") or [], oauth_profile=form.cleaned_data.get("oauth_profile"),
                ip=client_ip(request),
            )
        except ValidationError as exc:
            validation_error_to_form(form, exc)
        else:
            return redirect(_after_create(request, connection))
    if changing_method:
        form.errors.clear()
    context = {"spec": spec, "form": form, "method": spec.auth_method(method_key), "step": 2,
               "next": _safe_next(request)}
    if request.htmx and request.GET.get("auth_method"):
        return render(request, "connections/_describe_fields.html", context)
    return render(request, "connections/wizard_describe.html", context)


def _default_name(spec, projects, project_id) -> str:
    """“My <App> account”, numbered when the project already has one."""
    base = f"My {spec.name} account"
    project = _preselected_project(projects, project_id)
    if project is None:
        return base
    taken = set(Connection.objects.filter(project=project, name__istartswith=f"My {spec.name}")
                .values_list("name", flat=True))
    name, number = base, 2
    while name in taken:
        name, number = f"My {spec.name} account {number}", number + 1
    return name


def _preselected_project(projects, project_id):
    if parse_id(project_id) is not None:
        found = projects.filter(pk=parse_id(project_id)).first()
        if found is not None:
            return found
    return projects.first()


def _safe_next(request) -> str:
    """A `next` path inside Splice (the recipe editor sends people here and wants them back)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    # Django's own check: browsers read "/\\evil.example" (and control characters) as another host.
    return target if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts=None, require_https=False) else ""


def _after_create(request, connection: Connection) -> str:
    url = reverse("connection_authorize", args=[connection.pk])
    target = _safe_next(request)
    return f"{url}?next={target}" if target else url


@privilege_required("connections.add_connection")
@sensitive_post_parameters()
def connection_authorize(request, pk: int):
    """Step 3 (and re-authorize): OAuth redirects to the app; Basic and API key take a credentials form."""
    connection = connection_for_user_or_404(request.user, pk, ProjectAccess.USE)
    if connection.authorized_at is not None:
        require_privilege(request.user, "connections.change_connection")  # re-authorizing edits a connection
    spec = _spec_or_404(connection.app_slot)
    method = spec.auth_method(connection.auth_method)
    auth = auth_for(method.type)
    form = None
    outcome = None
    if auth.uses_credentials_form:
        form = CredentialsForm(request.POST or None, spec=spec, method_key=method.key,
                               initial={"username": connection.username})
        if request.method == "POST" and form.is_valid():
            outcome = services.connection_set_credentials(
                connection=connection, acting_user=request.user, credentials=form.credentials(),
                secret_settings=form.secret_values(), ip=client_ip(request),
            )
            if outcome.ok:
                return _connected(request, connection, outcome)
    elif request.method == "POST":
        if not auth.redirects(method):  # OAuth 2.0 client credentials: no person, no browser
            outcome = connection_authorize_client_credentials(connection=connection, acting_user=request.user,
                                                              ip=client_ip(request))
            if outcome.ok:
                return _connected(request, connection, outcome)
        else:
            if not request.session.session_key:
                request.session.save()
            if _safe_next(request):
                request.session["connection_next"] = _safe_next(request)
            try:
                url = connection_authorize_begin(connection=connection, acting_user=request.user,
                                                 session_key=request.session.session_key)
            except ConnectionProblem as problem:
                outcome = CheckOutcome(ok=False, verdict=problem.verdict)
            else:
                return redirect(url)
    context = {"connection": connection, "spec": spec, "method": method, "form": form, "outcome": outcome,
               "step": 3, "next": _safe_next(request)}
    response = render(request, "connections/authorize.html", context, status=400 if outcome else 200)
    if auth.redirects(method):
        _allow_form_redirect_to_app(response, connection)
    return response


def _allow_form_redirect_to_app(response, connection: Connection) -> None:
    """The Authorize button's POST answers with a redirect to the app's authorization server, which the
    Content Security Policy's form-action ('self' elsewhere) must name on this page: this connection's own."""
    try:
        authorize_url = resolved_auth(connection).authorize_url
    except ConnectionProblem:
        return  # the page says what is wrong with the settings; the button cannot lead anywhere
    response._csp_config = {**settings.SECURE_CSP,
                            "form-action": [*settings.SECURE_CSP.get("form-action", []), origin_of(authorize_url)]}


def _connected(request, connection: Connection, outcome) -> object:
    messages.success(request, f"“{connection.name}” is connected. {outcome.message}.")
    return redirect(_with_connection(_safe_next(request), connection) or connection.get_absolute_url())


def _with_connection(next_url: str, connection: Connection) -> str:
    """Where the wizard came from (the recipe editor), told which connection was made."""
    if not next_url:
        return ""
    return f"{next_url}{'&' if '?' in next_url else '?'}connection={connection.pk}"


@login_required
def oauth_callback(request):
    """Where apps send the browser back. Only the user and session that began the flow can finish it."""
    try:
        connection, outcome = connection_authorize_complete(
            params=request.GET.dict(), acting_user=request.user, session_key=request.session.session_key,
            ip=client_ip(request),
        )
    except AuthorizationRefused as refused:
        return render(request, "connections/oauth_refused.html", {"message": str(refused)}, status=400)
    next_url = request.session.pop("connection_next", "")
    if outcome.ok:
        messages.success(request, f"“{connection.name}” is connected. {outcome.message}.")
        return redirect(_with_connection(next_url, connection) or connection.get_absolute_url())
    spec = _spec_or_404(connection.app_slot)
    context = {"connection": connection, "spec": spec, "method": spec.auth_method(connection.auth_method),
               "outcome": outcome, "step": 3, "next": next_url}
    return render(request, "connections/authorize.html", context, status=400)


# --- a connection -------------------------------------------------------------------------------


@privilege_required("connections.view_connection")
def connection_detail(request, pk: int):
    connection = get_object_or_404(
        connections_for_user(request.user).select_related("project", "authorized_by", "created_by", "oauth_profile"),
        pk=pk,
    )
    spec = _spec_or_404(connection.app_slot)
    method = spec.auth_method(connection.auth_method)
    events = connection.audit_events.select_related("actor")[:20]
    checks = connection_recent_checks(connection)
    recipes = list(services.recipes_using(connection).select_related("project").order_by("name"))
    connection.recipe_count = len(recipes)
    connection.running_count = sum(recipe.running for recipe in recipes)
    secret_names = [f.label for f in method.credential_fields if f.secret and getattr(connection, f.name, "")]
    secret_names += [spec.secret_fields[n].label for n in (connection.secret_settings or {}) if n in spec.secret_fields]
    settings_shown = [(spec.settings[name].label if name in spec.settings else name, value)
                      for name, value in (connection.settings or {}).items()]
    context = {"connection": connection, "spec": spec, "method": method, "events": events, "checks": checks,
               "recipes": recipes, "secret_names": secret_names, "settings_shown": settings_shown,
               "can_use": request.user.has_perm("accounts.use_project", connection.project)}
    return render(request, "connections/connection_detail.html", context)


@privilege_required("connections.test_connection")
@require_POST
def connection_test(request, pk: int):
    """Test now: the result replaces the status panel in place (htmx), or the page reloads without htmx."""
    connection = connection_for_user_or_404(request.user, pk, ProjectAccess.USE)
    outcome = services.connection_test(connection=connection, acting_user=request.user, ip=client_ip(request))
    connection.refresh_from_db()
    spec = _spec_or_404(connection.app_slot)
    if request.htmx:
        return render(request, "connections/_test_result.html",
                      {"connection": connection, "spec": spec, "outcome": outcome, "can_use": True,
                       "checks": connection_recent_checks(connection)})
    (messages.success if outcome.ok else messages.error)(request, f"Test: {outcome.message}")
    return redirect(connection)


@privilege_required("connections.change_connection")
@sensitive_post_parameters()
def connection_edit(request, pk: int):
    """Edit names and settings. Settings that send the connection's requests to another origin than it was
    authorized for erase its credentials: the page says so, asks to confirm, and takes the new credentials (or
    leads to the app's authorization) in the same step."""
    connection = connection_for_user_or_404(request.user, pk, ProjectAccess.USE)
    spec = _spec_or_404(connection.app_slot)
    method = spec.auth_method(connection.auth_method)
    form = EditConnectionForm(request.POST or None, connection=connection, spec=spec,
                              loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK)
    outcome = moving = None
    if request.method == "POST" and form.is_valid():
        saved = False
        try:
            moving = services.connection_origin_change(connection=connection, settings_values=form.setting_values())
            if moving is None or request.POST.get("confirm_move") == "1":
                services.connection_update(
                    connection=connection, acting_user=request.user, name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"], tags=form.cleaned_data["tags"],
                    settings_values=form.setting_values(), ip=client_ip(request),
                )
                saved = True
        except ValidationError as exc:
            validation_error_to_form(form, exc)
        if saved:
            credentials, secret_settings = form.new_credentials(), form.secret_values()
            if credentials or secret_settings:
                outcome = services.connection_set_credentials(
                    connection=connection, acting_user=request.user, credentials=credentials,
                    secret_settings=secret_settings, ip=client_ip(request),
                )
            if outcome is None or outcome.ok:
                return _edited(request, connection, outcome, moved=moving is not None)
            moving = None  # saved; what is left to fix is the credentials that failed their test
    context = {"connection": connection, "spec": spec, "form": form, "outcome": outcome, "moving": moving,
               "asks_credentials": auth_for(method.type).uses_credentials_form,
               "url_settings": [f.label for f in spec.settings_for(method.key).values() if f.type == "url"]
               if connection.authorized_at else []}
    return render(request, "connections/connection_edit.html", context, status=400 if outcome else 200)


def _edited(request, connection: Connection, outcome, *, moved: bool):
    if outcome is not None:
        messages.success(request, f"Connection saved. {outcome.message}.")
    elif moved:
        messages.warning(request, "Connection saved. Its credentials were erased because its address changed: "
                                  "connect it again for the new address.")
        return redirect("connection_authorize", pk=connection.pk)
    else:
        messages.success(request, "Connection saved.")
    return redirect(connection)


@privilege_required("connections.change_connection")
def connection_disconnect(request, pk: int):
    """Erase the credentials. When running recipes use the connection, say which and ask to confirm."""
    connection = connection_for_user_or_404(request.user, pk, ProjectAccess.USE)
    running = list(services.running_recipes_using(connection).select_related("project"))
    if request.method == "POST":
        try:
            services.connection_disconnect(connection=connection, acting_user=request.user,
                                           force=request.POST.get("force") == "1", ip=client_ip(request))
        except services.ConnectionInUse as exc:
            running = exc.recipes
        else:
            messages.success(request, f"“{connection.name}” is disconnected; its credentials were erased.")
            return redirect(connection)
    return render(request, "connections/connection_disconnect.html", {"connection": connection, "running": running})


@privilege_required("connections.delete_connection")
def connection_delete(request, pk: int):
    """Delete a disconnected connection that no recipe uses; otherwise say what holds it."""
    connection = connection_for_user_or_404(request.user, pk, ProjectAccess.USE)
    used_by = list(services.recipes_using(connection).select_related("project"))
    error = ""
    if request.method == "POST":
        try:
            services.connection_delete(connection=connection, acting_user=request.user, ip=client_ip(request))
        except services.ConnectionInUse as exc:
            used_by, error = exc.recipes, exc.messages[0]
        except ValidationError as exc:
            error = exc.messages[0]
        else:
            messages.success(request, f"“{connection.name}” was deleted.")
            return redirect("connection_list")
    context = {"connection": connection, "used_by": used_by, "error": error}
    return render(request, "connections/connection_delete.html", context, status=400 if error else 200)


@privilege_required("connections.view_auditlog")
def audit_log(request):
    def as_int(name):
        return parse_id(request.GET.get(name, ""))

    action = request.GET.get("action", "")
    action = action if action in AuditEvent.Action.values else ""
    events = audit_events_for_user(request.user, connection=as_int("connection"), actor=as_int("user"),
                                   action=action)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page, "actions": AuditEvent.Action.choices, "action": action, "query": query.urlencode(),
        "connection_id": as_int("connection"), "user_id": as_int("user"),
        "users": User.objects.filter(pk__in=audit_events_for_user(request.user).values("actor")).order_by("email"),
    }
    return render(request, "connections/audit_log.html", context)

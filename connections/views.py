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
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.access import privilege_required, require_privilege
from accounts.models import ProjectAccess, User
from accounts.selectors import project_preselected, projects_for_user
from config.converters import parse_id
from connections import services
from connections.auth import auth_for
from connections.catalog import origin_of, registry
from connections.catalog.app_slot import AppSlot
from connections.client import oauth_setup_needed, resolved_auth
from connections.credentials import CONNECTION_SECRET_FIELDS, open_secret, open_secret_setting
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
    admin_setup_for,
    apps_needing_setup,
    connection_authorize_begin,
    connection_authorize_client_credentials,
    connection_authorize_complete,
)
from connections.problems import ConnectionProblem, Kind, recommendations_for
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
from connections.status import CheckOutcome, credentials_phrase, relative_time
from connections.vault import VaultError

PAGE_SIZE = 50
# Where an OAuth authorization returns to afterwards (the recipe editor's side pane sets it too).
OAUTH_NEXT_SESSION_KEY = "connection_next"
# Failures another try can mend (typed credentials, a moment's outage, a declined consent page); the others need
# a setting, an address or an admin changed first, so the page offers no "Try again".
RETRYABLE = frozenset({Kind.CREDENTIALS_INVALID, Kind.INSUFFICIENT_PERMISSIONS, Kind.TRANSIENT})
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
    # The project filter's choices, and what the user may see: shared connections, and their own runtime user
    # connections only when the filter asks for them.
    projects = list(projects_for_user(request.user).only("name").order_by("name"))
    visible = connections_for_user(request.user, projects=projects, shared_only=not filters.personal)
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
        "create_query": f"?project={filters.project}" if filters.project else "",
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
    needs_setup = apps_needing_setup(apps)
    context = {"tiles": [(spec, needs_setup.get(spec.key)) for spec in apps], "query": query,
               "project": request.GET.get("project", "")}
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
    came_from = request.POST.get("project") or request.GET.get("project")
    preselected = project_preselected(request.user, projects, came_from)
    initial = {"name": _default_name(spec, preselected, request.user), "project": preselected}
    if request.htmx:  # the auth method changed: keep what was typed in the fields both methods share
        initial |= {k: v for k, v in request.GET.items()
                    if k.startswith(SETTING_PREFIX) or k in ("name", "project", "environment")}
    form = DescribeConnectionForm(
        request.POST if request.method == "POST" else None, initial=initial, spec=spec, method_key=method_key,
        projects=projects, profiles=profiles, loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK,
    )
    changing_method = request.method == "POST" and request.POST.get("refresh") == "auth_method"
    # An OAuth app with no OAuth client registered: nobody can connect it before an admin sets it up, so the
    # step says how and makes nothing (an admin may still pick another of the app's profiles under Advanced).
    setup = None if request.POST.get("oauth_profile") else admin_setup_for(spec, spec.auth_method(method_key))
    if request.method == "POST" and not changing_method and setup is None and form.is_valid():
        services.connections_pending_purge()
        try:
            connection = services.connection_create(
                project=form.cleaned_data["project"], connector_key=spec.key, name=form.cleaned_data["name"],
                acting_user=request.user, auth_method=method_key, environment=form.cleaned_data["environment"],
                settings_values=form.setting_values(), secret_settings=form.secret_values(),
                scopes=form.cleaned_data.get("scopes") or [], oauth_profile=form.cleaned_data.get("oauth_profile"),
                ip=client_ip(request), pending=True,
            )
        except ValidationError as exc:
            validation_error_to_form(form, exc)
        else:
            return redirect(_after_create(request, connection))
    if changing_method:
        form.errors.clear()
    context = {"spec": spec, "form": form, "method": spec.auth_method(method_key), "step": 2,
               "next": _safe_next(request), "setup": setup,
               "is_admin": request.user.has_perm("connections.manage_connectors")}
    if request.htmx and request.GET.get("auth_method"):
        return render(request, "connections/_describe_fields.html", context)
    return render(request, "connections/wizard_describe.html", context)


def _default_name(spec, project, user) -> str:
    """“My <App> account”, numbered when the project already has one (the person's own unfinished tries do not
    count: a new one takes their place)."""
    base = f"My {spec.name} account"
    if project is None:
        return base
    taken = set(Connection.objects.filter(project=project, name__istartswith=f"My {spec.name}")
                .exclude(pending_until__isnull=False, created_by=user).values_list("name", flat=True))
    name, number = base, 2
    while name in taken:
        name, number = f"My {spec.name} account {number}", number + 1
    return name


def _safe_next(request) -> str:
    """A `next` path inside Splice (the recipe editor sends people here and wants them back)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    # Django's own check: browsers read "/\\evil.example" (and control characters) as another host.
    return target if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts=None, require_https=False) else ""


def _credentials_change_or_404(request, pk: int) -> Connection:
    """The connection whose credentials or settings the person may change. A person's own (runtime user)
    connection acts as them, so only they may re-authorize or edit it: anyone else gets a 404, even those who
    manage runtime user connections (they may test, disconnect or delete it)."""
    connection = connection_for_user_or_404(request.user, pk, ProjectAccess.USE)
    if connection.owner_id is not None and connection.owner_id != request.user.pk:
        raise Http404("No connection matches the given query.")
    return connection


def _after_create(request, connection: Connection) -> str:
    url = reverse("connection_authorize", args=[connection.pk])
    target = _safe_next(request)
    return f"{url}?next={target}" if target else url


@privilege_required("connections.add_connection")
@sensitive_post_parameters()
def connection_authorize(request, pk: int):
    """Step 3 (and re-authorize): OAuth redirects to the app; Basic and API key take a credentials form."""
    connection = _credentials_change_or_404(request, pk)
    if connection.authorized_at is not None:
        require_privilege(request.user, "connections.change_connection")  # re-authorizing edits a connection
    spec = _spec_or_404(connection.app_slot)
    method = spec.auth_method(connection.auth_method)
    auth = auth_for(method.type)
    form = None
    outcome = None
    setup = None if connection.oauth_profile_id else admin_setup_for(spec, method)
    if setup is not None:  # nothing to try before an admin registers the app's OAuth client
        outcome = CheckOutcome(ok=False, verdict=oauth_setup_needed(spec.name))
    elif auth.uses_credentials_form:
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
                request.session[OAUTH_NEXT_SESSION_KEY] = _safe_next(request)
            try:
                url = connection_authorize_begin(connection=connection, acting_user=request.user,
                                                 session_key=request.session.session_key)
            except ConnectionProblem as problem:
                outcome = CheckOutcome(ok=False, verdict=problem.verdict)
            else:
                return redirect(url)
    context = _authorize_context(request, connection, spec, method, outcome, next_url=_safe_next(request))
    context |= {"form": form, "setup": setup}
    response = render(request, "connections/authorize.html", context,
                      status=400 if outcome and request.method == "POST" else 200)
    if auth.redirects(method):
        _allow_form_redirect_to_app(response, connection)
    return response


def _authorize_context(request, connection: Connection, spec, method, outcome, *, next_url: str) -> dict:
    """Step 3's page: whether another try can work (its button says "Try again" only then), and whether the
    connection is the wizard's unfinished one (the page offers to cancel it rather than "finish later")."""
    retry = outcome is None or outcome.ok or outcome.verdict.kind in RETRYABLE
    return {"connection": connection, "spec": spec, "method": method, "outcome": outcome, "step": 3,
            "next": next_url, "retry": retry, "pending": connection.pending_until is not None,
            "is_admin": request.user.has_perm("connections.manage_connectors")}


@privilege_required("connections.add_connection")
@require_POST
def connection_cancel(request, pk: int):
    """Leave the wizard at step 3: the connection it made for this is removed, so no list shows it. Only by the
    person whose wizard it is, or someone who may delete connections."""
    connection = connection_for_user_or_404(request.user, pk, ProjectAccess.USE)
    if connection.created_by_id != request.user.pk:
        require_privilege(request.user, "connections.delete_connection")
    if services.connection_discard_pending(connection=connection, acting_user=request.user, ip=client_ip(request),
                                           reason="the wizard was cancelled"):
        messages.info(request, f"Nothing was connected: “{connection.name}” was not created.")
        return redirect(_safe_next(request) or reverse("connection_list"))
    return redirect(connection)


def _allow_form_redirect_to_app(response, connection: Connection) -> None:
    """The Authorize button's POST answers with a redirect to the app's authorization server, which the
    Content Security Policy's form-action ('self' elsewhere) must name on this page: this connection's own."""
    try:
        authorize_url = resolved_auth(connection).authorize_url
    except ConnectionProblem:
        return  # the page says what is wrong with the settings; the button cannot lead anywhere
    response._csp_config = {**settings.SECURE_CSP,
                            "form-action": [*settings.SECURE_CSP.get("form-action", []), origin_of(authorize_url)]}


def _connected_message(connection: Connection, outcome) -> str:
    return f"“{connection.name}” is connected" + (f" as {outcome.identity}." if outcome.identity else ".")


def _connected(request, connection: Connection, outcome) -> object:
    messages.success(request, _connected_message(connection, outcome))
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
    next_url = request.session.pop(OAUTH_NEXT_SESSION_KEY, "")
    if outcome.ok:
        messages.success(request, _connected_message(connection, outcome))
        return redirect(_with_connection(next_url, connection) or connection.get_absolute_url())
    spec = _spec_or_404(connection.app_slot)
    context = _authorize_context(request, connection, spec, spec.auth_method(connection.auth_method), outcome,
                                 next_url=next_url)
    response = render(request, "connections/authorize.html", context, status=400)
    _allow_form_redirect_to_app(response, connection)
    return response


# --- a connection -------------------------------------------------------------------------------


@privilege_required("connections.view_connection")
def connection_detail(request, pk: int):
    connection = connection_for_user_or_404(request.user, pk, related=("authorized_by",))
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
    username_label = next((f.label for f in method.credential_fields if f.name == "username"), "Username")
    context = {"connection": connection, "spec": spec, "method": method, "events": events, "checks": checks,
               "recipes": recipes, "secret_names": secret_names, "settings_shown": settings_shown,
               "username_label": username_label,
               # One query where guardian's object check makes two (the person's and their roles' permissions).
               "can_use": projects_for_user(request.user, ProjectAccess.USE).filter(pk=connection.project_id).exists(),
               **_status_context(request, connection, method)}
    return render(request, "connections/connection_detail.html", context)


def _status_context(request, connection: Connection, method) -> dict:
    """What the status panel needs beyond the connection: advice that fits its auth method, and for admins only,
    what the vault says of credentials it cannot open (row and key ids are theirs to read, nobody else's)."""
    advice = []
    if connection.status == Connection.Status.ERROR:
        advice = recommendations_for(connection.error_reason, auth_type=method.type,
                                     credentials=credentials_phrase(method))
    vault_detail = ""
    if connection.error_reason == Kind.CREDENTIALS_UNREADABLE and request.user.has_perm(
            "connections.manage_connectors"):
        vault_detail = _unreadable_detail(connection)
    return {"advice": advice, "vault_detail": vault_detail, "last_worked": relative_time(connection.last_ok_at)}


def _unreadable_detail(connection: Connection) -> str:
    """The vault's own words for the first stored credential it cannot open (it names the row, the field and the
    key, never a value); "" when all open now (the key came back)."""
    try:
        for name in CONNECTION_SECRET_FIELDS:
            open_secret(connection, name)
        for name in connection.secret_settings or {}:
            open_secret_setting(connection, name)
    except VaultError as exc:
        return f"The vault says: {exc}."
    return ""


@privilege_required("connections.test_connection")
@require_POST
def connection_test(request, pk: int):
    """Test now: the result replaces the status panel in place (htmx), or the page reloads without htmx."""
    connection = connection_for_user_or_404(request.user, pk, ProjectAccess.USE)
    outcome = services.connection_test(connection=connection, acting_user=request.user, ip=client_ip(request))
    connection.refresh_from_db()
    spec = _spec_or_404(connection.app_slot)
    if request.htmx:
        # The panel, the recent checks and the audit trail in place; the page's earlier flash message goes.
        return render(request, "connections/_test_result.html",
                      {"connection": connection, "spec": spec, "outcome": outcome, "can_use": True,
                       "checks": connection_recent_checks(connection),
                       "events": connection.audit_events.select_related("actor")[:20],
                       **_status_context(request, connection, spec.auth_method(connection.auth_method))})
    (messages.success if outcome.ok else messages.error)(request, f"Test: {outcome.message}")
    return redirect(connection)


@privilege_required("connections.change_connection")
@sensitive_post_parameters()
def connection_edit(request, pk: int):
    """Edit names and settings. Settings that send the connection's requests to another origin than it was
    authorized for erase its credentials: the page says so, asks to confirm, and takes the new credentials (or
    leads to the app's authorization) in the same step."""
    connection = _credentials_change_or_404(request, pk)
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

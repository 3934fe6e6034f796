"""The app catalog, which any signed-in user may browse, and the pages where admins manage custom connectors.

Access: the catalog pages need only a signed-in user (`login_required`). The custom connector pages need
the "Manage connectors" privilege (`privilege_required("connections.manage_connectors")`), checked on
every one of them, GET and POST alike. No page here belongs to a project, so there is no project check.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import privilege_required
from connections.catalog import ConnectorSpec, SpecError, UnknownConnector, registry
from connections.catalog.app_slot import AppSlot
from connections.custom import (
    custom_connector_problems,
    custom_connector_set_enabled,
    custom_connectors_overview,
    ensure_custom_connectors_loaded,
)
from connections.forms_catalog import CustomConnectorForm
from connections.models import Connection, CustomConnector
from connections.oauth import apps_needing_setup

MANAGE_CONNECTORS = "connections.manage_connectors"
MAX_QUERY = 100


@dataclass(frozen=True)
class AppEntry:
    """One app as the catalog shows it: its spec, and whether an admin added it (custom)."""

    spec: ConnectorSpec
    custom: bool
    setup: str | None = None  # "all" / "some": its OAuth methods need an admin first (oauth.apps_needing_setup)

    @property
    def icon_ink(self) -> str:
        """Black or white, whichever reads better on the icon's colour (WCAG relative luminance)."""
        red, green, blue = (int(self.spec.icon.color[i:i + 2], 16) / 255 for i in (1, 3, 5))

        def linear(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
        return "#111827" if luminance > 0.4 else "#ffffff"

    @property
    def auth_labels(self) -> list[str]:
        return list(dict.fromkeys(method.label for method in self.spec.auth))


def _entry(spec: ConnectorSpec) -> AppEntry:
    return AppEntry(spec=spec, custom=not registry().is_builtin(spec.key))


# --- the catalog --------------------------------------------------------------------------------


@login_required
def catalog(request):
    """Every app, secondary entries included, filtered by ``q``; htmx asks for the results alone."""
    ensure_custom_connectors_loaded()
    query = " ".join(request.GET.get("q", "").split())[:MAX_QUERY]
    specs = registry().search(query, include_secondary=True)
    needs_setup = apps_needing_setup(specs)
    apps = [AppEntry(spec=spec, custom=not registry().is_builtin(spec.key), setup=needs_setup.get(spec.key))
            for spec in specs]
    context = {"apps": apps, "query": query, "total": len(registry().apps())}
    if request.htmx and request.htmx.target == "app-results":
        return render(request, "connections/catalog_results.html", context)
    return render(request, "connections/catalog_list.html", context)


@login_required
def catalog_app(request, key: str):
    """One app: its auth methods, settings, triggers and actions."""
    ensure_custom_connectors_loaded()
    try:
        spec = registry().get(key)
    except UnknownConnector:
        raise Http404("No such app") from None
    entry = _entry(spec)
    related = None
    if spec.is_secondary:
        related = registry().get(spec.primary_key)
    elif spec.secondary:
        related = AppSlot.of(spec).as_secondary().spec
    return render(request, "connections/catalog_app.html", {
        "app": entry, "spec": spec, "related": related,
        "settings": list(spec.settings.items()), "secret_fields": list(spec.secret_fields.items()),
        "custom_key": spec.primary_key if entry.custom else None,
    })


# --- custom connectors (privilege: Manage connectors) -------------------------------------------


@privilege_required(MANAGE_CONNECTORS)
def custom_connector_list(request):
    return render(request, "connections/custom_connector_list.html", {"rows": custom_connectors_overview()})


@privilege_required(MANAGE_CONNECTORS)
@require_http_methods(["GET", "POST"])
def custom_connector_create(request):
    form = CustomConnectorForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        connector = form.save(acting_user=request.user)
        if connector is not None:
            messages.success(request, f"{connector.name} is in the catalog: people can connect it now.")
            return redirect("catalog_app", key=connector.key)
    # A refused spec is a 400 with its problems on the form; nothing was saved.
    return render(request, "connections/custom_connector_form.html", {"form": form, "connector": None},
                  status=400 if request.method == "POST" else 200)


@privilege_required(MANAGE_CONNECTORS)
@require_http_methods(["GET", "POST"])
def custom_connector_edit(request, key: str):
    connector = get_object_or_404(CustomConnector, key=key)
    form = CustomConnectorForm(request.POST or None, request.FILES or None, connector=connector)
    if request.method == "POST" and form.is_valid():
        saved = form.save(acting_user=request.user)
        if saved is not None:
            if saved.revision == connector.revision:
                messages.info(request, "Nothing changed: the spec is the same as the current version.")
            else:
                messages.success(request, f"Saved a new version of {saved.name}.")
            return redirect("custom_connector_history", key=saved.key)
    return render(request, "connections/custom_connector_form.html", {"form": form, "connector": connector},
                  status=400 if request.method == "POST" else 200)


@privilege_required(MANAGE_CONNECTORS)
def custom_connector_history(request, key: str):
    connector = get_object_or_404(CustomConnector.objects.select_related("created_by", "updated_by"), key=key)
    versions = connector.versions.select_related("changed_by").order_by("-number")
    return render(request, "connections/custom_connector_history.html", {
        "connector": connector, "versions": versions,
        "problems": custom_connector_problems(connector) if connector.enabled else [],
    })


def _set_enabled(request, key: str, *, enabled: bool):
    """GET asks for confirmation; POST enables or disables."""
    connector = get_object_or_404(CustomConnector, key=key)
    if connector.enabled == enabled:
        messages.info(request, f"{connector.name} is already {'enabled' if enabled else 'disabled'}.")
        return redirect("custom_connector_list")
    problems: list[str] = []
    if request.method == "POST":
        try:
            custom_connector_set_enabled(connector=connector, enabled=enabled, acting_user=request.user)
        except SpecError as exc:
            problems = [str(problem) for problem in exc.problems]
        else:
            if enabled:
                messages.success(request, f"{connector.name} is enabled and back in the catalog.")
            else:
                messages.success(request, f"{connector.name} is disabled: it is no longer offered for new connections.")
            return redirect("custom_connector_list")
    connections = Connection.objects.filter(connector_key=connector.key).count()
    return render(request, "connections/custom_connector_confirm.html", {
        "connector": connector, "enabled": enabled, "connections": connections, "problems": problems,
    }, status=400 if problems else 200)


@privilege_required(MANAGE_CONNECTORS)
@require_http_methods(["GET", "POST"])
def custom_connector_disable(request, key: str):
    return _set_enabled(request, key, enabled=False)


@privilege_required(MANAGE_CONNECTORS)
@require_http_methods(["GET", "POST"])
def custom_connector_enable(request, key: str):
    return _set_enabled(request, key, enabled=True)

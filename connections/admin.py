"""Django admin for connections, OAuth profiles and custom connectors.

No secret is ever rendered: sealed columns are excluded, an OAuth profile's secret is a write-only
field, and changes go through the same services (and validation) as the pages in Splice. Custom
connectors and OAuth profiles need the "Manage connectors" privilege.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html, format_html_join

from connections.catalog import SpecError
from connections.credentials import CONNECTION_SECRET_FIELDS
from connections.custom import custom_connector_save, custom_connector_set_enabled
from connections.forms_catalog import CustomConnectorAdminForm, OAuthProfileAdminForm
from connections.models import Connection, CustomConnector, CustomConnectorVersion, OAuthProfile
from connections.oauth import oauth_redirect_uri
from connections.oauth_profiles import oauth_profile_update
from connections.services import oauth_profile_create

MANAGE_CONNECTORS = "connections.manage_connectors"


class _ManageConnectorsPermission:
    """Admin access by the "Manage connectors" privilege (these models have no per-model permissions)."""

    def _allowed(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(MANAGE_CONNECTORS)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request, *args) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def has_module_permission(self, request) -> bool:
        return self._allowed(request)


# --- connections --------------------------------------------------------------------------------


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "connector_key", "slot", "project", "status", "identity", "created_by", "created_at"]
    list_filter = ["status", "connector_key", "environment"]
    search_fields = ["name", "project__name", "identity", "connector_key"]
    list_select_related = ["project", "created_by"]
    # Sealed columns never reach admin, not even as ciphertext.
    exclude = [*CONNECTION_SECRET_FIELDS, "data_key", "secret_settings", "vault_id"]
    editable_here = ("name", "description", "tags")

    def get_readonly_fields(self, request, obj=None):
        # Everything else changes through the services (settings validated, health recorded, audit written).
        return [f.name for f in Connection._meta.concrete_fields
                if f.name not in (*self.editable_here, *self.exclude, "id")]

    def has_add_permission(self, request) -> bool:
        # Connections are made with the wizard, which checks and tests them.
        return False


# --- OAuth profiles -----------------------------------------------------------------------------


def _env_variables(key: str) -> tuple[str, str]:
    prefix = f"SPLICE_OAUTH_{key.upper()}_CLIENT_"
    return f"{prefix}ID", f"{prefix}SECRET"


class OAuthProfileForm(OAuthProfileAdminForm):
    """The client secret once, as one field that says whether one is stored; a profile from the environment names
    its two variables in full."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        profile = self.instance
        secret = self.fields["new_client_secret"]
        if profile.pk and profile.client_secret and not profile.from_environment:
            secret.help_text = ("A secret is stored (encrypted, never shown). Type a new one to replace it, or leave "
                                "this blank to keep it.")
        if profile.pk and profile.from_environment:
            client_id, client_secret = _env_variables(profile.connector_key)
            self.fields["name"].help_text = "Set from the environment: change its variables instead."
            self.fields["client_id"].help_text = f"Set from {client_id}: change that variable instead."
            secret.help_text = f"Set from {client_secret}: change that variable instead."


@admin.register(OAuthProfile)
class OAuthProfileAdmin(admin.ModelAdmin):
    form = OAuthProfileForm
    list_display = ["name", "connector_key", "client_id", "secret_status", "is_default", "from_environment",
                    "connections_using", "updated_at"]
    list_filter = ["connector_key", "is_default", "from_environment"]
    search_fields = ["name", "connector_key", "client_id"]
    list_select_related = ["created_by"]
    fieldsets = [
        (None, {"fields": ["name", "connector_key", "client_id", "new_client_secret", "make_default",
                           "endpoint_lines", "client_secret_expires_at"]}),
        ("Registering Splice at the app", {"fields": ["redirect_uri", "environment_variables"]}),
        ("Use", {"fields": ["from_environment", "connections_using", "created_by", "created_at", "updated_at"]}),
    ]
    readonly_fields = ["redirect_uri", "environment_variables", "from_environment", "connections_using",
                       "created_by", "created_at", "updated_at"]

    @admin.display(description="Redirect URI to register")
    def redirect_uri(self, obj: OAuthProfile | None) -> str:
        return format_html("<code>{}</code><br>Register this exact address as the OAuth client's redirect (callback) "
                           "URI at the app.", oauth_redirect_uri())

    @admin.display(description="Or from the environment")
    def environment_variables(self, obj: OAuthProfile | None) -> str:
        key = obj.connector_key if obj is not None and obj.pk else "<APP KEY>"
        variables = _env_variables(key)
        return format_html(
            "Set {} (the app's key in capitals) and restart Splice: the profile “From environment” is made or "
            "updated at start.", format_html_join(" and ", "<code>{}</code>", ((name,) for name in variables)))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by").annotate(
            connection_count=Count("connections"))

    def _allowed(self, request, action: str) -> bool:
        return request.user.has_perm(MANAGE_CONNECTORS) or request.user.has_perm(f"connections.{action}_oauthprofile")

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request, "view")

    def has_add_permission(self, request) -> bool:
        return self._allowed(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request, "change")

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allowed(request, "delete")

    def has_module_permission(self, request) -> bool:
        return request.user.is_staff and (request.user.has_perm(MANAGE_CONNECTORS) or super().has_module_permission(
            request))

    @admin.display(description="Client secret")
    def secret_status(self, obj: OAuthProfile) -> str:
        return "•••• set" if obj.client_secret else "not set"

    @admin.display(description="Connections using it", ordering="connection_count")
    def connections_using(self, obj: OAuthProfile) -> int:
        count = getattr(obj, "connection_count", None)
        return obj.connections.count() if count is None else count

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        if change:
            saved = oauth_profile_update(
                profile=obj, acting_user=request.user, name=data["name"], client_id=data["client_id"],
                client_secret=form.client_secret, is_default=data["make_default"], endpoints=form.endpoints(),
                client_secret_expires_at=data.get("client_secret_expires_at"),
            )
        else:
            saved = oauth_profile_create(connector_key=data["connector_key"], name=data["name"],
                                         client_id=data["client_id"], client_secret=form.client_secret,
                                         acting_user=request.user, is_default=data["make_default"],
                                         endpoints=form.endpoints())
            if data.get("client_secret_expires_at"):
                saved = oauth_profile_update(profile=saved, acting_user=request.user,
                                             client_secret_expires_at=data["client_secret_expires_at"])
        obj.pk = saved.pk
        obj.refresh_from_db()


# --- custom connectors --------------------------------------------------------------------------


class CustomConnectorVersionInline(_ManageConnectorsPermission, admin.TabularInline):
    model = CustomConnectorVersion
    extra = 0
    can_delete = False
    fields = ["number", "changed_by", "changed_at", "summary", "spec"]
    readonly_fields = fields
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="YAML")
    def spec(self, version: CustomConnectorVersion) -> str:
        return format_html("<details><summary>Show</summary><pre>{}</pre></details>", version.yaml)


@admin.register(CustomConnector)
class CustomConnectorAdmin(_ManageConnectorsPermission, admin.ModelAdmin):
    form = CustomConnectorAdminForm
    inlines = [CustomConnectorVersionInline]
    list_display = ["name", "key", "enabled", "version_count", "updated_by", "updated_at"]
    list_filter = ["enabled"]
    search_fields = ["key", "name"]
    readonly_fields = ["key", "name", "created_by", "created_at", "updated_by", "updated_at"]
    actions = ["enable_selected", "disable_selected"]

    def get_fields(self, request, obj=None):
        main = ["yaml", "note", "enabled"]
        return main if obj is None else ["key", "name", *main, "created_by", "created_at", "updated_by", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("updated_by").annotate(version_count=Count("versions"))

    def has_delete_permission(self, request, obj=None) -> bool:
        # Keys are permanent (connections store them): disable a connector instead.
        return False

    @admin.display(description="Versions", ordering="version_count")
    def version_count(self, obj: CustomConnector) -> int:
        return obj.version_count

    def save_model(self, request, obj, form, change) -> None:
        existing = CustomConnector.objects.get(pk=obj.pk) if change else None
        saved = custom_connector_save(yaml_text=form.cleaned_data["yaml"], acting_user=request.user,
                                      connector=existing, note=form.cleaned_data.get("note", ""))
        if saved.enabled != form.cleaned_data["enabled"]:
            saved = custom_connector_set_enabled(connector=saved, enabled=form.cleaned_data["enabled"],
                                                 acting_user=request.user)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        done = 0
        for connector in queryset:
            try:
                custom_connector_set_enabled(connector=connector, enabled=enabled, acting_user=request.user)
            except SpecError as exc:
                self.message_user(request, f"{connector.key} was not enabled:\n{exc}", messages.ERROR)
                continue
            done += 1
        if done:
            self.message_user(request, f"{'Enabled' if enabled else 'Disabled'} {done} custom connector(s).",
                              messages.SUCCESS)

    @admin.action(description="Enable selected custom connectors")
    def enable_selected(self, request, queryset) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected custom connectors")
    def disable_selected(self, request, queryset) -> None:
        self._set_enabled(request, queryset, False)

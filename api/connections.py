"""/api/v1/connections: list, show, create, update, test, disconnect, delete, and the address where a person
(re-)authorizes one. Each operation checks what the connection pages check (connections/views.py): the privilege
(403 naming it) and use or view access to the connection's project through connections.selectors (another
project's connection is a 404); the writes are connections.services', audited with the token (api.audit).

Secrets are write-only: credentials and secret settings are taken, sealed by the services, and never answered,
not even as a placeholder."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from ninja import Path, Query, Router, Schema
from pydantic import Field

from accounts.models import ProjectAccess
from api.audit import api_write_record, audit_mark
from api.idempotency import idempotent_create
from api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, cursor_page
from api.problems import ApiProblem, Problem, problem_from_validation
from api.security import require_privilege
from connections import services
from connections.auth import auth_for
from connections.catalog.app_slot import AppSlot
from connections.models import Connection
from connections.oauth import connection_authorize_client_credentials
from connections.selectors import attach_usage, connections_for_user, usable_projects
from connections.status import CheckOutcome

__all__ = ["router"]

router = Router(tags=["Connections"])

Status = Literal["not_connected", "connected", "error", "disconnected"]
_SETTING_ERRORS = {"setting_": "settings.", "secret_": "secret_settings."}


# --- schemas ----------------------------------------------------------------------------------------------------


class PersonOut(Schema):
    id: int
    email: str
    name: str


class RecipeRef(Schema):
    id: int
    name: str
    running: bool


class ConnectionOut(Schema):
    """A connection as the API shows it: everything the connection's page shows except its secrets."""

    id: int
    name: str
    app: str = Field(description="The app's catalog key (`salesforce_secondary` for a secondary connection).")
    app_name: str
    project_id: int
    environment: str
    auth_method: str
    settings: dict[str, Any] = Field(description="The non-secret settings.")
    description: str
    authorization_status: Status
    authorization_error: str | None = Field(description="What the last failed check found, while in error.")
    connection_lost_at: datetime | None = Field(description="Since when it is in error.")
    connection_lost_reason: str | None = Field(
        description="credentials_invalid, insufficient_permissions, unreachable or address_refused.")
    recommendations: list[str]
    authorized_at: datetime | None
    authorized_by: PersonOut | None
    connected_as: str | None = Field(description="The identity the app says it connected as.")
    parent_id: int | None = Field(description="For a runtime user connection: the recipe's connection it is a "
                                              "child of.")
    owner: PersonOut | None = Field(description="For a personal (runtime user) connection: whose it is.")
    recipe_count: int = Field(description="How many recipes use it.")
    running_recipe_count: int = Field(description="How many of those are running.")
    last_checked_at: datetime | None
    created_at: datetime
    updated_at: datetime
    url: str = Field(description="Its page in Splice.")


class ConnectionPage(Schema):
    items: list[ConnectionOut]
    next_cursor: str | None = Field(description="Send as `cursor` for the next page; null on the last.")


class Credentials(Schema):
    """Basic: username and password; API key: api_key (and api_secret where the app has one). Write-only."""

    username: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=4000)
    api_key: str | None = Field(None, max_length=4000)
    api_secret: str | None = Field(None, max_length=4000)


class ConnectionCreate(Schema):
    app: str = Field(max_length=80, description="The app's catalog key, e.g. `github` or `salesforce_secondary`.")
    name: str = Field(min_length=1, max_length=120)
    project_id: int = Field(gt=0, le=MAX_ID)
    environment: Literal["production", "sandbox"] = "production"
    auth_method: str | None = Field(None, max_length=40, description="The key of one of the app's auth methods; "
                                                                     "its first when left out.")
    description: str = Field("", max_length=2000)
    settings: dict[str, Any] = Field(default_factory=dict, description="The app's non-secret settings.")
    secret_settings: dict[str, str] = Field(default_factory=dict, description="The app's secret settings "
                                                                              "(write-only).")
    credentials: Credentials | None = Field(None, description="For Basic and API key methods: tested before they "
                                                              "are kept, unless `shell_connection`.")
    shell_connection: bool = Field(False, description="Create it without a test: credentials given are stored "
                                                      "untested; not connected until a test or an authorization "
                                                      "succeeds.")


class ConnectionCreated(ConnectionOut):
    authorization_url: str | None = Field(description="Where a person authorizes it in the browser (OAuth apps, "
                                                      "and shell connections).")


class ConnectionUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)
    project_id: int | None = Field(None, gt=0, le=MAX_ID, description="Move it to this project (one you may use), "
                                                                      "while no recipe uses it.")
    settings: dict[str, Any] | None = Field(None, description="The whole set of non-secret settings.")
    confirm_address_change: bool = Field(False, description="Settings that send the connection's requests to another "
                                                            "address erase its credentials: say so to save them.")
    credentials: Credentials | None = Field(None, description="New credentials (Basic, API key): tested first, kept "
                                                              "only if they work.")
    secret_settings: dict[str, str] | None = Field(None, description="New secret settings (write-only), tested "
                                                                     "with the credentials.")


class TestOut(Schema):
    ok: bool
    message: str
    reason: str | None = Field(description="What kind of failure it was, when it failed.")
    recommendations: list[str]
    connection: ConnectionOut


class AuthorizationUrlOut(Schema):
    authorization_url: str = Field(description="Splice's page where a signed-in person with the privilege "
                                               "authorizes the connection (it leads on to the app's consent page "
                                               "for OAuth).")


class ConnectionFilters(Schema):
    project_id: int | None = Field(None, gt=0, le=MAX_ID)
    app: str | None = Field(None, max_length=80, description="An app's catalog key.")
    status: Status | None = None
    updated_after: datetime | None = None
    parent_id: int | None = Field(None, gt=0, le=MAX_ID, description="Runtime user connections of this parent.")
    include_runtime_connections: bool = Field(False, description="Include runtime user connections (children).")
    cursor: str | None = Field(None, max_length=40)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


# --- reading ----------------------------------------------------------------------------------------------------


def _person(user) -> dict | None:
    return None if user is None else {"id": user.pk, "email": user.email, "name": user.display_name}


def connection_data(connection: Connection) -> dict:
    """The answer for one connection (with `recipe_count`/`running_count` set by attach_usage)."""
    in_error = connection.status == Connection.Status.ERROR
    return {
        "id": connection.pk, "name": connection.name, "app": connection.app_slot.catalog_key,
        "app_name": connection.app_slot.label, "project_id": connection.project_id,
        "environment": connection.environment, "auth_method": connection.auth_method,
        "settings": connection.settings or {}, "description": connection.description,
        "authorization_status": connection.status,
        "authorization_error": (connection.error_message or connection.get_error_reason_display()) if in_error
        else None,
        "connection_lost_at": connection.error_since if in_error else None,
        "connection_lost_reason": connection.error_reason or None if in_error else None,
        "recommendations": connection.recommendations if in_error else [],
        "authorized_at": connection.authorized_at, "authorized_by": _person(connection.authorized_by),
        "connected_as": connection.identity or None, "parent_id": connection.parent_id,
        "owner": _person(connection.owner), "recipe_count": connection.recipe_count,
        "running_recipe_count": connection.running_count, "last_checked_at": connection.last_checked_at,
        "created_at": connection.created_at, "updated_at": connection.updated_at,
        "url": django_settings.SPLICE_BASE_URL + connection.get_absolute_url(),
    }


def _answer(connection: Connection, **also) -> dict:
    connection = Connection.objects.select_related("authorized_by", "owner").get(pk=connection.pk)
    return connection_data(attach_usage([connection])[0]) | also


def _visible(request, access: ProjectAccess = ProjectAccess.VIEW):
    return connections_for_user(request.user, access).select_related("authorized_by", "owner")


def _connection(request, pk: int, access: ProjectAccess) -> Connection:
    connection = _visible(request, access).filter(pk=pk).first()
    if connection is None:
        raise ApiProblem(404, "not_found", "There is no connection with this id that you may use.")
    return connection


@router.get("", response={200: ConnectionPage}, summary="List connections")
def connection_list(request, filters: Query[ConnectionFilters]):
    """The connections the token's owner may see, oldest first; runtime user connections only when asked."""
    require_privilege(request, "connections.view_connection")
    rows = _visible(request)
    if filters.project_id:
        rows = rows.filter(project_id=filters.project_id)
    if filters.app:
        rows = rows.filter(**AppSlot.from_catalog_key(filters.app).lookup())
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.updated_after:
        rows = rows.filter(updated_at__gt=filters.updated_after)
    if filters.parent_id:
        rows = rows.filter(parent_id=filters.parent_id)
    elif not filters.include_runtime_connections:
        rows = rows.filter(parent__isnull=True)
    page, next_cursor = cursor_page(rows, cursor=filters.cursor, limit=filters.limit)
    return {"items": [connection_data(c) for c in attach_usage(page)], "next_cursor": next_cursor}


@router.get("/{id:connection_id}", response={200: ConnectionOut, 404: Problem}, summary="Show a connection")
def connection_show(request, connection_id: int = Path(..., gt=0, le=MAX_ID)):
    require_privilege(request, "connections.view_connection")
    return _answer(_connection(request, connection_id, ProjectAccess.VIEW))


# --- creating ---------------------------------------------------------------------------------------------------


def _authorization_url(connection: Connection) -> str:
    return django_settings.SPLICE_BASE_URL + reverse("connection_authorize", args=[connection.pk])


def _credentials(method, given: Credentials | None, *, required: bool) -> dict:
    """The credentials the auth method takes, from `given`; 400 naming what is missing or not the method's."""
    names = [field.name for field in method.credential_fields]
    values = {name: value for name, value in (given.model_dump() if given else {}).items() if value}
    errors = {f"credentials.{name}": f"is not a credential of “{method.label}”" for name in values if name not in names}
    if required:
        errors |= {f"credentials.{name}": "is required" for name in names if name not in values}
    if errors:
        raise ApiProblem(400, "invalid_request", "Check the credentials: "
                         + "; ".join(f"“{name}” {problem}" for name, problem in errors.items()) + ".", errors=errors)
    return values


def _refused(outcome: CheckOutcome, connection: Connection, what: str) -> ApiProblem:
    """A test that failed: the classified reason and what to do, and the connection (kept, not connected)."""
    reason = outcome.verdict.kind if outcome.verdict else None
    return ApiProblem(422, "connection_test_failed", f"{what}: {outcome.message}", reason=str(reason or ""),
                      recommendations=list(outcome.recommendations), connection_id=connection.pk,
                      authorization_status=Connection.objects.values_list("status", flat=True).get(pk=connection.pk))


@router.post("", response={201: ConnectionCreated, 400: Problem, 403: Problem, 404: Problem, 409: Problem,
                           422: Problem}, summary="Create a connection")
def connection_create(request, payload: ConnectionCreate):
    """Basic and API key: the credentials are tested, and kept only if they work (else 422 with the classified
    reason; the connection stays, not connected); with `shell_connection` it is created untested, without
    credentials. OAuth apps are created not connected and answered with the address where a person authorizes
    them. OAuth 2.0 client credentials (no person) are authorized at once."""
    require_privilege(request, "connections.add_connection")

    def create() -> tuple[int, dict]:
        return 201, _create(request, payload)

    status, body = idempotent_create(request, "connection_create", create)
    return status, body


def _create(request, payload: ConnectionCreate) -> dict:
    spec = AppSlot.from_catalog_key(payload.app).spec_or_none
    if spec is None:
        raise ApiProblem(400, "invalid_request", f"Check the request: “app”: Splice has no app “{payload.app}”.",
                         errors={"app": "is not an app of the catalog"})
    project = usable_projects(request.user).filter(pk=payload.project_id).first()
    if project is None:
        raise ApiProblem(404, "not_found", "There is no project with this id where you may create connections.")
    method_keys = [m.key for m in spec.auth]
    if payload.auth_method and payload.auth_method not in method_keys:
        raise ApiProblem(400, "invalid_request", f"Check the request: “auth_method”: {spec.name} takes "
                         f"{', '.join(method_keys)}.", errors={"auth_method": f"is one of {', '.join(method_keys)}"})
    method = spec.auth_method(payload.auth_method) if payload.auth_method else spec.auth[0]
    auth = auth_for(method.type)
    if payload.credentials and not auth.uses_credentials_form:
        raise ApiProblem(400, "invalid_request", f"Check the request: “credentials”: “{method.label}” takes no "
                         "credentials: it is authorized at its authorization URL.",
                         errors={"credentials": "are not taken by this auth method"})
    credentials = {}
    if auth.uses_credentials_form and (payload.credentials or not payload.shell_connection):
        credentials = _credentials(method, payload.credentials, required=True)
    mark = audit_mark()
    try:
        with transaction.atomic():
            connection = services.connection_create(
                project=project, connector_key=spec.key, name=payload.name, acting_user=request.user,
                auth_method=method.key, environment=payload.environment, settings_values=payload.settings,
                secret_settings=payload.secret_settings, description=payload.description,
                ip=request.META.get("REMOTE_ADDR"))
    except ValidationError as exc:
        raise problem_from_validation(exc, prefix_map=_SETTING_ERRORS) from None
    outcome = None
    if credentials and payload.shell_connection:
        try:
            services.connection_store_credentials_untested(connection=connection, acting_user=request.user,
                                                          credentials=credentials, ip=request.META.get("REMOTE_ADDR"))
        except ValidationError as exc:
            raise problem_from_validation(exc, prefix_map=_SETTING_ERRORS) from None
    elif credentials:
        outcome = services.connection_set_credentials(connection=connection, acting_user=request.user,
                                                      credentials=credentials, ip=request.META.get("REMOTE_ADDR"))
    elif not payload.shell_connection and not auth.uses_credentials_form and not auth.redirects(method):
        outcome = connection_authorize_client_credentials(connection=connection, acting_user=request.user,
                                                          ip=request.META.get("REMOTE_ADDR"))
    failed = outcome is not None and not outcome.ok
    api_write_record(request, operation="connection_create", object_type="connection", object_id=connection.pk,
                     status_code=422 if failed else 201, connection_events_after=mark,
                     summary=f"Created “{connection.name}”" + (f"; its test failed: {outcome.message}" if failed
                                                               else ""))
    if failed:
        raise _refused(outcome, connection, f"“{connection.name}” was created, but it is not connected")
    connected = outcome is not None
    return _answer(connection, authorization_url=None if connected else _authorization_url(connection))


# --- changing ---------------------------------------------------------------------------------------------------


@router.patch("/{id:connection_id}", response={200: ConnectionOut, 400: Problem, 403: Problem, 404: Problem,
                                                409: Problem, 422: Problem}, summary="Update a connection")
def connection_update(request, payload: ConnectionUpdate, connection_id: int = Path(..., gt=0, le=MAX_ID)):
    """Name, description, project and settings; new credentials are tested first and kept only if they work (422
    otherwise, with the rest saved). Settings that move its requests to another address erase the credentials:
    409 unless `confirm_address_change`."""
    require_privilege(request, "connections.change_connection")
    connection = _connection(request, connection_id, ProjectAccess.USE)
    spec = connection.app_slot.spec_or_none
    if spec is None:
        raise ApiProblem(409, "app_unavailable", "This connection's app is no longer in the catalog.")
    method = spec.auth_method(connection.auth_method)
    new_credentials = {}
    if payload.credentials is not None or payload.secret_settings:
        if not auth_for(method.type).uses_credentials_form:
            raise ApiProblem(400, "invalid_request", "Check the request: “credentials”: this connection is "
                             "authorized at its authorization URL.", errors={"credentials": "are not taken here"})
        new_credentials = _credentials(method, payload.credentials, required=False)
    project = None
    if payload.project_id is not None:
        project = usable_projects(request.user).filter(pk=payload.project_id).first()
        if project is None:
            raise ApiProblem(404, "not_found", "There is no project with this id where you may use connections.")
    mark = audit_mark()
    ip = request.META.get("REMOTE_ADDR")
    try:
        if payload.settings is not None and not payload.confirm_address_change:
            moving = services.connection_origin_change(connection=connection, settings_values=payload.settings)
            if moving is not None:
                raise ApiProblem(409, "address_change", f"These settings send the connection's requests to "
                                 f"{', '.join(moving[1])} instead of {', '.join(moving[0]) or '—'}: its credentials "
                                 "would be erased. Send confirm_address_change=true to save them, then authorize it "
                                 "again.", from_origins=moving[0], to_origins=moving[1])
        services.connection_update(connection=connection, acting_user=request.user, name=payload.name,
                                   description=payload.description, settings_values=payload.settings, ip=ip,
                                   project=project)
    except ValidationError as exc:
        raise problem_from_validation(exc, prefix_map=_SETTING_ERRORS) from None
    outcome = None
    if new_credentials or payload.secret_settings:
        outcome = services.connection_set_credentials(connection=connection, acting_user=request.user,
                                                      credentials=new_credentials,
                                                      secret_settings=payload.secret_settings or {}, ip=ip)
    failed = outcome is not None and not outcome.ok
    api_write_record(request, operation="connection_update", object_type="connection", object_id=connection.pk,
                     status_code=422 if failed else 200, connection_events_after=mark,
                     summary="Updated" + (f"; the new credentials failed their test: {outcome.message}" if failed
                                          else ""))
    if failed:
        raise _refused(outcome, connection, "The rest was saved, but the new credentials were not kept")
    return _answer(connection)


@router.post("/{id:connection_id}/test", response={200: TestOut, 403: Problem, 404: Problem},
             summary="Test a connection")
def connection_test(request, connection_id: int = Path(..., gt=0, le=MAX_ID)):
    """Run the app's test request now and record what it found (status, identity, audit), as “Test now” does."""
    require_privilege(request, "connections.test_connection")
    connection = _connection(request, connection_id, ProjectAccess.USE)
    mark = audit_mark()
    outcome = services.connection_test(connection=connection, acting_user=request.user,
                                       ip=request.META.get("REMOTE_ADDR"))
    api_write_record(request, operation="connection_test", object_type="connection", object_id=connection.pk,
                     status_code=200, summary=outcome.message, connection_events_after=mark)
    return {"ok": outcome.ok, "message": outcome.message,
            "reason": None if outcome.ok or outcome.verdict is None else str(outcome.verdict.kind),
            "recommendations": list(outcome.recommendations), "connection": _answer(connection)}


def _in_use(exc: services.ConnectionInUse, detail: str) -> ApiProblem:
    names = ", ".join(f"“{recipe.name}”" for recipe in exc.recipes)
    return ApiProblem(409, "connection_in_use", f"{detail} {names}.",
                      recipes=[{"id": r.pk, "name": r.name, "running": r.running} for r in exc.recipes])


@router.post("/{id:connection_id}/disconnect", response={200: ConnectionOut, 403: Problem, 404: Problem,
                                                          409: Problem}, summary="Disconnect a connection")
def connection_disconnect(request, connection_id: int = Path(..., gt=0, le=MAX_ID), force: bool = False):
    """Revoke its tokens where the app allows, erase its credentials, mark it disconnected. While running recipes
    use it: 409 naming them, unless `force` (they are stopped, and show the design-time error). A disconnected
    connection is answered as it is: nothing changes."""
    require_privilege(request, "connections.change_connection")
    connection = _connection(request, connection_id, ProjectAccess.USE)
    if connection.status == Connection.Status.DISCONNECTED:
        return _answer(connection)
    mark = audit_mark()
    try:
        services.connection_disconnect(connection=connection, acting_user=request.user, force=force,
                                       ip=request.META.get("REMOTE_ADDR"))
    except services.ConnectionInUse as exc:
        raise _in_use(exc, "Running recipes use this connection; send force=true to disconnect it anyway, which "
                           "stops them:") from None
    api_write_record(request, operation="connection_disconnect", object_type="connection", object_id=connection.pk,
                     status_code=200, summary="Disconnected" + (" (force)" if force else ""),
                     connection_events_after=mark)
    return _answer(connection)


@router.delete("/{id:connection_id}", response={204: None, 403: Problem, 404: Problem, 409: Problem},
               summary="Delete a connection")
def connection_delete(request, connection_id: int = Path(..., gt=0, le=MAX_ID)):
    """Only a disconnected connection that no recipe uses: 409 otherwise, naming the recipes."""
    require_privilege(request, "connections.delete_connection")
    connection = _connection(request, connection_id, ProjectAccess.USE)
    name = connection.name
    try:
        services.connection_delete(connection=connection, acting_user=request.user,
                                   ip=request.META.get("REMOTE_ADDR"))
    except services.ConnectionInUse as exc:
        raise _in_use(exc, "Recipes still use this connection: remove it from") from None
    except ValidationError as exc:
        raise ApiProblem(409, "connection_not_disconnected", " ".join(exc.messages)) from None
    api_write_record(request, operation="connection_delete", object_type="connection", object_id=connection_id,
                     status_code=204, summary=f"Deleted “{name}”")
    return 204, None


@router.get("/{id:connection_id}/authorization_url", response={200: AuthorizationUrlOut, 403: Problem,
                                                                404: Problem},
            summary="Where to (re-)authorize a connection")
def connection_authorization_url(request, connection_id: int = Path(..., gt=0, le=MAX_ID)):
    """The Splice page where a person signed in as someone allowed to authorize it connects it (OAuth: on to the
    app's consent page and back; Basic and API key: the credentials form). An OAuth flow is bound to the browser
    session that begins it, so the API hands out this page, not a flow of its own that no browser could finish."""
    require_privilege(request, "connections.add_connection")
    connection = _connection(request, connection_id, ProjectAccess.USE)
    if connection.authorized_at is not None:
        require_privilege(request, "connections.change_connection")  # re-authorizing edits it, as on the page
    return {"authorization_url": _authorization_url(connection)}

"""Reads of recipes that apply project access."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import F, Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Project, ProjectAccess
from accounts.selectors import projects_for_user
from connections.catalog.app_slot import AppSlot
from connections.models import Connection
from connections.selectors import connections_for_user
from recipes.models import ConnectionBinding, Recipe, Step

__all__ = ["CANDIDATES_PER_APP", "ConnectionChoice", "candidate_connections_for_user", "recipe_for_user_or_404",
           "recipes_for_user", "recipes_page", "visible_connection_ids", "with_editor_data"]

CANDIDATES_PER_APP = 100
# Values no connector key or slot can have (keys are lowercase words), replaced by each app's in the SQL.
_APP_PLACEHOLDER, _SLOT_PLACEHOLDER = "\x00connector_key", "\x00slot"

KIND_FILTERS = set(Recipe.Kind.values)
STATUS_LABELS = dict(Connection.Status.choices)


def recipes_for_user(user, access: ProjectAccess = ProjectAccess.VIEW) -> QuerySet[Recipe]:
    return Recipe.objects.filter(project__in=projects_for_user(user, access))


def recipe_for_user_or_404(user, pk, access: ProjectAccess = ProjectAccess.VIEW) -> Recipe:
    return get_object_or_404(recipes_for_user(user, access).select_related("project"), pk=pk)


def with_editor_data(queryset: QuerySet[Recipe]) -> QuerySet[Recipe]:
    """Steps in order and bindings with their connections (and their projects, which the editor names): what
    design-time errors need, in 2 queries."""
    return queryset.prefetch_related(
        Prefetch("steps", queryset=Step.objects.order_by("position")),
        Prefetch("bindings", queryset=ConnectionBinding.objects.select_related("connection__project")),
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


@dataclass(frozen=True)
class ConnectionChoice:
    """A connection as the editor's select lists offer it: plain values, cheaper to load than a model."""

    pk: int
    name: str
    project_name: str
    status: str

    @classmethod
    def of(cls, connection: Connection) -> ConnectionChoice:
        return cls(connection.pk, connection.name, connection.project.name, connection.status)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


def visible_connection_ids(user, connections: Iterable[Connection | None]) -> set[int]:
    """Which of `connections` the user can see (connections_for_user): a recipe page shows nothing of the others,
    which a recipe may still be bound to (bound before bindings were kept to the recipe's project). One query."""
    ids = {c.pk for c in connections if c is not None}
    if not ids:
        return set()
    return set(connections_for_user(user).filter(pk__in=ids).values_list("pk", flat=True))


def candidate_connections_for_user(user, apps: Iterable[AppSlot], per_app: int = CANDIDATES_PER_APP, *,
                                   project: Project | None = None) -> dict[AppSlot, list[ConnectionChoice]]:
    """Up to `per_app` shared connections the user may use for each app (connector and slot), in `project` when given
    (the recipe's: a recipe uses only its own project's connections): healthy ones first, then by name. One query,
    whatever the number of apps. Personal (runtime user) connections are never offered.

    The query is a UNION ALL of one `ORDER BY … LIMIT per_app` part per app, so the database keeps only the
    first rows of each app as it reads them. ROW_NUMBER() OVER (PARTITION BY app), the other way to cap each
    app in one query, sorts every usable connection of every app first: with thousands of connections in one
    app it measured several times slower on both SQLite and PostgreSQL. Django's `union()` refuses sliced
    parts on SQLite, and compiling the access rules once per app cost more than the SQL, so the part is
    compiled once, for placeholder app values, and repeated with each app's values.
    """
    apps = list(dict.fromkeys(apps))
    if not apps:
        return {}
    usable = connections_for_user(user, ProjectAccess.USE).filter(owner__isnull=True)
    if project is not None:
        usable = usable.filter(project_id=project.pk)
    one_app = (
        usable
        .filter(connector_key=_APP_PLACEHOLDER, slot=_SLOT_PLACEHOLDER)
        .annotate(project_name=F("project__name"))
        .order_by("status", "name", "pk")
        .values_list("pk", "name", "project_name", "status", "connector_key", "slot")[:per_app]
    )
    by_app: dict[AppSlot, list[ConnectionChoice]] = {app: [] for app in apps}
    try:
        part_sql, part_params = one_app.query.sql_with_params()
    except EmptyResultSet:  # no project to use
        return by_app
    # Built from the ORM's own SQL and parameters: no value is put in the SQL text.
    sql = " UNION ALL ".join(f"SELECT * FROM ({part_sql}) AS app_{n}" for n in range(len(apps)))  # noqa: S608
    params = [
        app.connector_key if value == _APP_PLACEHOLDER else app.slot if value == _SLOT_PLACEHOLDER else value
        for app in apps for value in part_params
    ]
    with connections[one_app.db].cursor() as cursor:
        # Each app's rows together, in the order of its part: connector key, slot, status, name, pk.
        cursor.execute(f"{sql} ORDER BY 5, 6, 4, 2, 1", params)
        for pk, name, project_name, status, connector_key, slot in cursor.fetchall():
            by_app[AppSlot(connector_key, slot)].append(ConnectionChoice(pk, name, project_name, status))
    return by_app

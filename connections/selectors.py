"""Reads of connections that apply project access, with what the pages show about each."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection as db_connection
from django.db.models import Case, Count, DateTimeField, F, Q, QuerySet, Value, When, Window
from django.utils import timezone

from accounts.models import Project, ProjectAccess
from accounts.selectors import projects_for_user
from config.converters import MAX_ID, parse_id
from connections import usage
from connections.catalog.app_slot import AppSlot
from connections.models import AuditEvent, Connection, ConnectionCheck, HealthSweep, OAuthProfile

__all__ = [
    "NAV_COUNT_LIMIT",
    "SORTS",
    "ConnectionFilters",
    "ExpiringConnection",
    "HealthSummary",
    "audit_events_for_user",
    "connection_for_user_or_404",
    "connection_recent_checks",
    "connections_expiring",
    "connections_for_user",
    "connections_needing_attention",
    "connections_page",
    "health_summary_for_user",
    "nav_counts_for_user",
]

SORTS = {
    "name": ("name", "pk"),
    "-name": ("-name", "-pk"),
    "app": ("connector_key", "name"),
    "status": ("status", "name"),
    "project": ("project__name", "name"),
    "checked": ("-last_checked_at", "name"),
    "created": ("-created_at", "-pk"),
}


def connections_for_user(user, access: ProjectAccess = ProjectAccess.VIEW, *,
                         projects: Collection[Project] | None = None,
                         include_pending: bool = False, shared_only: bool = False) -> QuerySet[Connection]:
    """Shared connections in the projects where the user has `access`, and the user's own runtime user connections
    there (`shared_only` leaves those out).

    A page that has already read those projects (`projects_for_user(user, access)`, for its project filter) passes
    them: a list of ids is cheaper to build than guardian's nested permission subqueries, and plans better.
    A connection the wizard made and nobody has authorized yet (pending) is left out unless `include_pending`.
    """
    in_projects = (Q(project__in=[project.pk for project in projects]) if projects is not None
                   else Q(project__in=projects_for_user(user, access)))
    whose = Q(owner__isnull=True)
    if user.is_authenticated and not shared_only:
        whose |= Q(owner=user)
    queryset = Connection.objects.filter(in_projects, whose)
    return queryset if include_pending else queryset.filter(pending_until__isnull=True)


def connection_for_user_or_404(user, pk, access: ProjectAccess = ProjectAccess.VIEW, *,
                               related: Collection[str] = ()) -> Connection:
    """The connection if the user may see it (pending ones too: the wizard's authorize step and the OAuth callback
    find those). A person's own runtime user connection is theirs wherever its project is; others' are seen by
    those with "Manage runtime user connections" and access to the project. Anything else is a 404. `related`
    names relations a page shows, read in the same statement.

    One predicate on the row found by its key, not a membership test against every visible connection: that
    subquery would read all of them to answer for one.
    """
    from django.shortcuts import get_object_or_404

    in_projects = Q(project__in=projects_for_user(user, access))
    if not user.is_authenticated:
        visible = in_projects & Q(owner__isnull=True)
    elif user.has_perm("connections.manage_runtime_connections"):
        visible = in_projects | Q(owner=user)
    else:
        visible = (in_projects & Q(owner__isnull=True)) | Q(owner=user)
    return get_object_or_404(Connection.objects.filter(visible).select_related("project", *related), pk=pk)


def attach_usage(connections: list[Connection]) -> list[Connection]:
    """Set `recipe_count` and `running_count` on a page of connections, in one grouped query.

    Counting per page, not in the list query, keeps that query from grouping every row before LIMIT.
    """
    found = usage.counts([c.pk for c in connections])
    for connection in connections:
        connection.recipe_count, connection.running_count = found.get(connection.pk, (0, 0))
    return connections


@dataclass(frozen=True)
class ConnectionFilters:
    q: str = ""
    project: int | None = None
    app: str = ""
    status: str = ""
    environment: str = ""
    sort: str = "name"
    # Runtime user connections (a person's own, made from a shared one) are listed only when asked for.
    personal: bool = False

    @classmethod
    def from_query(cls, params) -> ConnectionFilters:
        """Read the list's filters from a query string, ignoring values that make no sense."""
        project = params.get("project", "")
        status = params.get("status", "")
        environment = params.get("environment", "")
        sort = params.get("sort", "name")
        return cls(
            q=params.get("q", "").strip()[:100],
            project=parse_id(project),
            app=params.get("app", "").strip()[:80],
            status=status if status in {*Connection.Status.values, "attention"} else "",
            environment=environment if environment in Connection.Environment.values else "",
            sort=sort if sort in SORTS else "name",
            personal=params.get("personal", "") == "1",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.project or self.app or self.status or self.environment or self.personal)


# What a row of the connections page shows (Connection.app_slot reads the slot); the rest stays in the database.
_LIST_ROW_FIELDS = ("name", "connector_key", "slot", "project", "identity", "environment", "status", "error_reason",
                   "error_since", "last_checked_at")


def connections_page(visible: QuerySet[Connection], filters: ConnectionFilters, *, number: int | str | None,
                     per_page: int) -> Page:
    """One page of the connections list: `visible` (`connections_for_user`) filtered and sorted, each row with its
    project and usage counts (`attach_usage`).

    The sort runs on a narrow query (ids and sort keys, which an index can cover) and only the page's rows are
    then read in full: sorting thousands of whole rows to keep 50 cost most of the page. Without a text search the
    count comes from an index; a text search must read every row it looks at, so its page carries the count.
    """
    ordering = SORTS[filters.sort]
    matching = _filtered(visible, filters).order_by(*ordering)
    page = (_page_counted_alongside(matching, number, per_page) if filters.q
            else Paginator(matching.values_list("pk", flat=True), per_page).get_page(number))
    rows = (Connection.objects.filter(pk__in=page.object_list).select_related("project")
            .only(*_LIST_ROW_FIELDS, "project__name").order_by(*ordering))
    page.object_list = attach_usage(list(rows))
    return page


def _page_counted_alongside(matching: QuerySet, number: int | str | None, per_page: int) -> Page:
    """The page's ids with the number of all matching rows beside each (COUNT(*) OVER ()), in one statement where
    Paginator would run two that both read every match. Past the last page, Paginator's own count and clamping."""
    paginator = Paginator(matching.values_list("pk", flat=True), per_page)
    wanted = 1 if number in (None, "") else parse_id(number)
    if wanted is None or wanted > MAX_ID // per_page:
        return paginator.get_page(number)  # no page number, or past any end: Paginator answers as on every list
    start = (wanted - 1) * per_page
    rows = list(matching.annotate(matches=Window(Count("pk"))).values_list("pk", "matches")[start:start + per_page])
    if not rows:
        return paginator.get_page(number)
    paginator.count = rows[0][1]
    page = paginator.page(wanted)
    page.object_list = [pk for pk, _ in rows]
    return page


def _filtered(queryset: QuerySet[Connection], filters: ConnectionFilters) -> QuerySet[Connection]:
    if filters.q:
        queryset = queryset.filter(Q(name__icontains=filters.q) | Q(identity__icontains=filters.q))
    if filters.project:
        queryset = queryset.filter(project_id=filters.project)
    if filters.app:
        queryset = queryset.filter(**AppSlot.from_catalog_key(filters.app).lookup())
    if filters.status == "attention":
        queryset = queryset.filter(status=Connection.Status.ERROR)
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.environment:
        queryset = queryset.filter(environment=filters.environment)
    return queryset


def usable_projects(user) -> QuerySet[Project]:
    """Projects where the user may create and use connections."""
    return projects_for_user(user, ProjectAccess.USE).order_by("name")


def audit_events_for_user(user, *, connection: int | None = None, actor: int | None = None,
                          action: str = "") -> QuerySet[AuditEvent]:
    """Audit events of connections in projects the user can see (deleted connections' too)."""
    queryset = AuditEvent.objects.filter(project__in=projects_for_user(user)).select_related("actor", "connection")
    if connection:
        queryset = queryset.filter(connection_id=connection)
    if actor:
        queryset = queryset.filter(actor_id=actor)
    if action:
        queryset = queryset.filter(action=action)
    return queryset


# --- health -------------------------------------------------------------------------------------

_SECRET_COLUMNS = ("access_token", "refresh_token", "previous_refresh_token", "token_secret", "password", "api_key",
                   "api_secret", "secret_settings", "data_key")


@dataclass(frozen=True)
class ExpiringConnection:
    connection: Connection
    what: str  # "refresh token" or "OAuth client secret"
    expires_at: datetime


def connections_expiring(queryset: QuerySet[Connection], *, now: datetime | None = None,
                         limit: int | None = 20) -> list[ExpiringConnection]:
    """Connections (of `queryset`) whose refresh token or OAuth client secret (their own profile's, else the
    app's default profile's) expires within SPLICE_EXPIRY_WARNING_DAYS, soonest first.

    The OAuth profiles whose secret expires soon are few, so they are read first (one query); then one indexed
    query finds the soonest refresh tokens and, only when some profile expires, another the connections using those
    profiles. Each is sorted and cut at `limit` (None: all), and the two merge here: a connection missing from a
    list has `limit` others before it there, so the merged first `limit` are exact.
    """
    now = now or timezone.now()
    until = now + timedelta(days=settings.SPLICE_EXPIRY_WARNING_DAYS)
    active = queryset.filter(status__in=[Connection.Status.CONNECTED, Connection.Status.ERROR]) \
        .select_related("project").defer(*_SECRET_COLUMNS)
    found: dict[int, ExpiringConnection] = {}
    refresh = active.filter(refresh_token_expires_at__gt=now, refresh_token_expires_at__lte=until) \
        .order_by("refresh_token_expires_at", "pk")
    for row in refresh[:limit]:
        found[row.pk] = ExpiringConnection(row, "refresh token", row.refresh_token_expires_at)
    profiles = list(OAuthProfile.objects.filter(client_secret_expires_at__gt=now, client_secret_expires_at__lte=until)
                    .values_list("pk", "connector_key", "is_default", "client_secret_expires_at"))
    if profiles:
        # A connection with its own profile uses that one's secret; one authorized without uses its app's default.
        uses_default = Q(oauth_profile__isnull=True) & ~Q(access_token="")
        own = {pk: expires for pk, _, _, expires in profiles}
        default = {key: expires for _, key, is_default, expires in profiles if is_default}
        secret_expires = Case(
            *[When(oauth_profile=pk, then=Value(expires)) for pk, expires in own.items()],
            *[When(uses_default & Q(connector_key=key), then=Value(expires)) for key, expires in default.items()],
            output_field=DateTimeField(),
        )
        secret = active.filter(Q(oauth_profile__in=list(own)) | (uses_default & Q(connector_key__in=list(default)))) \
            .annotate(secret_expires_at=secret_expires).order_by("secret_expires_at", "pk")
        for row in secret[:limit]:
            if row.pk not in found or row.secret_expires_at < found[row.pk].expires_at:
                found[row.pk] = ExpiringConnection(row, "OAuth client secret", row.secret_expires_at)
    return sorted(found.values(), key=lambda item: (item.expires_at, item.connection.pk))[:limit]


NAV_COUNT_LIMIT = 99  # the badge says "99+" beyond: a number nobody reads exactly, and counting stops there


def nav_counts_for_user(user) -> dict[str, int]:
    """For the top navigation, in one query: connections needing attention (in error, in projects the user can
    see: shared ones and the user's own runtime user connections, as its link lists them; 0 without the "View
    connections" privilege), up to NAV_COUNT_LIMIT + 1. Unread notifications are accounts' (its context processor).

    The badge is on every page, so its cost must not grow with the connections, nor be the page's largest:
    - the count stops past the limit (the health page has the exact numbers);
    - the shared ones and the user's own are the two parts of one UNION ALL, each read from an index alone (an OR
      of the two reads every row in error);
    - the statement is written out around the projects' subquery (projects_for_user, the one rule of access):
      building the same through the ORM, twice over guardian's nested subqueries, took twice as long as running it.
    """
    if not user.has_perm("connections.view_connection"):
        return {"attention": 0}
    # Only SQL that Django compiled and a quoted table name are formatted in; every value is a parameter.
    projects, params = projects_for_user(user).values("pk").query.sql_with_params()
    part = (f"SELECT 1 FROM {db_connection.ops.quote_name(Connection._meta.db_table)} WHERE status = %s "  # noqa: S608
            f"AND pending_until IS NULL AND project_id IN ({projects})")
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({part} AND owner_id IS NULL UNION ALL {part} AND owner_id = %s "  # noqa: S608
                       f"LIMIT %s) attention",
                       [Connection.Status.ERROR, *params, Connection.Status.ERROR, *params, user.pk,
                        NAV_COUNT_LIMIT + 1])
        return {"attention": cursor.fetchone()[0]}


def connections_needing_attention(queryset: QuerySet[Connection], limit: int = 20) -> QuerySet[Connection]:
    """Connections in error, longest failing first."""
    return (queryset.filter(status=Connection.Status.ERROR).select_related("project").defer(*_SECRET_COLUMNS)
            .order_by(F("error_since").asc(nulls_last=True), "pk")[:limit])


def connection_recent_checks(connection: Connection, limit: int = 10) -> QuerySet[ConnectionCheck]:
    return connection.checks.select_related("actor")[:limit]


_PERIOD_SECONDS = {"microseconds": 1e-6, "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


@dataclass(frozen=True)
class HealthSummary:
    by_status: list[tuple[str, int]]
    by_reason: list[tuple[str, int]]
    oldest_failures: list[Connection]
    last_sweep: HealthSweep | None
    running_sweep: HealthSweep | None
    schedule_enabled: bool
    next_sweep_at: datetime | None
    interval_seconds: int | None

    @property
    def interval_text(self) -> str:
        """"Every 15 minutes", "Every hour", "Every 90 seconds": the schedule as people say it."""
        seconds = int(self.interval_seconds or 0)
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
            if seconds and seconds % size == 0:
                count = seconds // size
                return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
        return "On a schedule"


def health_summary_for_user(user) -> HealthSummary:
    """The health page: the user's connections by status and reason, the oldest failures, and the sweep's
    schedule (from django-celery-beat) and last run."""
    from django_celery_beat.models import PeriodicTask

    mine = connections_for_user(user)
    statuses = dict(mine.order_by().values_list("status").annotate(n=Count("pk")))
    reasons = dict(mine.filter(status=Connection.Status.ERROR).order_by().values_list("error_reason")
                   .annotate(n=Count("pk")))
    task = PeriodicTask.objects.filter(task="splice.health.sweep").select_related("interval", "crontab").first()
    # Beat writes the task's last run only when it syncs (every few minutes, never before its first run); the sweep
    # records its own runs, so the later of the two is the last run.
    last_sweep = HealthSweep.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    started = [moment for moment in (task and task.last_run_at, last_sweep and last_sweep.started_at) if moment]
    next_at = None
    if task is not None and task.enabled and started:
        next_at = timezone.now() + task.schedule.remaining_estimate(max(started))
    return HealthSummary(
        by_status=[(label, statuses.get(value, 0)) for value, label in Connection.Status.choices],
        by_reason=[(label, reasons.get(value, 0)) for value, label in Connection.ErrorReason.choices],
        oldest_failures=list(connections_needing_attention(mine, limit=10)),
        last_sweep=last_sweep,
        running_sweep=HealthSweep.objects.filter(running=True).first(),
        schedule_enabled=bool(task and task.enabled),
        next_sweep_at=next_at,
        interval_seconds=task.interval.every * _PERIOD_SECONDS.get(task.interval.period, 1)
        if task is not None and task.interval_id else None,
    )

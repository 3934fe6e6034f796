"""Reads of connections that apply project access, with what the pages show about each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Case, Count, DateTimeField, F, Func, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from accounts.models import Project, ProjectAccess
from accounts.selectors import projects_for_user
from connections.models import AuditEvent, Connection, ConnectionCheck, HealthSweep, Notification, OAuthProfile

__all__ = [
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
    "notifications_for_user",
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


def connections_for_user(user, access: ProjectAccess = ProjectAccess.VIEW) -> QuerySet[Connection]:
    """Shared connections in the projects where the user has `access` (personal ones are their owners')."""
    return Connection.objects.filter(project__in=projects_for_user(user, access)).filter(
        Q(owner__isnull=True) | Q(owner=user) if user.is_authenticated else Q(owner__isnull=True)
    )


def connection_for_user_or_404(user, pk, access: ProjectAccess = ProjectAccess.VIEW) -> Connection:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(connections_for_user(user, access).select_related("project"), pk=pk)


def attach_usage(connections: list[Connection]) -> list[Connection]:
    """Set `recipe_count` and `running_count` on a page of connections, in one grouped query.

    Counting per page, not in the list query, keeps that query from grouping every row before LIMIT.
    """
    from recipes.models import ConnectionBinding

    counts = {
        row["connection_id"]: row
        for row in ConnectionBinding.objects.filter(connection__in=[c.pk for c in connections])
        .values("connection_id")
        .annotate(recipes=Count("recipe", distinct=True),
                  running=Count("recipe", filter=Q(recipe__running=True), distinct=True))
    }
    for connection in connections:
        row = counts.get(connection.pk, {})
        connection.recipe_count, connection.running_count = row.get("recipes", 0), row.get("running", 0)
    return connections


@dataclass(frozen=True)
class ConnectionFilters:
    q: str = ""
    project: int | None = None
    app: str = ""
    status: str = ""
    environment: str = ""
    sort: str = "name"

    @classmethod
    def from_query(cls, params) -> ConnectionFilters:
        """Read the list's filters from a query string, ignoring values that make no sense."""
        project = params.get("project", "")
        status = params.get("status", "")
        environment = params.get("environment", "")
        sort = params.get("sort", "name")
        return cls(
            q=params.get("q", "").strip()[:100],
            project=int(project) if project.isdigit() else None,
            app=params.get("app", "").strip()[:80],
            status=status if status in {*Connection.Status.values, "attention"} else "",
            environment=environment if environment in Connection.Environment.values else "",
            sort=sort if sort in SORTS else "name",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.project or self.app or self.status or self.environment)


def connections_page(user, filters: ConnectionFilters) -> QuerySet[Connection]:
    """The connections page's rows: filtered and sorted, with their project (usage: `attach_usage`)."""
    queryset = connections_for_user(user).select_related("project").defer(
        "access_token", "refresh_token", "previous_refresh_token", "token_secret", "password", "api_key",
        "api_secret", "secret_settings", "data_key",
    )
    if filters.q:
        queryset = queryset.filter(Q(name__icontains=filters.q) | Q(identity__icontains=filters.q))
    if filters.project:
        queryset = queryset.filter(project_id=filters.project)
    if filters.app:
        secondary = filters.app.endswith("_secondary")
        queryset = queryset.filter(
            connector_key=filters.app.removesuffix("_secondary"),
            slot=Connection.Slot.SECONDARY if secondary else Connection.Slot.PRIMARY,
        )
    if filters.status == "attention":
        queryset = queryset.filter(status=Connection.Status.ERROR)
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.environment:
        queryset = queryset.filter(environment=filters.environment)
    return queryset.order_by(*SORTS[filters.sort])


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

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
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
    app's default profile's) expires within SPLICE_EXPIRY_WARNING_DAYS, soonest first. One query."""
    now = now or timezone.now()
    until = now + timedelta(days=settings.SPLICE_EXPIRY_WARNING_DAYS)
    default_secret = OAuthProfile.objects.filter(connector_key=OuterRef("connector_key"), is_default=True) \
        .values("client_secret_expires_at")[:1]
    secret_expires = Case(
        When(oauth_profile__isnull=False, then=F("oauth_profile__client_secret_expires_at")),
        When(~Q(access_token=""), then=Subquery(default_secret)),
        default=None, output_field=DateTimeField(),
    )
    far = Value(_FAR_FUTURE, output_field=DateTimeField())
    # Narrow first with plain filters (one small query for the apps whose default profile is expiring), so
    # the CASE expressions below run on the few candidates, not on every connection.
    soon = {"gt": now, "lte": until}
    expiring_defaults = list(OAuthProfile.objects.filter(
        is_default=True, client_secret_expires_at__gt=now, client_secret_expires_at__lte=until,
    ).values_list("connector_key", flat=True))
    candidates = Q(**{f"refresh_token_expires_at__{op}": v for op, v in soon.items()}) | Q(
        **{f"oauth_profile__client_secret_expires_at__{op}": v for op, v in soon.items()})
    if expiring_defaults:
        candidates |= Q(oauth_profile__isnull=True, connector_key__in=expiring_defaults) & ~Q(access_token="")
    rows = (
        queryset.filter(status__in=[Connection.Status.CONNECTED, Connection.Status.ERROR])
        .filter(candidates)
        .annotate(secret_expires_at=secret_expires)
        .annotate(
            refresh_soon=Case(When(refresh_token_expires_at__gt=now, refresh_token_expires_at__lte=until,
                                   then=F("refresh_token_expires_at")), default=far),
            secret_soon=Case(When(secret_expires_at__gt=now, secret_expires_at__lte=until,
                                  then=F("secret_expires_at")), default=far),
        )
        .annotate(soonest=Least("refresh_soon", "secret_soon"))
        .filter(soonest__lt=_FAR_FUTURE)
        .select_related("project").defer(*_SECRET_COLUMNS)
        .order_by("soonest", "pk")
    )
    if limit is not None:
        rows = rows[:limit]
    return [
        ExpiringConnection(row, "refresh token" if row.refresh_soon <= row.secret_soon else "OAuth client secret",
                           row.soonest)
        for row in rows
    ]


def _count(queryset: QuerySet) -> Coalesce:
    """COUNT(*) of a queryset as a subquery expression."""
    counted = queryset.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")[:1]
    return Coalesce(Subquery(counted), 0)


def nav_counts_for_user(user) -> dict[str, int]:
    """For the top navigation, in one query: connections needing attention (in error, in projects the user can
    see; 0 without the "View connections" privilege) and unread notifications."""
    from accounts.models import User

    counts = {"unread": _count(Notification.objects.filter(recipient=user, read_at__isnull=True))}
    if user.has_perm("connections.view_connection"):
        counts["attention"] = _count(connections_for_user(user).filter(status=Connection.Status.ERROR))
    row = User.objects.filter(pk=user.pk).values(**counts).first() or {}
    return {"attention": row.get("attention", 0), "unread": row.get("unread", 0)}


def connections_needing_attention(queryset: QuerySet[Connection], limit: int = 20) -> QuerySet[Connection]:
    """Connections in error, longest failing first."""
    return (queryset.filter(status=Connection.Status.ERROR).select_related("project").defer(*_SECRET_COLUMNS)
            .order_by(F("error_since").asc(nulls_last=True), "pk")[:limit])


def connection_recent_checks(connection: Connection, limit: int = 10) -> QuerySet[ConnectionCheck]:
    return connection.checks.select_related("actor")[:limit]


def notifications_for_user(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).select_related("connection")


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


def health_summary_for_user(user) -> HealthSummary:
    """The health page: the user's connections by status and reason, the oldest failures, and the sweep's
    schedule (from django-celery-beat) and last run."""
    from django_celery_beat.models import PeriodicTask

    mine = connections_for_user(user)
    statuses = dict(mine.order_by().values_list("status").annotate(n=Count("pk")))
    reasons = dict(mine.filter(status=Connection.Status.ERROR).order_by().values_list("error_reason")
                   .annotate(n=Count("pk")))
    task = PeriodicTask.objects.filter(task="splice.health.sweep").select_related("interval", "crontab").first()
    next_at = None
    if task is not None and task.enabled and task.last_run_at:
        next_at = timezone.now() + task.schedule.remaining_estimate(task.last_run_at)
    return HealthSummary(
        by_status=[(label, statuses.get(value, 0)) for value, label in Connection.Status.choices],
        by_reason=[(label, reasons.get(value, 0)) for value, label in Connection.ErrorReason.choices],
        oldest_failures=list(connections_needing_attention(mine, limit=10)),
        last_sweep=HealthSweep.objects.filter(finished_at__isnull=False).order_by("-finished_at").first(),
        running_sweep=HealthSweep.objects.filter(running=True).first(),
        schedule_enabled=bool(task and task.enabled),
        next_sweep_at=next_at,
        interval_seconds=task.interval.every * _PERIOD_SECONDS.get(task.interval.period, 1)
        if task is not None and task.interval_id else None,
    )

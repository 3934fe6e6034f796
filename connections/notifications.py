"""What connections tell people: that a connection broke, recovered, or has credentials about to expire. The
notifications and their emails are accounts' (accounts.services.notification_send); this module decides who is
told what, and when.

    on_status_changed(...)             the receiver of `connection_status_changed` (connected in connections.apps)
    connection_status_notify(...)      broke or recovered: to its owner and its project's managers
    connection_failures_announce(...)  a sweep's step: breaks that nobody was told about yet
    connection_expiry_notify(...)      a refresh token or OAuth client secret expires soon (health_expiry_warn)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import get_users_with_perms

from accounts.models import Notification, ProjectAccess, User
from accounts.services import notification_send, notifications_resolve
from connections import usage
from connections.models import Connection
from connections.problems import RECOMMENDATIONS, Kind, recommendations_for
from connections.status import credentials_phrase

__all__ = [
    "BROKE",
    "EXPIRING",
    "RECOVERED",
    "connection_expiry_notify",
    "connection_failures_announce",
    "connection_status_notify",
    "on_status_changed",
]

logger = logging.getLogger(__name__)

Status = Connection.Status
Reason = Connection.ErrorReason

# The kinds of notification connections send, and what a person reads for each.
BROKE, RECOVERED, EXPIRING = "broke", "recovered", "expiring"
KIND_LABELS = {
    BROKE: "Connection needs attention",
    RECOVERED: "Connection working again",
    EXPIRING: "Credentials expiring soon",
}
WHY_SENT = "You get this because you own this connection or manage its project."


def on_status_changed(sender, *, connection: Connection, before: tuple[str, str], after: tuple[str, str],
                      **kwargs) -> None:
    """`connection_status_changed` (sent once the change is committed) → connection_status_notify. A failure
    here is logged: the change stays recorded, and the next sweep announces a break nobody was told about."""
    try:
        connection_status_notify(connection=connection, before=before, after=after)
    except Exception:
        logger.exception("Could not notify about connection %s (%s → %s)", connection.pk, before, after)


def connection_status_notify(*, connection: Connection, before: tuple[str, str],
                             after: tuple[str, str]) -> list[Notification]:
    """Tell the connection's owner and its project's managers that it broke or recovered.

    Broke (→ error, or another reason): at most once per connection and reason per SPLICE_NOTIFY_EVERY
    seconds (a sweep announces it later if it is still broken then). Recovered (error → connected): the break's
    notices are marked resolved, and once, to close a break that was announced, a "working again" notice. A
    connection that changed again meanwhile, or is gone, is left to the next change's notice.
    """
    status_before, reason_before = before
    with transaction.atomic():
        # Locked: two changes of one connection are told one after the other, each seeing the other's notices.
        connection = (Connection.objects.select_for_update(of=("self",)).select_related("project")
                      .filter(pk=connection.pk).first())
        if connection is None or (connection.status, connection.error_reason) != tuple(after):
            return []
        if connection.status == Status.ERROR:
            return _notify_broke(connection, throttle=True)
        if connection.status == Status.CONNECTED and status_before == Status.ERROR:
            # What "needs attention" asked for is done: the notice stays, marked resolved, without its button.
            notifications_resolve(subject=connection, kinds=[BROKE])
            if _last_told(connection) == BROKE:
                return _notify_recovered(connection, reason_before=reason_before)
    return []


def _last_told(connection: Connection) -> str | None:
    """Whether people were last told that the connection broke or that it recovered (None: neither)."""
    return (Notification.objects.about(connection).filter(kind__in=[BROKE, RECOVERED])
            .order_by("-created_at", "-pk").values_list("kind", flat=True).first())


def connection_failures_announce(*, now: datetime) -> int:
    """Connections in error that nobody was told about (a repeat break held back by SPLICE_NOTIFY_EVERY, or a
    break from before notifications existed) are announced once the hold is over. Returns how many."""
    about = Notification.objects.filter(subject_type=ContentType.objects.get_for_model(Connection),
                                        subject_id=OuterRef("pk"), kind=BROKE, reason=OuterRef("error_reason"))
    announced = about.filter(created_at__gte=OuterRef("error_since"))
    held = about.filter(created_at__gte=now - timedelta(seconds=settings.SPLICE_NOTIFY_EVERY))
    pending = (Connection.objects.filter(status=Status.ERROR, error_since__isnull=False)
               .exclude(Exists(announced)).exclude(Exists(held)).select_related("project").order_by("pk")[:500])
    count = 0
    for connection in pending:
        with transaction.atomic():
            _notify_broke(connection)
        count += 1
    return count


def connection_expiry_notify(*, connection: Connection, what: str, expires_at: datetime) -> list[Notification]:
    """Warn that the connection's `what` ("refresh token" or "OAuth client secret") expires at `expires_at`."""
    body = "\n\n".join([
        f"The {what} of the {connection.app_slot.label} connection “{connection.name}” in project "
        f"“{connection.project.name}” expires at {_when(expires_at)}. After that, the app will refuse "
        "the connection and the recipes using it will stop working.",
        "We recommend: " + (
            "re-authorize the connection before then." if what == "refresh token" else
            "ask an admin to renew the app's OAuth client secret (Admin → OAuth profiles) before then."),
        _recipes_text(connection),
    ])
    return _notify(connection, kind=EXPIRING, title=f"“{connection.name}”: its {what} expires {_when(expires_at)}",
                   body=body, link=_reauthorize_url(connection),
                   link_label=f"Re-authorize “{connection.name}”")


def _notify_broke(connection: Connection, *, throttle: bool = False) -> list[Notification]:
    reason = connection.error_reason
    label = Reason(reason).label if reason in Reason.values else "Error"
    tips = _advice(connection, reason)
    body = "\n\n".join([
        f"The {connection.app_slot.label} connection “{connection.name}” in project “{connection.project.name}” "
        f"stopped working (since {_when(connection.error_since)}): {label}.",
        f"What happened: {connection.error_message or label}",
        "We recommend:\n" + "\n".join(f"- {tip}" for tip in tips),
        _recipes_text(connection),
    ])
    return _notify(connection, kind=BROKE, reason=reason, title=f"“{connection.name}” needs attention: {label}",
                   body=body, link=_reauthorize_url(connection),
                   link_label=f"Re-authorize “{connection.name}”", throttle=throttle)


def _advice(connection: Connection, reason: str) -> list[str]:
    """The fixes for `reason` that fit how the connection signs in (an OAuth one is re-authorized)."""
    from connections.catalog import CatalogError
    from connections.custom import spec_for

    try:
        method = spec_for(connection).auth_method(connection.auth_method)
    except (CatalogError, KeyError, ValueError):  # a connector or method no longer offered: the seed's advice
        return RECOMMENDATIONS.get(reason, RECOMMENDATIONS[Kind.OTHER])
    return recommendations_for(reason or Kind.OTHER, auth_type=method.type, credentials=credentials_phrase(method))


def _notify_recovered(connection: Connection, *, reason_before: str) -> list[Notification]:
    label = Reason(reason_before).label if reason_before in Reason.values else "an error"
    body = "\n\n".join([
        f"The {connection.app_slot.label} connection “{connection.name}” in project “{connection.project.name}” "
        f"passed its check at {_when(connection.last_ok_at)} and is connected again (it had failed: {label}).",
        _recipes_text(connection),
    ])
    return _notify(connection, kind=RECOVERED, title=f"“{connection.name}” is working again", body=body,
                   link=connection.get_absolute_url(), link_label=f"Open “{connection.name}”")


def _notify(connection: Connection, *, kind: str, title: str, body: str, link: str, link_label: str,
            reason: str = "", throttle: bool = False) -> list[Notification]:
    return notification_send(
        recipients=_recipients(connection), kind=kind, kind_label=KIND_LABELS[kind], subject=connection,
        reason=reason, title=title, body=body, link=link, link_label=link_label, why_sent=WHY_SENT,
        throttle_seconds=settings.SPLICE_NOTIFY_EVERY if throttle else None,
    )


def _reauthorize_url(connection: Connection) -> str:
    """A person's own (runtime user) connection is re-authorized from My connections, by its owner."""
    if connection.owner_id is not None:
        return reverse("my_connection_reauthorize", args=[connection.pk])
    return reverse("connection_authorize", args=[connection.pk])


def _recipients(connection: Connection) -> list[User]:
    """Its owner (who created or authorized it, or whose personal connection it is), if they can still see the
    project, and the project's managers."""
    if connection.owner_id is not None:  # a person's own (runtime user) connection: theirs alone
        return list(User.objects.filter(pk=connection.owner_id, is_active=True))
    project = connection.project
    owners = {connection.created_by_id, connection.authorized_by_id, connection.owner_id} - {None}
    members = get_users_with_perms(project, only_with_perms_in=[level.value for level in ProjectAccess])
    managers = get_users_with_perms(project, only_with_perms_in=[ProjectAccess.MANAGE.value])
    owner_q = Q(pk__in=owners) & (Q(pk__in=members.values("pk")) | Q(is_superuser=True))
    return list(User.objects.filter(owner_q | Q(pk__in=managers.values("pk")), is_active=True).order_by("pk"))


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"


def _recipes_text(connection: Connection) -> str:
    recipes = list(usage.recipes_using(connection).order_by("-running", "name")[:21])
    if not recipes:
        return "No recipe uses this connection."
    running = sum(1 for recipe in recipes if recipe.running)
    lines = [f"Recipes affected ({running} running first):" if running else "Recipes affected:"]
    lines += [f"- {recipe.name} ({'running' if recipe.running else 'stopped'})" for recipe in recipes[:20]]
    if len(recipes) > 20:
        lines.append("- … and more: see the connection's page.")
    return "\n".join(lines)

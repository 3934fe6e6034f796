"""Runtime user connections: a person's own (child) connection of an app, made from a recipe's shared (parent)
connection, so the jobs they start act as them. The services and reads here are the one way to make, find and
retire them; the pages are connections.runtime_views.

    child_connection_for(person, parent)         the person's child of that parent, or None
    child_create(person=..., parent=...)         a new child: the parent's app, environment, project and settings
    connect_link_path(person, parent, recipe_id, job_id)
                                                 a signed, single-use link that lets exactly that person connect
    connect_link_read(token, user)               the link's contents, or LinkRefused (a 404 for anyone else)
    my_connections_for_user(user, ...)           their children; everyone's for "Manage runtime user connections"

A connect link is signed (django.core.signing) and stored nowhere; it carries a nonce, written to ConnectLinkUse
once the link has connected the person, so it serves once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import ProjectAccess, User
from accounts.selectors import projects_for_user
from config.converters import parse_id
from connections import usage
from connections.catalog.app_slot import AppSlot
from connections.models import AuditEvent, Connection, ConnectLinkUse
from connections.services import audit_record, connection_create

__all__ = [
    "MANAGE_PRIVILEGE",
    "ConnectLink",
    "LinkRefused",
    "LinkSpent",
    "MyConnectionFilters",
    "child_connection_for",
    "child_create",
    "child_for_link",
    "child_prepare_authorize",
    "child_for_user_or_404",
    "child_used",
    "connect_link_path",
    "connect_link_read",
    "connect_link_use",
    "connect_message",
    "may_manage_others",
    "my_connections_for_user",
    "recipes_of_parents",
]

MANAGE_PRIVILEGE = "connections.manage_runtime_connections"
_SALT = "splice.runtime-users.connect-link"
# A job that uses a child again within this long does not write its "last used" again.
_LAST_USED_EVERY = 60


class LinkRefused(Exception):
    """A connect link that is not this person's, is forged, or names a parent that is gone: a 404."""


class LinkSpent(Exception):
    """The right person's link, but used already or too old: they get a new one by re-running the job."""


@dataclass(frozen=True)
class ConnectLink:
    person_id: int
    parent: Connection
    recipe_id: int | None
    job_id: int | None
    nonce: str


def _hours() -> int:
    return int(getattr(settings, "SPLICE_RUNTIME_CONNECT_LINK_HOURS", 24))


def connect_message(parent: Connection) -> str:
    """What a job that needs the person's own connection tells them."""
    return f"Connect your {parent.app_slot.label} account to run this recipe."


# --- reads ----------------------------------------------------------------------------------------


def child_connection_for(person: User | None, parent: Connection | None) -> Connection | None:
    """The person's own connection made from `parent` (the newest, should there be several): one indexed query."""
    if person is None or parent is None:
        return None
    return Connection.objects.filter(parent=parent, owner=person).order_by("-pk").first()


def may_manage_others(user) -> bool:
    return user.is_authenticated and user.has_perm(MANAGE_PRIVILEGE)


def child_for_user_or_404(user, pk, *, own_only: bool = False) -> Connection:
    """A child connection the user may act on: their own, or anyone's with "Manage runtime user connections"
    (unless `own_only`: re-authorizing makes the credentials the authorizer's, so it is the owner's alone)."""
    from django.shortcuts import get_object_or_404

    children = Connection.objects.filter(owner__isnull=False, parent__isnull=False)
    if own_only or not may_manage_others(user):
        children = children.filter(owner=user)
    else:
        children = children.filter(Q(owner=user) | Q(project__in=projects_for_user(user, ProjectAccess.USE)))
    return get_object_or_404(children.select_related("parent", "owner", "project"), pk=pk)


@dataclass(frozen=True)
class MyConnectionFilters:
    person: str = ""  # the owner's email or id (for those who see everyone's)
    app: str = ""

    @classmethod
    def from_query(cls, params) -> MyConnectionFilters:
        return cls(person=params.get("person", "").strip()[:254], app=params.get("app", "").strip()[:80])

    @property
    def active(self) -> bool:
        return bool(self.person or self.app)


_ROW_FIELDS = ("name", "connector_key", "slot", "status", "error_reason", "error_since", "identity", "last_used_at",
               "last_checked_at", "authorized_at", "owner", "parent", "project",
               "owner__email", "owner__first_name", "owner__last_name", "parent__name", "project__name")


def my_connections_for_user(user, filters: MyConnectionFilters = MyConnectionFilters()) -> QuerySet[Connection]:
    """The person's own runtime user connections by name; with "Manage runtime user connections", everyone's,
    narrowed by person and app. Each row comes with its owner, parent and project in the same query."""
    children = Connection.objects.filter(owner__isnull=False, parent__isnull=False)
    if may_manage_others(user):
        # Everyone's, in the projects the manager may see (their own wherever they are).
        children = children.filter(Q(owner=user) | Q(project__in=projects_for_user(user, ProjectAccess.VIEW)))
        if parse_id(filters.person) is not None:
            children = children.filter(owner_id=parse_id(filters.person))
        elif filters.person:
            children = children.filter(owner__email__iexact=filters.person)
    else:
        children = children.filter(owner=user)
    if filters.app:
        children = children.filter(**AppSlot.from_catalog_key(filters.app).lookup())
    return children.select_related("owner", "parent", "project").only(*_ROW_FIELDS).order_by("name", "pk")


def recipes_of_parents(parent_ids: list[int]) -> dict[int, list[str]]:
    """{parent id: names of the recipes bound to it}, for a page of children, in one query.

    Through the usage provider recipes registers (connections.usage, within this app): its queryset joins the
    bindings it filters on, and reading the binding's connection reuses that join."""
    if not parent_ids:
        return {}
    using = usage._provider.using(parent_ids)
    if isinstance(using, list):  # no provider registered: nothing uses a connection
        return {}
    found: dict[int, list[str]] = {}
    for connection_id, name in using.order_by("name").values_list("bindings__connection", "name").distinct():
        found.setdefault(connection_id, []).append(name)
    return found


# --- connect links ----------------------------------------------------------------------------------


def connect_link_path(*, person: User, parent: Connection, recipe_id: int | None = None,
                      job_id: int | None = None) -> str:
    """A path in Splice that lets `person`, and nobody else, connect their own account of `parent`'s app."""
    payload = {"u": person.pk, "p": parent.pk, "r": recipe_id, "j": job_id, "n": secrets.token_urlsafe(12),
               "t": int(time.time())}
    token = signing.dumps(payload, salt=_SALT, compress=True)
    return reverse("runtime_connect", args=[token])


def connect_link_read(*, token: str, user) -> ConnectLink:
    """The link's contents for the signed-in `user`. LinkRefused (a 404) when it is forged or someone else's, or
    its parent connection is gone; LinkSpent when it is theirs but used already or older than
    SPLICE_RUNTIME_CONNECT_LINK_HOURS."""
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        raise LinkRefused("No such link.") from None
    if not user.is_authenticated or payload.get("u") != user.pk:
        raise LinkRefused("No such link.")
    parent = Connection.objects.filter(pk=payload.get("p"), owner__isnull=True).select_related("project").first()
    if parent is None:
        raise LinkRefused("No such link.")
    link = ConnectLink(person_id=user.pk, parent=parent, recipe_id=payload.get("r"), job_id=payload.get("j"),
                       nonce=str(payload.get("n", "")))
    if time.time() - int(payload.get("t", 0)) > _hours() * 3600:
        raise LinkSpent(f"This link is older than {_hours()} hours.")
    if ConnectLinkUse.objects.filter(nonce=link.nonce).exists():
        raise LinkSpent("This link was used already.")
    return link


def connect_link_use(link: ConnectLink) -> None:
    """Spend the link (it has connected the person). A second use at the same moment is LinkSpent."""
    try:
        with transaction.atomic():
            ConnectLinkUse.objects.create(nonce=link.nonce, person_id=link.person_id, parent=link.parent)
    except IntegrityError:
        raise LinkSpent("This link was used already.") from None


# --- writes ---------------------------------------------------------------------------------------


def _child_name(person: User, parent: Connection) -> str:
    return f"{parent.name} ({person.email})"[:120]


def child_create(*, person: User, parent: Connection, ip: str | None = None) -> Connection:
    """A new, not yet authorized child of `parent` for `person`: the parent's app, environment, project, auth
    method, OAuth client, scopes and (non-secret) settings; the person authorizes it with their own account.
    A person has one child per parent (a unique constraint): when a second submit made it first, that one."""
    if parent.owner_id is not None or parent.parent_id is not None:
        raise ValueError("A runtime user connection is made from a shared connection.")
    try:
        return _child_create(person=person, parent=parent, ip=ip)
    except IntegrityError:
        existing = child_connection_for(person, parent)
        if existing is None:
            raise
        return existing


@transaction.atomic
def _child_create(*, person: User, parent: Connection, ip: str | None) -> Connection:
    child = connection_create(
        project=parent.project, connector_key=parent.connector_key, slot=parent.slot,
        name=_child_name(person, parent), acting_user=person, auth_method=parent.auth_method,
        environment=parent.environment, settings_values=dict(parent.settings or {}), scopes=list(parent.scopes or []),
        oauth_profile=parent.oauth_profile, ip=ip,
        description=f"{person.email}'s own {parent.app_slot.label} account, for recipes using “{parent.name}”.",
    )
    Connection.objects.filter(pk=child.pk).update(owner=person, parent=parent)
    child.owner, child.parent = person, parent
    AuditEvent.objects.filter(connection=child, action=AuditEvent.Action.CREATED).update(
        summary=f"Created {person.email}'s runtime user connection from “{parent.name}”"[:500],
        details={"app": parent.app_slot.catalog_key, "environment": parent.environment,
                 "auth_method": parent.auth_method, "parent": parent.pk, "owner": person.pk})
    return child


def child_for_link(*, link: ConnectLink, person: User, ip: str | None = None) -> Connection:
    """The person's child of the link's parent, made now if they have none."""
    return child_connection_for(person, link.parent) or child_create(person=person, parent=link.parent, ip=ip)


def child_prepare_authorize(child: Connection) -> None:
    """A disconnected child is authorized again from "not connected": the status recorder leaves disconnected
    connections alone (a late check never revives one), and here the owner asks to connect it anew."""
    if child.status == Connection.Status.DISCONNECTED:
        Connection.objects.filter(pk=child.pk, status=Connection.Status.DISCONNECTED).update(
            status=Connection.Status.NOT_CONNECTED, updated_at=timezone.now())
        child.status = Connection.Status.NOT_CONNECTED


def child_used(*, connection: Connection, person: User | None, job_id: int) -> None:
    """A job ran on the child: its "last used" moves (at most once a minute), and its first use is audited."""
    now = timezone.now()
    first = Connection.objects.filter(pk=connection.pk, last_used_at__isnull=True).update(last_used_at=now)
    if first:
        audit_record(connection=connection, action=AuditEvent.Action.FIRST_USED, actor=person,
                     summary=f"First used by job {job_id}", details={"job": job_id})
        return
    Connection.objects.filter(pk=connection.pk, last_used_at__lt=now - timedelta(seconds=_LAST_USED_EVERY)) \
        .update(last_used_at=now)

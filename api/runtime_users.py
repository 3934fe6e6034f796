"""/api/v1/runtime_user_connections: a person's own (child) connection of a recipe's shared (parent) connection,
made for them and answered with the signed link that lets exactly that person connect it; the list; and a new link
to (re-)authorize one. The rules are connections.runtime_users': who sees whose children (their own, or everyone's
with "Manage runtime user connections"), how a child is made, what the link lets do."""

from __future__ import annotations

from django.conf import settings
from ninja import Path, Query, Router, Schema
from pydantic import Field

from accounts.models import ProjectAccess, User
from api.audit import api_write_record, audit_mark
from api.connections import ConnectionOut, connection_data
from api.idempotency import idempotent_create
from api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, cursor_page
from api.problems import ApiProblem, Problem
from api.security import require_privilege
from connections import runtime_users
from connections.models import Connection
from connections.selectors import attach_usage, connections_for_user

__all__ = ["router"]

router = Router(tags=["Runtime user connections"])


class RuntimeConnectionCreate(Schema):
    parent_id: int = Field(gt=0, le=MAX_ID, description="The recipe's shared connection it is made from.")
    person_email: str | None = Field(None, max_length=254, description="Whose it is: yourself when left out; "
                                     "someone else needs “Manage runtime user connections”.")


class RuntimeConnectionOut(ConnectionOut):
    connect_url: str | None = Field(description="The signed link that lets exactly its owner connect it, signed in "
                                                "as themselves (single use, valid SPLICE_RUNTIME_CONNECT_LINK_HOURS).")


class RuntimeConnectionPage(Schema):
    items: list[ConnectionOut]
    next_cursor: str | None


class RuntimeFilters(Schema):
    person: str | None = Field(None, max_length=254, description="An owner's email or id (with “Manage runtime "
                                                                 "user connections”).")
    app: str | None = Field(None, max_length=80)
    cursor: str | None = Field(None, max_length=40)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class ConnectLinkOut(Schema):
    connect_url: str


def _link(child: Connection) -> str:
    return settings.SPLICE_BASE_URL + runtime_users.connect_link_path(person=child.owner, parent=child.parent)


def _answer(child: Connection, **also) -> dict:
    child = Connection.objects.select_related("authorized_by", "owner", "parent").get(pk=child.pk)
    return connection_data(attach_usage([child])[0]) | also


@router.post("", response={201: RuntimeConnectionOut, 400: Problem, 403: Problem, 404: Problem},
             summary="Create a runtime user connection")
def runtime_connection_create(request, payload: RuntimeConnectionCreate):
    """The person's child of the parent (theirs already, if they have one), not yet connected, with the link they
    connect it by."""
    require_privilege(request, "connections.view_connection")
    parent = connections_for_user(request.user, ProjectAccess.USE).filter(pk=payload.parent_id).first()
    if parent is None:
        raise ApiProblem(404, "not_found", "There is no connection with this id that you may use.")
    if parent.owner_id is not None or parent.parent_id is not None:
        raise ApiProblem(400, "invalid_request", "Check the request: “parent_id”: a runtime user connection is made "
                         "from a shared connection, not from a person's own.",
                         errors={"parent_id": "is not a shared connection"})
    person = request.user
    if payload.person_email and payload.person_email.lower() != request.user.email.lower():
        require_privilege(request, runtime_users.MANAGE_PRIVILEGE)
        person = User.objects.filter(email__iexact=payload.person_email, is_active=True).first()
        if person is None:
            raise ApiProblem(404, "not_found", "There is no active person with this email.")

    def create() -> tuple[int, dict]:
        mark = audit_mark()
        child = runtime_users.child_connection_for(person, parent) or runtime_users.child_create(
            person=person, parent=parent, ip=request.META.get("REMOTE_ADDR"))
        api_write_record(request, operation="runtime_connection_create", object_type="connection",
                         object_id=child.pk, status_code=201, connection_events_after=mark,
                         summary=f"Runtime user connection of {person.email} from “{parent.name}”")
        return 201, _answer(child, connect_url=_link(child))

    return idempotent_create(request, "runtime_connection_create", create)


@router.get("", response={200: RuntimeConnectionPage}, summary="List runtime user connections")
def runtime_connection_list(request, filters: Query[RuntimeFilters]):
    """Your own; everyone's with “Manage runtime user connections” (narrowed by `person`)."""
    require_privilege(request, "connections.view_connection")
    rows = runtime_users.my_connections_for_user(
        request.user, runtime_users.MyConnectionFilters(person=filters.person or "", app=filters.app or ""))
    page, next_cursor = cursor_page(Connection.objects.filter(pk__in=rows.values("pk"))
                                    .select_related("authorized_by", "owner"), cursor=filters.cursor,
                                    limit=filters.limit)
    return {"items": [connection_data(c) for c in attach_usage(page)], "next_cursor": next_cursor}


@router.get("/{id:connection_id}/connect_link", response={200: ConnectLinkOut, 404: Problem},
            summary="A new link to (re-)authorize a runtime user connection")
def runtime_connection_link(request, connection_id: int = Path(..., gt=0, le=MAX_ID)):
    require_privilege(request, "connections.view_connection")
    children = runtime_users.my_connections_for_user(request.user).filter(pk=connection_id)
    child = Connection.objects.select_related("owner", "parent").filter(pk__in=children.values("pk")).first()
    if child is None:
        raise ApiProblem(404, "not_found", "There is no runtime user connection with this id that you may use.")
    return {"connect_url": _link(child)}

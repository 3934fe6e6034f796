"""Reads of connections that apply project access."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ProjectAccess
from accounts.selectors import projects_for_user
from connections.models import Connection

__all__ = ["connections_for_user"]


def connections_for_user(user, access: ProjectAccess = ProjectAccess.VIEW) -> QuerySet[Connection]:
    """Connections in the projects where the user has `access`."""
    return Connection.objects.filter(project__in=projects_for_user(user, access))

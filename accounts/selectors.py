"""Reads that apply access: which projects a user may see, use or manage; a person's own notifications."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from guardian.shortcuts import get_groups_with_perms, get_objects_for_user, get_users_with_perms

from accounts.models import Notification, Project, ProjectAccess
from config.converters import parse_id

__all__ = ["notifications_for_user", "notifications_unread_count", "project_for_user_or_404", "project_members",
           "project_preselected", "projects_for_user"]


def projects_for_user(user, access: ProjectAccess = ProjectAccess.VIEW) -> QuerySet[Project]:
    """Projects where `user` holds the object permission `access` (directly or through a role).

    Object access only: a global "view project" privilege does not open every project
    (accept_global_perms=False). Superusers see everything.
    """
    if not user.is_authenticated:
        return Project.objects.none()
    # Building guardian's query costs a few queries of its own; a page asks several times per request.
    # The query is lazy (its subqueries read permissions when it runs), so a copy of it is never stale.
    built = user.__dict__.setdefault("_splice_projects_for_user", {})
    if access not in built:
        built[access] = get_objects_for_user(
            user, f"accounts.{access.value}", klass=Project, accept_global_perms=False, with_superuser=True
        )
    return built[access].all()


def project_for_user_or_404(user, pk, access: ProjectAccess = ProjectAccess.VIEW) -> Project:
    """The project, or a 404 that does not tell a project the user cannot access from a missing one."""
    return get_object_or_404(projects_for_user(user, access), pk=pk)


def project_preselected(user, projects: QuerySet[Project], came_from=None) -> Project | None:
    """The project a form should offer first: the one the person came from (a project page, a recipe's editor),
    else their default (personal) project, else their own personal one, else the first they may use.

    `projects` are the choices the form offers (already limited by access); `came_from` is a project id from the
    request, trusted only when it is among them.
    """
    for candidate in (parse_id(came_from), getattr(user, "default_project_id", None)):
        if candidate is not None:
            found = next((p for p in projects if p.pk == candidate), None)
            if found is not None:
                return found
    personal = next((p for p in projects if p.is_personal and p.created_by_id == user.pk), None)
    return personal or next(iter(projects), None)


def project_members(project: Project) -> dict:
    """Who can access the project, with their highest level.

    {"people": [(email, level, is_creator)], "groups": [(group, level)]}. People are accounts and invitations
    (access shared with an address no account has yet) alike, by lower-case email: a sharer cannot tell which.
    """
    order = [ProjectAccess.MANAGE, ProjectAccess.USE, ProjectAccess.VIEW]

    def highest(perms: list[str]) -> ProjectAccess | None:
        return next((level for level in order if level.value in perms), None)

    users = get_users_with_perms(project, attach_perms=True, with_group_users=False)
    groups = get_groups_with_perms(project, attach_perms=True)
    people = {u.email.lower(): (u.email.lower(), highest(p), u.pk == project.created_by_id) for u, p in users.items()}
    for invitation in project.invitations.all():
        people.setdefault(invitation.email, (invitation.email, ProjectAccess(invitation.level), False))
    return {
        "people": sorted(people.values()),
        "groups": sorted(((g, highest(p)) for g, p in groups.items()), key=lambda pair: pair[0].name),
    }


def notifications_for_user(user) -> QuerySet[Notification]:
    """The person's own notifications, newest first, with their subjects (a page shows a link only while its
    subject exists)."""
    return Notification.objects.filter(recipient=user).prefetch_related("subject")


def notifications_unread_count(user) -> int:
    return Notification.objects.filter(recipient=user).unread().count()

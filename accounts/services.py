"""Writes for users and projects: default project, creating and sharing projects, roles."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from accounts.models import ACCESS_IMPLIES, Project, ProjectAccess, User

__all__ = ["project_create", "project_share", "project_unshare", "user_assign_role", "user_setup_defaults"]


@transaction.atomic
def project_create(*, name: str, acting_user: User, description: str = "", is_personal: bool = False) -> Project:
    """A new project; its creator manages it."""
    project = Project.objects.create(
        name=name.strip(), description=description, created_by=acting_user, is_personal=is_personal
    )
    _grant(project, ProjectAccess.MANAGE, user=acting_user)
    return project


@transaction.atomic
def user_setup_defaults(*, user: User) -> Project:
    """Give a new user their personal default project (idempotent)."""
    if user.default_project_id:
        return user.default_project
    project = project_create(
        name=f"{user.display_name}'s project",
        description="Your personal project. Share it, or create others for your team.",
        acting_user=user,
        is_personal=True,
    )
    User.objects.filter(pk=user.pk).update(default_project=project)
    user.default_project = project
    return project


@transaction.atomic
def project_share(
    *, project: Project, acting_user: User, level: ProjectAccess, user: User | None = None,
    group: Group | None = None,
) -> None:
    """Give a user or a role `level` access to the project, replacing what they had."""
    if (user is None) == (group is None):
        raise ValidationError("Share with either one person or one role.")
    if user is not None and user == project.created_by and level != ProjectAccess.MANAGE:
        raise ValidationError("The project's creator always manages it.")
    _revoke_all(project, user=user, group=group)
    _grant(project, level, user=user, group=group)


@transaction.atomic
def project_unshare(*, project: Project, acting_user: User, user: User | None = None,
                    group: Group | None = None) -> None:
    if user is not None and user == project.created_by:
        raise ValidationError("The project's creator cannot be removed from it.")
    _revoke_all(project, user=user, group=group)


def user_assign_role(*, user: User, role_name: str) -> None:
    """Add the user to a role (a Group); an unknown role is a configuration error, said plainly."""
    try:
        role = Group.objects.get(name=role_name)
    except Group.DoesNotExist as exc:
        raise ValidationError(f"There is no role named {role_name!r}.") from exc
    user.groups.add(role)


def _grant(project: Project, level: ProjectAccess, *, user=None, group=None) -> None:
    for perm in ACCESS_IMPLIES[level]:
        assign_perm(f"accounts.{perm.value}", user or group, project)


def _revoke_all(project: Project, *, user=None, group=None) -> None:
    for perm in ProjectAccess:
        remove_perm(f"accounts.{perm.value}", user or group, project)

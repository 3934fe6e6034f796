"""The privilege check every view makes (what a role may do), separate from project access
(accounts.selectors, which turns a project the user cannot access into a 404)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied

__all__ = ["MissingPrivilege", "privilege_name", "privilege_required", "require_privilege"]


class MissingPrivilege(PermissionDenied):
    """Raised when the user's roles lack a privilege; the 403 page names it and who can grant it."""

    def __init__(self, privilege: str):
        self.privilege = privilege
        super().__init__(f"You need the “{privilege_name(privilege)}” privilege.")


def privilege_name(dotted: str) -> str:
    app_label, codename = dotted.split(".", 1)
    perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    return perm.name if perm else dotted


def require_privilege(user, privilege: str) -> None:
    if not user.has_perm(privilege):
        raise MissingPrivilege(privilege)


def privilege_required(privilege: str):
    """View decorator: anonymous users go to sign-in; signed-in users without the privilege get 403."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            require_privilege(request.user, privilege)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator

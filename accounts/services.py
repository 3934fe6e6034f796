"""Writes for users and projects: default project, creating and sharing projects (with people, roles, or an
email address no account has yet), roles (at sign-up, or once the email address is verified); and notifying
people (notification_send, whoever the sender is: connections, the runtime), whose emails accounts.emails sends;
personal API tokens (made, revoked, and the person a presented token acts as)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from functools import partial

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from guardian.shortcuts import assign_perm, remove_perm

from accounts.models import ACCESS_IMPLIES, ApiToken, Notification, Project, ProjectAccess, ProjectInvitation, User
from accounts.tasks import notification_emails_send_task

__all__ = [
    "API_TOKEN_PREFIX", "api_token_create", "api_token_revoke", "api_token_user", "email_verified",
    "notification_send", "notifications_mark_read", "notifications_resolve", "project_create", "project_share",
    "project_share_with_email", "project_unshare", "project_unshare_email", "user_assign_role",
    "user_grant_signup_role", "user_setup_defaults",
]

logger = logging.getLogger(__name__)


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
def project_share_with_email(*, project: Project, acting_user: User, email: str, level: ProjectAccess) -> None:
    """Share with whoever owns `email`, without telling the sharer whether anyone does: an account gets the access
    now; an address no account has gets an invitation, listed like a member, that becomes the access when someone
    verifies that address (so nobody gets it by merely signing up with someone else's address)."""
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is None:
        ProjectInvitation.objects.update_or_create(
            project=project, email=email, defaults={"level": level, "invited_by": acting_user}
        )
        return
    ProjectInvitation.objects.filter(project=project, email=email).delete()
    project_share(project=project, acting_user=acting_user, level=level, user=user)


@transaction.atomic
def project_unshare_email(*, project: Project, acting_user: User, email: str) -> None:
    """Remove the access (or the invitation) of whoever owns `email`; the same whether or not anyone does."""
    email = email.strip().lower()
    ProjectInvitation.objects.filter(project=project, email=email).delete()
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is not None:
        project_unshare(project=project, acting_user=acting_user, user=user)


@transaction.atomic
def project_unshare(*, project: Project, acting_user: User, user: User | None = None,
                    group: Group | None = None) -> None:
    if user is not None and user == project.created_by:
        raise ValidationError("The project's creator cannot be removed from it.")
    _revoke_all(project, user=user, group=group)


@transaction.atomic
def user_grant_signup_role(*, user: User, role_name: str, after_verification: bool) -> None:
    """The role a new sign-up gets: now, or (mandatory verification) only once they verify their email address,
    so an address nobody has proven to own carries no privileges."""
    if not after_verification:
        user_assign_role(user=user, role_name=role_name)
        return
    user.pending_role = _role(role_name)
    User.objects.filter(pk=user.pk).update(pending_role=user.pending_role)


@transaction.atomic
def email_verified(*, user: User, email: str) -> None:
    """`user` has proven they own `email`: the role held back until then, and the projects shared with that
    address before they had an account, become theirs."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.pending_role_id:
        locked.groups.add(locked.pending_role_id)
        User.objects.filter(pk=user.pk).update(pending_role=None)
        user.pending_role = None
    for invitation in ProjectInvitation.objects.select_for_update().filter(email=email.strip().lower()):
        _grant(invitation.project, ProjectAccess(invitation.level), user=user)
        invitation.delete()


def user_assign_role(*, user: User, role_name: str) -> None:
    """Add the user to a role (a Group); an unknown role is a configuration error, said plainly."""
    user.groups.add(_role(role_name))


# --- notifications --------------------------------------------------------------------------------


@transaction.atomic
def notification_send(*, recipients: Iterable[User], kind: str, subject: models.Model | None, title: str, body: str,
                      reason: str = "", kind_label: str = "", link: str = "", link_label: str = "",
                      why_sent: str = "", throttle_seconds: int | None = None) -> list[Notification]:
    """Tell each of these people (once each) about `subject`: a notification in Splice, and an email that leaves
    once the transaction commits. The sender chooses `kind` ("broke", "job_failed"…) and `reason`, and writes
    what the person reads. With `throttle_seconds`, nothing is sent when a notification of this kind and reason
    about this subject was sent within that many seconds (to anyone). Returns the notifications sent."""
    if throttle_seconds is not None and subject is not None:
        since = timezone.now() - timedelta(seconds=throttle_seconds)
        if Notification.objects.about(subject).filter(kind=kind, reason=reason, created_at__gte=since).exists():
            return []
    subject_type = ContentType.objects.get_for_model(subject) if subject is not None else None
    notifications = Notification.objects.bulk_create([
        Notification(recipient=user, kind=kind, kind_label=kind_label, reason=reason, subject_type=subject_type,
                     subject_id=subject.pk if subject is not None else None, title=title[:200], body=body,
                     link=link, link_label=link_label[:200], why_sent=why_sent[:300])
        for user in dict.fromkeys(recipients)
    ])
    if notifications:
        transaction.on_commit(partial(_emails_enqueue, [notification.pk for notification in notifications]))
    return notifications


def _emails_enqueue(notification_ids: list[int]) -> None:
    notification_emails_send_task.delay(notification_ids)


def notifications_mark_read(*, recipient: User, ids: list[int] | None = None) -> int:
    """Mark the recipient's notifications (these ids, or all) read; someone else's are never touched."""
    unread = Notification.objects.filter(recipient=recipient).unread()
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


def notifications_resolve(*, subject: models.Model, kinds: Iterable[str]) -> int:
    """Mark the unresolved notifications of these kinds about `subject` resolved (now), for every recipient: what
    they warned about was put right (a connection that recovered), so their action ("Re-authorize") is no longer
    offered. Returns how many were resolved."""
    return (Notification.objects.about(subject).filter(kind__in=list(kinds)).unresolved()
            .update(resolved_at=timezone.now()))


def _role(name: str) -> Group:
    try:
        return Group.objects.get(name=name)
    except Group.DoesNotExist as exc:
        raise ValidationError(f"There is no role named {name!r}.") from exc


def _grant(project: Project, level: ProjectAccess, *, user=None, group=None) -> None:
    for perm in ACCESS_IMPLIES[level]:
        assign_perm(f"accounts.{perm.value}", user or group, project)


def _revoke_all(project: Project, *, user=None, group=None) -> None:
    for perm in ProjectAccess:
        remove_perm(f"accounts.{perm.value}", user or group, project)


# --- personal API tokens ----------------------------------------------------------------------------------------

API_TOKEN_PREFIX = "spl_"  # says what a leaked string is (secret scanners match on it) and which header it goes in
_SHOWN_PREFIX_LENGTH = len(API_TOKEN_PREFIX) + 6  # 6 of 43 random characters: still about 220 secret bits
_TOKEN_MAX_LENGTH = 100  # what api_token_create makes is 47 characters; longer is not one, and is not hashed
_LAST_USED_EVERY = timedelta(minutes=1)


def _token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@sensitive_variables()  # a failure's error report shows none of its variables: the plaintext is one
@transaction.atomic
def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user` and its plaintext, which is shown to them once and kept nowhere (only its hash is).
    Raises ValidationError when the name is empty, too long, or that of one of their tokens in use."""
    name = " ".join(name.split())
    max_length = ApiToken._meta.get_field("name").max_length
    if not name:
        raise ValidationError("Name the token after what will use it, e.g. “Billing sync”.")
    if len(name) > max_length:
        raise ValidationError(f"Use at most {max_length} characters for the name.")
    taken = ValidationError(f"You already have a token named “{name}”: choose another name, or revoke that one.")
    if ApiToken.objects.filter(user=user, name__iexact=name, revoked_at__isnull=True).exists():
        raise taken
    plaintext = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(user=user, name=name, token_hash=_token_hash(plaintext),
                                            prefix=plaintext[:_SHOWN_PREFIX_LENGTH])
    except IntegrityError:  # the same name, made a moment ago in another request
        raise taken from None
    logger.info("API token %s (%s…) created for user %s", token.pk, token.prefix, user.pk)
    return token, plaintext


@transaction.atomic
def api_token_revoke(*, token: ApiToken, acting_user: User) -> ApiToken:
    """Revoke the token: the next request that presents it gets 401. Only its owner (or a superuser) may; revoking
    a revoked token changes nothing."""
    if token.user_id != acting_user.pk and not acting_user.is_superuser:
        raise PermissionDenied("Only its owner can revoke an API token.")
    now = timezone.now()
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        token.revoked_at = now
        logger.info("API token %s (%s…) of user %s revoked by user %s", token.pk, token.prefix, token.user_id,
                    acting_user.pk)
    else:
        token.refresh_from_db(fields=["revoked_at"])
    return token


@sensitive_variables()
def api_token_user(raw: str) -> User | None:
    """The active person `raw` (a presented token) acts as, or None for an unknown or revoked token or an inactive
    owner. Marks the token used, at most once a minute: a busy caller does not write on every request."""
    if not raw or len(raw) > _TOKEN_MAX_LENGTH or not raw.startswith(API_TOKEN_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=_token_hash(raw), revoked_at__isnull=True).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= _LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.user.api_token = token  # the REST API audits a write with the token's name (api.audit)
    return token.user

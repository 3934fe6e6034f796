"""Users (email is the login), projects (the folders that hold connections and recipes), the notifications
people get, and the personal API tokens programs use to act as a person."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser, Group
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with their email address. Roles are the groups they belong to."""

    username = None
    email = models.EmailField("email address", unique=True)
    default_project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pending_role = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The role this person gets once they verify their email address (mandatory verification).",
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email


class Role(Group):
    """A role as Django admin lists it, under Splice's heading next to Users: the same row as its Group (people's
    roles are their groups), and the same admin rights (auth's group permissions, accounts.admin.RoleAdmin)."""

    class Meta:
        proxy = True
        verbose_name = "role"
        default_permissions = ()


class ProjectAccess(models.TextChoices):
    """Levels of access to a project, each a guardian object permission; each includes the ones below."""

    VIEW = "view_project", "View"
    USE = "use_project", "Use"
    MANAGE = "manage_project", "Manage"


ACCESS_IMPLIES = {
    ProjectAccess.VIEW: [ProjectAccess.VIEW],
    ProjectAccess.USE: [ProjectAccess.VIEW, ProjectAccess.USE],
    ProjectAccess.MANAGE: [ProjectAccess.VIEW, ProjectAccess.USE, ProjectAccess.MANAGE],
}


class Project(models.Model):
    """A folder of connections and recipes. Who may see, use or manage it is a guardian object permission."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="created_projects"
    )
    is_personal = models.BooleanField(default=False, help_text="The default project a user starts with.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        default_permissions = ()
        permissions = [
            ("add_project", "Create projects"),
            ("view_project", "View project"),
            ("use_project", "Use project (create and run its connections and recipes)"),
            ("manage_project", "Manage project (rename, share)"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("project_detail", args=[self.pk])


class ProjectInvitation(models.Model):
    """Access to a project shared with an email address that no account has yet; it becomes that access when
    someone verifies the address. Listed with the members, so a sharer cannot tell it from an account."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(help_text="Lower case.")
    level = models.CharField(max_length=20, choices=ProjectAccess.choices)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        ordering = ["email"]
        constraints = [models.UniqueConstraint(fields=["project", "email"], name="one_invitation_per_project_email")]

    def __str__(self) -> str:
        return f"{self.email} → {self.project}"


class NotificationQuerySet(models.QuerySet):
    def about(self, subject: models.Model) -> NotificationQuerySet:
        """Notifications whose subject is this object."""
        return self.filter(subject_type=ContentType.objects.get_for_model(subject), subject_id=subject.pk)

    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)

    def unresolved(self) -> NotificationQuerySet:
        return self.filter(resolved_at__isnull=True)


class Notification(models.Model):
    """A message to one person about one thing (its subject: a connection that broke, a job that failed), in
    Splice and by email (`emailed_at`). The sender (accounts.services.notification_send) writes everything the
    person reads; it is shown as it was written, even once the subject has changed."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, help_text='Chosen by the sender: "broke", "recovered", "job_failed"…')
    kind_label = models.CharField(max_length=80, blank=True,
                                  help_text='What a person reads for the kind: "Connection needs attention".')
    reason = models.CharField(max_length=32, blank=True,
                              help_text="Why, in the sender's terms (a connection's error reason); the throttle "
                                        "tells reasons apart.")
    subject_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    title = models.CharField(max_length=200)
    body = models.TextField()
    link = models.CharField(max_length=500, blank=True, help_text="A path in Splice (emails prefix SPLICE_BASE_URL).")
    link_label = models.CharField(max_length=200, blank=True, help_text='The link\'s text: "Re-authorize “Sales”".')
    why_sent = models.CharField(max_length=300, blank=True,
                                help_text="Why this person gets it; the email ends with it.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When what it warned about was put right (a connection that recovered): its action is gone.")

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        default_permissions = ()
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notice_unread_idx"),
            models.Index(fields=["subject_type", "subject_id", "kind", "-created_at"], name="notice_subject_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def link_works(self) -> bool:
        """Whether the link still leads somewhere: there is one, and its subject (if it had one) still exists.
        Lists prefetch `subject`, so this asks the database nothing more. A resolved notification's action is
        done: its link is no longer offered."""
        return (bool(self.link) and self.resolved_at is None
                and (self.subject_type_id is None or self.subject is not None))


class ApiToken(models.Model):
    """A personal API token: a program that presents it acts as its owner, with the owner's privileges and project
    access. Only its SHA-256 is kept (a token is random enough that a plain hash cannot be reversed, and a lookup by
    hash is one index probe); the plaintext is shown once, when it is made. `prefix`, its first characters, tells a
    person's tokens apart in lists without revealing them."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, in its owner's words.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False, help_text="SHA-256 of the token, hex.")
    prefix = models.CharField(max_length=12, editable=False, help_text="The token's first characters (not secret).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="To the minute: not written on every call.")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-pk"]
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], condition=models.Q(revoked_at__isnull=True),
                                    name="api_token_active_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

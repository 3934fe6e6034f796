"""Connections: one authenticated account of an app, in a project, reusable by many recipes.

Secrets live in their own columns, each sealed by the credential vault (connections.vault) under the
row's data key and bound to the row (`vault_id`) and the column name; `connections.credentials`
reads and writes them. Nothing here holds a plaintext secret.
"""

from __future__ import annotations

import uuid

from django.conf import settings as conf
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from connections.catalog.app_slot import AppSlot

__all__ = [
    "AuditEvent",
    "ConnectLinkUse",
    "Connection",
    "ConnectionCheck",
    "ConnectionHealth",
    "HealthHostSlot",
    "HealthSweep",
    "OAuthFlow",
    "OAuthProfile",
]

# Shared connections that the pages list: not a person's runtime user connection, not a wizard's pending one.
SHARED_SEEN = models.Q(owner__isnull=True, pending_until__isnull=True)


class Connection(models.Model):
    class Status(models.TextChoices):
        NOT_CONNECTED = "not_connected", "Not connected"
        CONNECTED = "connected", "Connected"
        ERROR = "error", "Error"
        DISCONNECTED = "disconnected", "Disconnected"

    class ErrorReason(models.TextChoices):
        CREDENTIALS_INVALID = "credentials_invalid", "Credentials changed or revoked"
        INSUFFICIENT_PERMISSIONS = "insufficient_permissions", "Insufficient permissions"
        UNREACHABLE = "unreachable", "App unreachable"
        ADDRESS_REFUSED = "address_refused", "Address not allowed"
        CREDENTIALS_UNREADABLE = "credentials_unreadable", "Splice cannot open the stored credentials"

    class Environment(models.TextChoices):
        PRODUCTION = "production", "Production"
        SANDBOX = "sandbox", "Sandbox"

    class Slot(models.TextChoices):
        PRIMARY = "primary", "Primary"
        SECONDARY = "secondary", "Secondary"

    # What it is and where it lives
    name = models.CharField(max_length=120)
    connector_key = models.CharField(max_length=80, help_text="Key of the connector in the catalog.")
    slot = models.CharField(max_length=10, choices=Slot.choices, default=Slot.PRIMARY)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="connections")
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    environment = models.CharField(max_length=12, choices=Environment.choices, default=Environment.PRODUCTION)
    auth_method = models.CharField(max_length=40, blank=True, help_text="Key of the auth method in the spec.")
    settings = models.JSONField(default=dict, blank=True, help_text="Non-secret settings from the connector spec.")
    scopes = models.JSONField(default=list, blank=True)
    oauth_profile = models.ForeignKey(
        "connections.OAuthProfile", null=True, blank=True, on_delete=models.PROTECT, related_name="connections"
    )

    # Whose it is
    created_by = models.ForeignKey(
        conf.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="created_connections"
    )
    authorized_by = models.ForeignKey(
        conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="authorized_connections", help_text="Splice acts with exactly this person's access in the app.",
    )
    identity = models.CharField(max_length=255, blank=True, help_text='Who it connected as ("ada@example.com").')
    # Runtime-user connections: a person's own connection, made from a shared (parent) one.
    owner = models.ForeignKey(
        conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="personal_connections"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="personal_connections"
    )
    last_used_at = models.DateTimeField(null=True, blank=True,
                                        help_text="When a job last ran on it (a person's own connection).")

    # Health
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_CONNECTED)
    error_reason = models.CharField(max_length=32, choices=ErrorReason.choices, blank=True)
    error_message = models.TextField(blank=True)
    error_since = models.DateTimeField(null=True, blank=True)
    authorized_at = models.DateTimeField(null=True, blank=True)
    pending_until = models.DateTimeField(
        null=True, blank=True,
        help_text="Made by the wizard and not yet authorized: hidden from lists, removed after this time.")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="First of the current transient failures.")
    consecutive_failures = models.PositiveIntegerField(default=0)

    # Sealed credentials (connections.credentials); empty string means "not set"
    vault_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    data_key = models.TextField(blank=True, editable=False)
    access_token = models.TextField(blank=True, editable=False)
    refresh_token = models.TextField(blank=True, editable=False)
    previous_refresh_token = models.TextField(blank=True, editable=False)
    token_secret = models.TextField(blank=True, editable=False, help_text="OAuth 1.0a token secret.")
    username = models.CharField(max_length=255, blank=True, help_text="Basic auth user name (not a secret).")
    password = models.TextField(blank=True, editable=False)
    api_key = models.TextField(blank=True, editable=False)
    api_secret = models.TextField(blank=True, editable=False)
    secret_settings = models.JSONField(default=dict, blank=True, editable=False,
                                       help_text="Sealed values of the spec's secret_fields, by name.")
    # Where the credentials may go: the origins (https://host:port) of its URLs when it was authorized.
    authorized_origins = models.JSONField(default=list, blank=True, editable=False)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    access_token_refresh_margin = models.FloatField(
        null=True, blank=True, help_text="Seconds before it expires that the access token is due for a refresh: a "
                                         "share of its life (connections.tokens).")
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    # Single-flight token refresh: a short lease claimed by one atomic UPDATE, and a version bumped
    # by every credential write so a stale writer cannot overwrite a newer token.
    token_version = models.PositiveIntegerField(default=0)
    refresh_lease_owner = models.CharField(max_length=64, blank=True)
    refresh_lease_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], condition=models.Q(owner__isnull=True),
                name="connection_name_unique_in_project",
                violation_error_message="A connection with this name already exists in this project.",
            ),
            # A person has one runtime user connection per shared (parent) connection.
            models.UniqueConstraint(fields=["owner", "parent"], condition=models.Q(owner__isnull=False),
                                    name="connection_one_child_per_person"),
        ]
        indexes = [
            # An app's connections, healthy first then by name (the recipe editor's connection lists).
            models.Index(fields=["connector_key", "slot", "status", "name", "id"], name="connection_app_idx"),
            models.Index(fields=["status", "last_checked_at"], name="connection_health_idx"),
            # Connections needing attention, longest failing first (the home and project pages).
            models.Index(fields=["status", "project", "owner"], name="connection_attention_idx"),
            # The connections page's "Expiring soon" notice.
            models.Index(fields=["status", "refresh_token_expires_at"], name="connection_expiry_idx"),
            # "My connections": a person's own connections by name; everyone's, for those who manage them.
            models.Index(fields=["owner", "name", "id"], name="connection_owner_idx"),
            models.Index(fields=["name", "id"], condition=models.Q(owner__isnull=False),
                         name="connection_personal_idx"),
            # The shared connections people see (no owner, not pending): the connections page in name order, its
            # count, and the navigation's count in error, each from the index alone, however many runtime user
            # connections there are beside them.
            models.Index(fields=["name", "id", "project"], condition=SHARED_SEEN,
                         name="connection_shared_name_idx"),
            models.Index(fields=["project", "status"], condition=SHARED_SEEN, name="connection_shared_status_idx"),
        ]
        # Privileges with the names people see in admin (Django's "Can add connection" reads poorly).
        default_permissions = ()
        permissions = [
            ("add_connection", "Create connections"),
            ("view_connection", "View connections"),
            ("change_connection", "Edit connections"),
            ("delete_connection", "Delete connections"),
            ("test_connection", "Test connections"),
            ("manage_connectors", "Manage connectors"),
            ("view_auditlog", "View audit log"),
            ("manage_runtime_connections", "Manage runtime user connections"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("connection_detail", args=[self.pk])

    @property
    def app_slot(self) -> AppSlot:
        """The app (connector and slot) this connection is for; `.catalog_key` names its catalog entry."""
        return AppSlot(self.connector_key, self.slot)

    @property
    def needs_attention(self) -> bool:
        return self.status == self.Status.ERROR

    @property
    def recommendations(self) -> list[str]:
        """The seed's recommended fixes for the current error, most likely first."""
        from connections.problems import RECOMMENDATIONS

        return RECOMMENDATIONS.get(self.error_reason, []) if self.status == self.Status.ERROR else []

    def clean(self) -> None:
        from connections.catalog import UnknownConnector, registry

        try:
            spec = registry().get(self.connector_key)
        except UnknownConnector:
            raise ValidationError({"connector_key": f"There is no app {self.connector_key!r} in the catalog."}) \
                from None
        if self.slot == self.Slot.SECONDARY and not spec.secondary:
            raise ValidationError({"slot": f"{spec.name} has no secondary connector."})
        if self.owner_id and not self.parent_id:
            raise ValidationError("A personal connection is made from a shared one (its parent).")


class OAuthProfile(models.Model):
    """The client id and secret a deployment registered with an app ("OAuth profile")."""

    name = models.CharField(max_length=120)
    connector_key = models.CharField(max_length=80)
    client_id = models.CharField(max_length=255)
    client_secret = models.TextField(blank=True, editable=False, help_text="Sealed by the vault.")
    is_default = models.BooleanField(default=False, help_text="Used by new connections of this app.")
    from_environment = models.BooleanField(default=False, editable=False,
                                           help_text="Loaded from SPLICE_OAUTH_<KEY>_CLIENT_ID/SECRET.")
    client_secret_expires_at = models.DateTimeField(null=True, blank=True)
    endpoints = models.JSONField(
        default=list, blank=True,
        help_text="The app's OAuth endpoints this client was registered for; its secret goes to no other. "
                  "A {name} stands for one part of a host name or path (https://{subdomain}.zendesk.com/oauth/tokens).",
    )
    vault_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    data_key = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connector_key", "name"]
        verbose_name = "OAuth profile"
        constraints = [
            models.UniqueConstraint(fields=["connector_key", "name"], name="oauth_profile_name_unique"),
            models.UniqueConstraint(fields=["connector_key"], condition=models.Q(is_default=True),
                                    name="oauth_profile_one_default"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.connector_key})"


class OAuthFlow(models.Model):
    """One authorization in progress: the state parameter and what the callback needs, kept server-side.

    Single use (`used_at`), bound to the session and user that began it, expires after 10 minutes.
    The PKCE verifier and OAuth 1.0a request-token secret are sealed with the connection's data key.
    """

    state = models.CharField(max_length=128, unique=True)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="oauth_flows")
    user = models.ForeignKey(conf.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key_hash = models.CharField(max_length=64)
    reauthorize = models.BooleanField(default=False)
    code_verifier = models.TextField(blank=True)
    request_token = models.CharField(max_length=255, blank=True)
    request_token_secret = models.TextField(blank=True)
    origins = models.JSONField(default=list, help_text="The origins being authorized (Connection.authorized_origins).")
    issuer = models.CharField(max_length=500, blank=True, help_text="RFC 9207: the `iss` the callback must carry.")
    issuer_required = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["request_token"], name="oauth_flow_request_token_idx")]

    def __str__(self) -> str:
        return f"OAuth flow for connection {self.connection_id}"


class AuditEvent(models.Model):
    """Who did what to which connection, and when. Never holds a secret: changed secrets show as ••••."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        AUTHORIZED = "authorized", "Authorized"
        REAUTHORIZED = "reauthorized", "Re-authorized"
        AUTHORIZATION_FAILED = "authorization_failed", "Authorization failed"
        TESTED = "tested", "Tested"
        STATUS_CHANGED = "status_changed", "Status changed"
        SETTINGS_CHANGED = "settings_changed", "Settings changed"
        ORIGIN_CHANGED = "origin_changed", "Address changed; credentials erased"
        TOKEN_REFRESHED = "token_refreshed", "Token refreshed"
        DISCONNECTED = "disconnected", "Disconnected"
        DELETED = "deleted", "Deleted"
        BOUND = "bound", "Bound to a recipe"
        UNBOUND = "unbound", "Unbound from a recipe"
        FIRST_USED = "first_used", "First used by a job"

    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="audit_events")
    connection_name = models.CharField(max_length=120, help_text="Kept after the connection is deleted.")
    project = models.ForeignKey("accounts.Project", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    actor = models.ForeignKey(conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    summary = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["connection", "-created_at"], name="audit_connection_idx"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.connection_name}"


class ConnectLinkUse(models.Model):
    """A runtime user connect link that has served (connections.runtime_users): the link itself is signed and
    stored nowhere, so its nonce is kept here to make it single use."""

    nonce = models.CharField(max_length=64, unique=True)
    person = models.ForeignKey(conf.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    parent = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"Connect link used by {self.person_id} for {self.parent_id}"


class CustomConnector(models.Model):
    """A connector spec an admin uploaded in Splice (not a file): its current YAML, and whether it is offered.

    Every save writes a `CustomConnectorVersion`. `revision` goes up with every change, enabling and
    disabling included, so that other processes notice the change cheaply (connections.custom).
    """

    key = models.CharField(max_length=50, unique=True, editable=False,
                           help_text="From the spec; permanent, because connections store it.")
    name = models.CharField(max_length=200, editable=False, help_text="From the spec, for lists.")
    yaml = models.TextField("YAML spec")
    enabled = models.BooleanField(default=True, help_text="Disabled connectors are not offered for new connections.")
    revision = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    updated_by = models.ForeignKey(conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "key"]
        # Access is the "Manage connectors" privilege (connections.manage_connectors), not per-model permissions.
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class CustomConnectorVersion(models.Model):
    """One saved text of a custom connector's spec: who saved it, when, and what changed."""

    connector = models.ForeignKey(CustomConnector, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    yaml = models.TextField("YAML spec")
    summary = models.CharField(max_length=300, blank=True)
    changed_by = models.ForeignKey(conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["connector", "-number"]
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["connector", "number"], name="custom_connector_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.connector.key} v{self.number}"


# --- health: the periodic sweep, check history (connections.health) -------------------------------


class HealthSweep(models.Model):
    """One run of the periodic health sweep: what it planned and did, how long it took.

    At most one sweep runs at a time: `running` is unique among running rows (a partial unique index),
    and a sweep that never finished (its worker died) stops counting as running at `lock_expires_at`.
    """

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    running = models.BooleanField(default=True)
    lock_expires_at = models.DateTimeField()
    planning_done = models.BooleanField(default=False, help_text="Every check of this sweep is enqueued.")
    planned = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    ok = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Checked by someone else meanwhile, or not due.")
    changed = models.PositiveIntegerField(default=0, help_text="Checks that changed a connection's status.")

    class Meta:
        ordering = ["-started_at", "-pk"]
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["running"], condition=models.Q(running=True),
                                    name="health_sweep_one_running"),
        ]

    def __str__(self) -> str:
        return f"Health sweep {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration_seconds(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None


class ConnectionHealth(models.Model):
    """The sweep's bookkeeping for one connection: when it may be checked next, and who is checking it now."""

    connection = models.OneToOneField(Connection, primary_key=True, on_delete=models.CASCADE, related_name="health")
    next_check_at = models.DateTimeField(null=True, blank=True,
                                         help_text="Backoff: sweeps skip it before this while it keeps failing.")
    retry_after_until = models.DateTimeField(null=True, blank=True,
                                             help_text="The app asked (Retry-After) not to be called before this.")
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    counted_sweep = models.ForeignKey(HealthSweep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                      help_text="The last sweep that counted this connection (each counts it once).")
    expiry_warned_for = models.DateTimeField(null=True, blank=True,
                                             help_text="The credential expiry its people were last warned about.")

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["next_check_at"], name="connection_health_due_idx")]

    def __str__(self) -> str:
        return f"Health of connection {self.connection_id}"


class HealthHostSlot(models.Model):
    """One of the N slots that bound concurrent checks against one app host (a semaphore in the database,
    so it holds across worker processes with or without Redis). A slot whose holder died frees itself
    at `expires_at`."""

    host = models.CharField(max_length=255)
    slot = models.PositiveSmallIntegerField()
    owner = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["host", "slot"], name="health_host_slot_unique")]

    def __str__(self) -> str:
        return f"{self.host} #{self.slot}"


class ConnectionCheck(models.Model):
    """One check of a connection and what it did to its status. Never holds a secret: the message is the
    classification's (connections.problems), which names no credential."""

    class Source(models.TextChoices):
        SWEEP = "sweep", "Scheduled check"
        CHECK = "check", "Check now"
        TEST = "test", "Test now"
        AUTHORIZATION = "authorization", "Authorization"
        JOB = "job", "Job step"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.TEST)
    ok = models.BooleanField()
    kind = models.CharField(max_length=32, help_text='"ok", or the kind of problem (connections.problems.Kind).')
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    status_before = models.CharField(max_length=16, choices=Connection.Status.choices)
    reason_before = models.CharField(max_length=32, choices=Connection.ErrorReason.choices, blank=True)
    status_after = models.CharField(max_length=16, choices=Connection.Status.choices)
    reason_after = models.CharField(max_length=32, choices=Connection.ErrorReason.choices, blank=True)
    actor = models.ForeignKey(conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    sweep = models.ForeignKey(HealthSweep, null=True, blank=True, on_delete=models.SET_NULL, related_name="checks")

    class Meta:
        ordering = ["-checked_at", "-pk"]
        default_permissions = ()
        indexes = [
            models.Index(fields=["connection", "-checked_at"], name="connection_check_recent_idx"),
            models.Index(fields=["checked_at"], name="connection_check_prune_idx"),
        ]

    def __str__(self) -> str:
        return f"Check of connection {self.connection_id} at {self.checked_at:%Y-%m-%d %H:%M}"

    @property
    def changed(self) -> bool:
        return (self.status_before, self.reason_before) != (self.status_after, self.reason_after)

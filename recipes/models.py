"""Recipes: a trigger and ordered actions, in a project, running on bound connections.

A recipe binds one connection per app (and per slot: an app with a secondary connector has a second
slot for a second instance). Every step of that app uses the binding, so changing it switches them all.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from connections.catalog.app_slot import PRIMARY, SECONDARY, SLOTS, AppSlot

__all__ = ["ChatCommand", "ChatLinkCode", "ChatUser", "ConnectionBinding", "Job", "JobStep", "Recipe", "RecipeVersion",
           "Step", "TriggerState"]

SLOT_CHOICES = [(PRIMARY, "Primary"), (SECONDARY, "Secondary")]


class Recipe(models.Model):
    class Kind(models.TextChoices):
        STANDARD = "standard", "Standard"
        CALLABLE = "callable", "Callable (invoked by API or another recipe)"
        WORKBOT = "workbot", "Workbot (invoked by a chat command)"

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="recipes")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STANDARD)
    running = models.BooleanField(default=False, help_text="Its trigger is registered: it starts jobs.")
    stopped_reason = models.CharField(max_length=300, blank=True, help_text="Why Splice stopped it, if it did.")
    # The runtime's settings for this recipe
    retry_limit = models.PositiveSmallIntegerField(
        default=3, help_text="How many times a step that meets a passing failure (timeout, 429, 5xx) is tried again.")
    poll_minutes = models.PositiveSmallIntegerField(default=5, help_text="How often a poll trigger asks the app.")
    # The webhook trigger's address (/hooks/<token>/): unguessable, regenerable; null until it has a webhook trigger.
    webhook_token = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    call_fields = models.JSONField(
        default=list, blank=True, help_text="A callable recipe's inputs: [{name, type, required}].")
    version = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="created_recipes"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["project", "name"], name="recipe_list_idx")]
        default_permissions = ()
        permissions = [
            ("add_recipe", "Create recipes"),
            ("view_recipe", "View recipes"),
            ("change_recipe", "Edit recipes"),
            ("delete_recipe", "Delete recipes"),
            ("start_recipe", "Start and stop recipes"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("recipe_editor", args=[self.pk])

    @property
    def allows_runtime_user(self) -> bool:
        """Runtime-user connections exist only for recipes invoked on behalf of a person."""
        return self.kind in (self.Kind.CALLABLE, self.Kind.WORKBOT)


class Step(models.Model):
    """The trigger (position 1) or an action, of one app's operation, with its input mapping."""

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    is_trigger = models.BooleanField(default=False)
    connector_key = models.CharField(max_length=80)
    slot = models.CharField(max_length=10, choices=SLOT_CHOICES, default=PRIMARY)
    operation_key = models.CharField(max_length=80)
    inputs = models.JSONField(default=dict, blank=True, help_text="Input name → text, which may hold data pills.")

    class Meta:
        ordering = ["recipe", "position"]
        constraints = [models.UniqueConstraint(fields=["recipe", "position"], name="step_position_unique")]

    def __str__(self) -> str:
        return f"{self.recipe} #{self.position}: {self.connector_key}.{self.operation_key}"

    @property
    def app_slot(self) -> AppSlot:
        """The app (connector and slot) whose operation this step runs."""
        return AppSlot(self.connector_key, self.slot)

    @property
    def ref(self) -> str:
        """How data pills name this step: `trigger`, or `step2`, `step3`…"""
        return "trigger" if self.is_trigger else f"step{self.position}"


class ConnectionBinding(models.Model):
    """The recipe's choice of connection for one app (and slot): one connection per app per recipe."""

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="bindings")
    connector_key = models.CharField(max_length=80, help_text="Connector key of the app, without the slot.")
    slot = models.CharField(max_length=10, choices=SLOT_CHOICES, default=PRIMARY)
    connection = models.ForeignKey("connections.Connection", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="bindings")
    runtime_user = models.BooleanField(
        default=False, help_text="Each job uses the invoking person's own connection (callable and workbot only)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recipe", "connector_key", "slot"], name="binding_one_per_app_slot"),
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.recipe} → {self.connector_key}/{self.slot}"

    @property
    def app_slot(self) -> AppSlot:
        """The app (connector and slot) this binding chooses a connection for."""
        return AppSlot(self.connector_key, self.slot)

    def clean(self) -> None:
        if self.runtime_user and not self.recipe.allows_runtime_user:
            raise ValidationError({"runtime_user": "Runtime user connections are only available in callable "
                                                   "and workbot recipes."})
        if self.slot not in SLOTS:
            return  # clean_fields() says so
        spec = self.app_slot.as_primary().spec_or_none
        if spec is None:
            raise ValidationError({"connector_key": f"There is no app {self.connector_key!r} in the catalog."})
        if self.app_slot.is_secondary and not spec.secondary:
            raise ValidationError({"slot": f"{spec.name} has no secondary connector, so a recipe can use only "
                                           f"one {spec.name} connection."})
        if self.connection_id and self.connection.app_slot != self.app_slot:
            raise ValidationError({"connection": "This connection is for another app."})


class RecipeVersion(models.Model):
    """One saved change to a recipe: who, when, what, and the recipe as it was after it."""

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)
    summary = models.CharField(max_length=300)
    snapshot = models.JSONField(default=dict)

    class Meta:
        ordering = ["recipe", "-version"]
        constraints = [models.UniqueConstraint(fields=["recipe", "version"], name="recipe_version_unique")]

    def __str__(self) -> str:
        return f"{self.recipe} v{self.version}"


class ChatUser(models.Model):
    """A chat account (a Slack user of one workspace) linked to the Splice person its Workbot commands run as: by
    that person with a one-time code, or by an admin."""

    class Provider(models.TextChoices):
        SLACK = "slack", "Slack"

    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.SLACK)
    team_id = models.CharField("workspace id", max_length=40, help_text="Slack's team id, like T0123ABCD.")
    chat_user_id = models.CharField("chat user id", max_length=40, help_text="Slack's user id, like U0123ABCD.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_users",
                             verbose_name="person", help_text="Commands from this chat account run as this person.")
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", help_text="The person themself (with a code), or an admin.")
    linked_at = models.DateTimeField(auto_now=True)
    last_command_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "chat account"
        ordering = ["provider", "team_id", "chat_user_id"]
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["provider", "team_id", "chat_user_id"],
                                               name="chat_user_unique")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.chat_user_id} ({self.team_id})"


class ChatLinkCode(models.Model):
    """A one-time code a person posts with a Workbot command to link their chat account: kept only as a keyed hash,
    valid for a few minutes, used once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"Link code of {self.user_id}"


class ChatCommand(models.Model):
    """A command that started a job, and where its answer goes. Slack's response_url is a capability URL (whoever
    holds it may post to that person): it is kept here, never in the job's records, shown nowhere, logged never,
    and cleared once the answer is posted."""

    class Reply(models.TextChoices):
        PENDING = "pending", "Waiting for the job"
        SENDING = "sending", "Posting"
        SENT = "sent", "Posted"
        FAILED = "failed", "Could not be posted"

    job = models.OneToOneField("recipes.Job", on_delete=models.CASCADE, related_name="chat_command")
    chat_user = models.ForeignKey(ChatUser, null=True, on_delete=models.SET_NULL, related_name="+")
    command = models.CharField(max_length=40)
    response_url = models.CharField(max_length=500, blank=True)
    reply = models.CharField(max_length=10, choices=Reply.choices, default=Reply.PENDING)
    reply_error = models.CharField(max_length=200, blank=True, help_text="Why the answer could not be posted.")
    replied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.command} → job {self.job_id}"


from recipes.runtime.models import Job, JobStep, TriggerState  # noqa: E402 (the runtime's models, in this app)

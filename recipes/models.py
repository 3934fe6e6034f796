"""Recipes: a trigger and ordered actions, in a project, running on bound connections."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Recipe(models.Model):
    class Kind(models.TextChoices):
        STANDARD = "standard", "Standard"
        CALLABLE = "callable", "Callable"
        WORKBOT = "workbot", "Workbot"

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="recipes")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STANDARD)
    running = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="created_recipes"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
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


class ConnectionBinding(models.Model):
    """The recipe's choice of connection for one app (and slot): one connection per app per recipe."""

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="bindings")
    app_key = models.CharField(max_length=80, help_text="Connector key of the app, without the slot.")
    slot = models.CharField(max_length=10, default="primary")
    connection = models.ForeignKey("connections.Connection", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="bindings")
    runtime_user = models.BooleanField(
        default=False, help_text="Each job uses the invoking person's own connection (callable and workbot only)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recipe", "app_key", "slot"], name="binding_one_per_app_slot"),
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.recipe} → {self.app_key}/{self.slot}"

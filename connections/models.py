"""Connections: one authenticated account of an app, in a project, reusable by many recipes."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Connection(models.Model):
    name = models.CharField(max_length=120)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="connections")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="created_connections"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
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
        ]

    def __str__(self) -> str:
        return self.name

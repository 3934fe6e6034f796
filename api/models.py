"""What the REST API keeps of its own: who wrote what through it (with which token), and the first answer to each
Idempotency-Key a token sent on a create."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiWrite(models.Model):
    """A write made through the API: the token's owner and the token's name (kept after it is revoked or deleted),
    the operation and the object, and what it answered. The objects' own logs (connection audit events, which also
    name the token, and recipe history) say what changed in them."""

    token = models.ForeignKey("accounts.ApiToken", null=True, on_delete=models.SET_NULL, related_name="+")
    token_name = models.CharField(max_length=100)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    operation = models.CharField(max_length=60, help_text="The API operation, e.g. connection_disconnect.")
    object_type = models.CharField(max_length=20)
    object_id = models.BigIntegerField(null=True)
    status_code = models.PositiveSmallIntegerField()
    summary = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API write"
        indexes = [models.Index(fields=["object_type", "object_id", "-created_at"], name="apiwrite_object_idx")]

    def __str__(self) -> str:
        return f"{self.operation} {self.object_type} {self.object_id} by {self.token_name}"


class IdempotentRequest(models.Model):
    """A create sent with an Idempotency-Key: the key is taken (status_code None while the first request runs),
    then holds the first answer, replayed to a retry with the same key and body for SPLICE_API_IDEMPOTENCY_HOURS."""

    token = models.ForeignKey("accounts.ApiToken", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    operation = models.CharField(max_length=60)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the path and body.")
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotent_request_key_unique")]

    def __str__(self) -> str:
        return f"{self.operation} {self.key}"

"""Jobs (one run of a recipe) and their steps, and what a poll trigger has seen.

Imported by recipes.models, so Django finds them in the recipes app. A job's records never hold a secret: inputs,
outputs and trigger data are masked (recipes.runtime.masking) before they are saved.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

__all__ = ["Job", "JobStep", "TriggerState"]


class Job(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        POLL = "poll", "New record"
        WEBHOOK = "webhook", "Webhook"
        CALL = "call", "API call"
        WORKBOT = "workbot", "Chat command"
        RERUN = "rerun", "Re-run"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    recipe = models.ForeignKey("recipes.Recipe", on_delete=models.CASCADE, related_name="jobs")
    recipe_version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    trigger_kind = models.CharField(max_length=16, choices=Trigger.choices)
    trigger_data = models.JSONField(default=dict, blank=True, help_text="What started the job (masked).")
    # What identifies the record or delivery that started it (a polled record's id, a webhook-id): one job each.
    dedup_key = models.CharField(max_length=200, null=True, blank=True)
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+", help_text="Who started it (an API call's token owner, a re-run).")
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    result = models.JSONField(null=True, blank=True, help_text="A callable recipe's Return result (masked).")
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    recommendations = models.JSONField(default=list, blank=True)
    action_url = models.CharField(
        max_length=500, blank=True,
        help_text="A path in Splice the error asks someone to follow (connect their account).")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Which run holds the job, and until when: a second delivery of its task (a redelivery, a recovery) waits its
    # turn instead of running it twice.
    lease_owner = models.CharField(max_length=40, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        default_permissions = ()
        indexes = [
            models.Index(fields=["recipe", "-created_at"], name="job_recipe_recent_idx"),
            models.Index(fields=["status", "created_at"], name="job_status_idx"),
            models.Index(fields=["created_at"], name="job_created_idx"),
            # The jobs lists filtered by the person they ran as (runtime user connections).
            models.Index(fields=["run_as", "-created_at"], name="job_run_as_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["recipe", "dedup_key"], condition=Q(dedup_key__isnull=False),
                                    name="job_one_per_record"),
        ]

    def __str__(self) -> str:
        return f"{self.recipe} job {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("job_detail", args=[self.pk])

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return int((end - self.started_at).total_seconds() * 1000)


class JobStep(models.Model):
    """One action of a job: what it was sent (masked), what it got (masked), as which connection and user."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        RETRYING = "retrying", "Waiting to retry"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    connector_key = models.CharField(max_length=80)
    slot = models.CharField(max_length=10, default="primary")
    operation_key = models.CharField(max_length=80)
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    recommendations = models.JSONField(default=list, blank=True)
    connection = models.ForeignKey("connections.Connection", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    connection_name = models.CharField(max_length=120, blank=True)
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+", help_text="Whose access in the app the step used.")
    # Sent on every attempt of this step where the action names an idempotency header: the app creates one record.
    idempotency_key = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "position"]
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="jobstep_position_unique")]

    def __str__(self) -> str:
        return f"{self.job} step {self.position}"


class TriggerState(models.Model):
    """What a recipe's poll trigger has seen: advanced in the transaction that creates the jobs for new records,
    so a worker stopped at any point neither loses nor repeats one."""

    recipe = models.OneToOneField("recipes.Recipe", on_delete=models.CASCADE, related_name="trigger_state")
    since = models.DateTimeField(null=True, blank=True, help_text="Start from records made since then.")
    primed = models.BooleanField(default=False, help_text="The records listed when it started have been seen.")
    cursor = models.CharField(max_length=200, blank=True, help_text="The newest record id seen.")
    seen_ids = models.JSONField(default=list, blank=True, help_text="Ids of recent records, oldest first.")
    consecutive_auth_failures = models.PositiveIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.recipe} trigger"

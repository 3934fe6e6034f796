"""``manage.py sync_oauth_profiles``: create or update OAuth profiles from SPLICE_OAUTH_<KEY>_CLIENT_ID/SECRET."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from connections.custom import ensure_custom_connectors_loaded
from connections.oauth_profiles import oauth_profiles_sync_from_env


class Command(BaseCommand):
    help = (
        "Create or update the default OAuth profile “From environment” of every connector whose "
        "SPLICE_OAUTH_<KEY>_CLIENT_ID and SPLICE_OAUTH_<KEY>_CLIENT_SECRET are set. Safe to run at every start."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_custom_connectors_loaded()
        report = oauth_profiles_sync_from_env()
        for line in report.lines():
            self.stdout.write(line)
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        if not (report.created or report.updated or report.unchanged or report.warnings):
            self.stdout.write("No SPLICE_OAUTH_<KEY>_CLIENT_ID/SECRET variables are set.")

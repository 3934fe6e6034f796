"""OAuth profiles changed outside the connection flows: edits made in admin, and the profiles a deployment
declares in its environment (``SPLICE_OAUTH_<KEY>_CLIENT_ID`` / ``SPLICE_OAUTH_<KEY>_CLIENT_SECRET``).

Secrets are sealed at once by `connections.credentials` and never come back out of here.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User
from connections.catalog import UnknownConnector, registry
from connections.credentials import open_secret, seal_secret
from connections.models import OAuthProfile
from connections.secrets import Secret
from connections.services import clean_endpoints, oauth_profile_create

__all__ = [
    "ENV_PROFILE_NAME",
    "EnvSyncReport",
    "oauth_profile_update",
    "oauth_profiles_sync_from_env",
]

logger = logging.getLogger(__name__)

ENV_PROFILE_NAME = "From environment"
_ENV_RE = re.compile(r"^SPLICE_OAUTH_(?P<key>[A-Z0-9_]+)_CLIENT_(?P<part>ID|SECRET)$")
_UNSET: object = object()


@transaction.atomic
def oauth_profile_update(*, profile: OAuthProfile, acting_user: User | None, name: str | None = None,
                         client_id: str | None = None, client_secret: str | Secret | None = None,
                         is_default: bool | None = None, endpoints: list[str] | None = None,
                         client_secret_expires_at: datetime | None | object = _UNSET) -> OAuthProfile:
    """Change a profile; a blank or missing ``client_secret`` keeps the current one. ``endpoints``: the app's
    OAuth endpoints the client is registered for (connections.services.oauth_profile_create).

    Making a profile the default takes that role from the app's previous default. The connector is
    fixed: connections that use the profile belong to that app.
    """
    profile = OAuthProfile.objects.select_for_update().get(pk=profile.pk)
    fields: list[str] = []
    for attr, value in (("name", name), ("client_id", client_id)):
        if value is not None and getattr(profile, attr) != value.strip():
            setattr(profile, attr, value.strip())
            fields.append(attr)
    if endpoints is not None and (cleaned := clean_endpoints(endpoints)) != profile.endpoints:
        profile.endpoints = cleaned
        fields.append("endpoints")
    if client_secret_expires_at is not _UNSET and profile.client_secret_expires_at != client_secret_expires_at:
        profile.client_secret_expires_at = client_secret_expires_at
        fields.append("client_secret_expires_at")
    if is_default is not None and profile.is_default != is_default:
        if is_default:
            OAuthProfile.objects.filter(connector_key=profile.connector_key, is_default=True).exclude(
                pk=profile.pk).update(is_default=False)
        profile.is_default = is_default
        fields.append("is_default")
    if client_secret:
        seal_secret(profile, "client_secret", client_secret)
        fields += ["client_secret", "data_key"]
    if not fields:
        return profile
    profile.full_clean(exclude=["data_key", "client_secret"])
    profile.save(update_fields=[*fields, "updated_at"])
    logger.info("OAuth profile %s changed by %s: %s", profile.pk, acting_user,
                ", ".join(f for f in fields if f != "data_key"))
    return profile


# --- from the environment -----------------------------------------------------------------------


@dataclass
class EnvSyncReport:
    """What `oauth_profiles_sync_from_env` did, by connector key, and what it ignored (``warnings``)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            *(f"{key}: created the default OAuth profile “{ENV_PROFILE_NAME}”" for key in self.created),
            *(f"{key}: updated OAuth profile “{ENV_PROFILE_NAME}”" for key in self.updated),
            *(f"{key}: OAuth profile “{ENV_PROFILE_NAME}” is up to date" for key in self.unchanged),
        ]


def _env_pairs(environ: Mapping[str, str], report: EnvSyncReport) -> dict[str, tuple[str, str]]:
    """``{connector key: (client id, client secret)}`` for the keys that have both variables set."""
    parts: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        match = _ENV_RE.match(name)
        if match and value.strip():
            parts.setdefault(match["key"], {})[match["part"]] = value.strip()
    pairs: dict[str, tuple[str, str]] = {}
    for upper, found in sorted(parts.items()):
        prefix = f"SPLICE_OAUTH_{upper}_CLIENT_"
        if "ID" not in found or "SECRET" not in found:
            missing = "ID" if "ID" not in found else "SECRET"
            present = "SECRET" if missing == "ID" else "ID"
            report.warnings.append(f"{prefix}{present} is set but {prefix}{missing} is not; both are needed. Ignored.")
            continue
        pairs[upper.lower()] = (found["ID"], found["SECRET"])
    return pairs


def _check_connector(key: str, report: EnvSyncReport) -> bool:
    prefix = f"SPLICE_OAUTH_{key.upper()}_CLIENT_ID/SECRET"
    try:
        spec = registry().get(key)
    except UnknownConnector:
        report.warnings.append(f"{prefix}: there is no connector {key!r} in the catalog. Ignored.")
        return False
    if spec.is_secondary:
        report.warnings.append(f"{prefix}: {spec.name} uses the OAuth profiles of {spec.primary_key!r}; set "
                               f"SPLICE_OAUTH_{spec.primary_key.upper()}_CLIENT_ID/SECRET instead. Ignored.")
        return False
    if not spec.has_oauth:
        report.warnings.append(f"{prefix}: {spec.name} does not use OAuth. Ignored.")
        return False
    return True


def oauth_profiles_sync_from_env(environ: Mapping[str, str] = os.environ) -> EnvSyncReport:
    """Create or update the profile “From environment” of each connector with both variables set.

    Idempotent: unchanged values write nothing. A new profile becomes the app's default; later runs
    leave the default alone, so an admin may pick another. Variables for unknown connectors, or
    for apps without OAuth, are reported in ``warnings`` and skipped. Custom connectors must be
    loaded first (`connections.custom.ensure_custom_connectors_loaded`).
    """
    report = EnvSyncReport()
    for key, (client_id, client_secret) in _env_pairs(environ, report).items():
        if not _check_connector(key, report):
            continue
        with transaction.atomic():
            profile = OAuthProfile.objects.select_for_update().filter(connector_key=key, from_environment=True).first()
            if profile is None:
                if OAuthProfile.objects.filter(connector_key=key, name=ENV_PROFILE_NAME).exists():
                    report.warnings.append(f"{key}: a profile named “{ENV_PROFILE_NAME}” was made in admin; rename it "
                                           "to let the environment's profile be created. Ignored.")
                    continue
                try:
                    profile = oauth_profile_create(connector_key=key, name=ENV_PROFILE_NAME, client_id=client_id,
                                                   client_secret=client_secret, acting_user=None, is_default=True)
                except ValidationError as exc:
                    report.warnings.append(f"{key}: {'; '.join(exc.messages)}. Ignored.")
                    continue
                OAuthProfile.objects.filter(pk=profile.pk).update(from_environment=True)
                report.created.append(key)
                continue
            if profile.client_id == client_id and open_secret(profile, "client_secret") == Secret(client_secret):
                report.unchanged.append(key)
                continue
            try:
                oauth_profile_update(profile=profile, acting_user=None, client_id=client_id,
                                     client_secret=client_secret)
            except ValidationError as exc:
                report.warnings.append(f"{key}: {'; '.join(exc.messages)}. Ignored.")
                continue
            report.updated.append(key)
    for warning in report.warnings:
        logger.warning("%s", warning)
    return report

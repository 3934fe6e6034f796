"""Where a connection's credentials, and an OAuth client's secret, may be sent.

A connection is authorized for the origins (scheme, host, port) its URLs had at that moment
(`Connection.authorized_origins`); its credentials go to no other, whatever its settings or its connector's
spec say later. An OAuth profile is registered for some endpoints of its app (`OAuthProfile.endpoints`); its
client secret goes to no other.
"""

from __future__ import annotations

from django.conf import settings

from connections.catalog import endpoint_matches, origin_of
from connections.custom import spec_for
from connections.models import Connection, OAuthProfile
from connections.problems import RECOMMENDATIONS, ConnectionProblem, Kind, Verdict

__all__ = [
    "check_credentials_may_go",
    "check_profile_registered_for",
    "origins_for_settings",
]


def origins_for_settings(connection: Connection, settings_values: dict | None = None) -> list[str]:
    """The origins a connection would be authorized for with these settings (its own by default).
    Raises the catalog's InvalidValue for settings that do not resolve."""
    return sorted(spec_for(connection).origins(
        connection.auth_method or 0, connection.settings if settings_values is None else settings_values,
        connection.environment, allow_insecure_loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK,
    ))


def check_credentials_may_go(connection: Connection, url: str) -> None:
    """Raise ConnectionProblem unless `connection` was authorized for the origin of `url`."""
    try:
        origin = origin_of(url)
    except ValueError:
        origin = "an address Splice cannot read safely"
    if origin in (connection.authorized_origins or ()):
        return
    raise ConnectionProblem(Verdict(
        Kind.CREDENTIALS_INVALID,
        f"This connection was not authorized for {origin}: its credentials are sent only to the addresses they "
        "were authorized for. Re-authorize it for its current settings.",
        recommendations=[RECOMMENDATIONS[Kind.CREDENTIALS_INVALID][-1]],
    ))


def check_profile_registered_for(profile: OAuthProfile, app_name: str, method) -> None:
    """Raise ConnectionProblem unless every endpoint `method` (a resolved OAuth method) sends the client secret
    to is one the profile was registered for."""
    from connections.auth import auth_for  # its OAuth methods' modules use these checks (through tokens)

    for url in auth_for(method.type).client_secret_urls(method):
        if not any(endpoint_matches(url, pattern) for pattern in profile.endpoints or ()):
            raise ConnectionProblem(Verdict(
                Kind.OTHER,
                f"The OAuth profile “{profile.name}” is not registered for {app_name}'s endpoint {origin_of(url)}"
                f"{_path(url)}, so Splice does not send its client secret there.",
                recommendations=[
                    "Check the connection's OAuth addresses.",
                    "An admin can register this endpoint on the OAuth profile (Admin → OAuth profiles → Endpoints), "
                    "or give the connection an OAuth profile of its own.",
                ],
            ))


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path

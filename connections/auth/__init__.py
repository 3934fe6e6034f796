"""Auth methods as classes, one module each, looked up by the spec method's `type`:

    auth = auth_for(method.type)        # method: a (resolved) spec auth method
    auth.sign(method=method, connection=connection, headers=headers, params=params, oauth_client=...)
    auth.refreshes, auth.redirects(method), auth.uses_credentials_form, auth.needs_oauth_client

The registry is this explicit mapping. A new method is a module here with its class added below, plus its
spec model in connections.catalog.schema (the `type` the spec's discriminated union knows it by).
"""

from __future__ import annotations

from connections.auth.api_key import ApiKeyAuth
from connections.auth.base import Auth, Authorizing, OAuthClient
from connections.auth.basic import BasicAuth
from connections.auth.oauth1 import OAuth1Auth
from connections.auth.oauth2 import OAuth2Auth

__all__ = ["AUTH_METHODS", "Auth", "Authorizing", "OAuthClient", "UnknownAuthType", "auth_for"]


class UnknownAuthType(LookupError):
    """No auth method class serves this spec method type."""


AUTH_METHODS: dict[str, Auth] = {auth.type: auth for auth in (OAuth2Auth(), OAuth1Auth(), BasicAuth(), ApiKeyAuth())}


def auth_for(method_type: str) -> Auth:
    """The auth method class for a spec method's `type` ("oauth2", "basic", …); UnknownAuthType for any other."""
    try:
        return AUTH_METHODS[method_type]
    except (KeyError, TypeError):
        raise UnknownAuthType(f"no auth method of type {method_type!r} (known: {', '.join(AUTH_METHODS)})") from None

"""HTTP Basic with a username and password the person types in the credentials form (RFC 7617)."""

from __future__ import annotations

from requests.auth import HTTPBasicAuth

from connections.auth.base import Auth, required_secret

__all__ = ["BasicAuth"]


class BasicAuth(Auth):
    type = "basic"
    label = "Username and password"
    stores = ("username", "password")
    uses_credentials_form = True

    def sign(self, *, method, connection, headers, params, oauth_client):
        return HTTPBasicAuth(connection.username, required_secret(connection, "password").reveal())

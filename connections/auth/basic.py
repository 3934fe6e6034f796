"""HTTP Basic with a username and password the person types in the credentials form (RFC 7617)."""

from __future__ import annotations

from requests.auth import HTTPBasicAuth

from connections.auth.base import Auth, not_authorized
from connections.credentials import open_secret
from connections.problems import ConnectionProblem

__all__ = ["BasicAuth"]


class BasicAuth(Auth):
    type = "basic"
    label = "Username and password"
    stores = ("username", "password")
    uses_credentials_form = True

    def sign(self, *, method, connection, headers, params, oauth_client):
        password = open_secret(connection, "password")
        if password is None:
            raise ConnectionProblem(not_authorized())
        return HTTPBasicAuth(connection.username, password.reveal())

"""An API key, or a key and a secret, typed in the credentials form and sent in a header, a query parameter or
as HTTP Basic, as the spec's `in`, `name`, `format` and `secret_name` say."""

from __future__ import annotations

from requests.auth import HTTPBasicAuth

from connections.auth.base import Auth, required_secret
from connections.credentials import open_secret

__all__ = ["ApiKeyAuth"]


class ApiKeyAuth(Auth):
    type = "api_key"
    label = "API key"
    stores = ("api_key", "api_secret")
    uses_credentials_form = True

    def sign(self, *, method, connection, headers, params, oauth_client):
        key, secret = required_secret(connection, "api_key"), open_secret(connection, "api_secret")
        value = method.render(key.reveal(), secret.reveal() if secret else None)
        if method.in_ == "basic":  # `format` renders the user name; the secret is the password
            return HTTPBasicAuth(value, secret.reveal() if secret else "")
        carrier = params if method.in_ == "query" else headers
        carrier[method.name or ("api_key" if method.in_ == "query" else "Authorization")] = value
        if method.secret_name and secret:
            carrier[method.secret_name] = secret.reveal()
        return None

"""What every auth method answers: how it signs a request, how a connection is authorized with it, which
credentials it keeps, and whether it refreshes or needs an OAuth client. One subclass per method type.

The spec's method (connections.catalog: OAuth2Method, …) is data, resolved for one connection's settings; a
class here is the behaviour, stateless, and is handed that resolved method with each question.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from requests.auth import AuthBase

from connections.catalog import ConnectorSpec
from connections.credentials import get_vault, open_sealed, open_secret, row_context, sealed_for
from connections.models import Connection, OAuthFlow
from connections.problems import ConnectionProblem, Verdict
from connections.tokens import TokenSet, credentials_refused
from connections.vault import Secret

__all__ = ["Auth", "Authorizing", "OAuthClient", "flow_open", "flow_seal", "not_authorized"]

# The OAuth client (id, secret) of the profile a connection uses, looked up only when asked for.
OAuthClient = tuple[str, Secret | None]


@dataclass(frozen=True)
class Authorizing:
    """One browser authorization of a connection: its resolved spec method and connector, the OAuth client,
    the flow row (what the callback needs goes on it, sealed where secret) and Splice's redirect URI."""

    connection: Connection
    method: Any
    spec: ConnectorSpec
    client: OAuthClient
    flow: OAuthFlow
    redirect_uri: str


class Auth(ABC):
    """An auth method's behaviour. Subclasses set `type` (the spec's `type`) and override what applies."""

    type: ClassVar[str]
    label: ClassVar[str]
    # The Connection columns it keeps credentials in (those in CONNECTION_SECRET_FIELDS sealed).
    stores: ClassVar[tuple[str, ...]] = ()
    refreshes: ClassVar[bool] = False  # its access token expires and is renewed (connections.tokens)
    needs_oauth_client: ClassVar[bool] = False  # it uses an OAuth profile's client id and secret
    signs_with_client_secret: ClassVar[bool] = False  # every request carries (a signature by) the client secret
    uses_credentials_form: ClassVar[bool] = False  # a person types its credentials (spec: credential_fields)

    def redirects(self, method) -> bool:
        """Whether authorizing sends the person's browser to the app and back (begin / check_callback / exchange)."""
        return False

    def scopes(self, method):
        """The OAuth scopes (catalog Scopes) the wizard may offer, or None when the method has none."""
        return None

    def client_secret_urls(self, method) -> list[str]:
        """Every URL the OAuth client's secret goes to (an OAuth profile must be registered for each)."""
        return [url for name, url in method.url_templates().items() if name != "base_url"]

    # --- requests ---------------------------------------------------------------------------

    @abstractmethod
    def sign(self, *, method, connection: Connection, headers: dict, params: dict,
             oauth_client: Callable[[], OAuthClient]) -> AuthBase | None:
        """Put the connection's credentials on a request: into `headers` / `params` (changed in place), or as the
        requests auth returned. Raises ConnectionProblem when the connection has none yet."""

    # --- authorizing ------------------------------------------------------------------------

    def begin(self, authorizing: Authorizing) -> str:
        """Start a browser flow: fill in `authorizing.flow` (not saved yet) and return the app's authorization URL."""
        raise ValueError(f"{self.label} connections are not authorized in a browser")

    def check_callback(self, params: dict, flow: OAuthFlow) -> None:  # noqa: B027 (most methods check nothing)
        """Refuse the app's redirect before anything else is read from it (ConnectionProblem)."""

    def exchange(self, authorizing: Authorizing, params: dict) -> tuple[TokenSet, Secret | None]:
        """The tokens (and OAuth 1.0a token secret) the app's redirect is exchanged for."""
        raise ValueError(f"{self.label} connections are not authorized in a browser")

    def fetch_tokens(self, method, client: OAuthClient) -> TokenSet:
        """Tokens without a browser or a form (OAuth 2.0 client credentials)."""
        raise ValueError(f"{self.label} connections are not authorized without a person")

    def revoke(self, connection: Connection, method, *, oauth_client: Callable[[], OAuthClient]) -> str:
        """Ask the app to revoke the connection's tokens; what became of them, "" when the app offers no way."""
        return ""


def not_authorized() -> Verdict:
    return credentials_refused("This connection has no credentials yet: authorize it first.")


def required_secret(connection: Connection, field: str) -> Secret:
    """The stored secret a request needs; ConnectionProblem (not authorized yet) when there is none."""
    secret = open_secret(connection, field)
    if secret is None:
        raise ConnectionProblem(not_authorized())
    return secret


def flow_seal(connection: Connection, field: str, value: str) -> str:
    """A value the callback needs (PKCE verifier, request-token secret), sealed under the connection's data key.
    A row without one gets it saved first, so the callback opens the value with the key the row holds then."""
    if not connection.data_key:
        connection.data_key = get_vault().new_data_key(row_context(connection))
        Connection.objects.filter(pk=connection.pk, data_key="").update(data_key=connection.data_key)
        connection.refresh_from_db(fields=["data_key"])  # another flow's key, if it saved one first
    return sealed_for(connection, field, value)


def flow_open(connection: Connection, field: str, sealed: str) -> Secret:
    return open_sealed(connection, field, sealed)

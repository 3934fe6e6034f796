"""The connector spec format as pydantic models, and the descriptor helpers built on it.

A `ConnectorSpec` is a stateless descriptor of one app: what the wizard asks for, how it
authenticates, how a connection is tested, and its triggers and actions. These models check the
structure of a spec (types, required fields, unknown keys); `checks.check_spec` adds the rules
that span several fields, and `loader` turns both into ``file: path: problem`` messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from .app_slot import SECONDARY_SUFFIX
from .errors import (
    InvalidInput,
    InvalidSetting,
    InvalidSettings,
    InvalidValue,
    UnknownAuthMethod,
    UnknownOperation,
)
from .templating import (
    check_https_url,
    join_url,
    origin_of,
    parse_path_template,
    parse_url_template,
    placeholders,
    render_path,
    resolve_url_template,
)

__all__ = [
    "AUTH_TYPES",
    "Action",
    "ApiKeyMethod",
    "AuthMethod",
    "BasicMethod",
    "ConnectorSpec",
    "CredentialField",
    "Environment",
    "FieldLabel",
    "Icon",
    "InputField",
    "OAuth1Method",
    "OAuth2Method",
    "Operation",
    "OutputField",
    "ResolvedRequest",
    "ResponseRule",
    "SandboxEnvironment",
    "Scopes",
    "SecretField",
    "SelectOption",
    "SettingField",
    "GENERIC_ACTION",
    "MAKE_REQUEST",
    "TestRequest",
    "Trigger",
    "WebhookSignature",
    "dig",
]

AUTH_TYPES = ("oauth2", "oauth1", "basic", "api_key")
ENVIRONMENTS = ("production", "sandbox")
Environment = Literal["production", "sandbox"]

_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_DOTTED_RE = re.compile(r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$")
_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_FORMAT_NAMES = frozenset({"api_key", "api_secret"})
_MISSING: Any = object()


# --- field types -----------------------------------------------------------------------------


def _check_key(value: str) -> str:
    if not _KEY_RE.match(value):
        raise ValueError(f"{value!r} must be lowercase snake_case (a-z, 0-9, _), starting with a letter")
    if len(value) > 50:
        raise ValueError("must be at most 50 characters")
    return value


def _check_connector_key(value: str) -> str:
    _check_key(value)
    if value.endswith(SECONDARY_SUFFIX):
        raise ValueError(f"must not end in '{SECONDARY_SUFFIX}' (secondary connectors are derived)")
    return value


def _check_input_name(value: str) -> str:
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
        raise ValueError(f"{value!r} must be letters, digits and _, not starting with a digit")
    return value


def _check_url_template(value: str) -> str:
    parse_url_template(value)
    return value


def _check_https_url(value: str) -> str:
    """A plain link (``docs_url``): https, a host, no credentials; query and fragment are fine."""
    if placeholders(value):
        raise ValueError("must not contain placeholders")
    if value.startswith("http://"):
        raise ValueError(f"must use https, not http ({value!r})")
    base = value.split("#", 1)[0].split("?", 1)[0]
    try:
        check_https_url(base, field="url")
    except InvalidValue as exc:
        raise ValueError(exc.message) from None
    return value


def _check_path_template(value: str) -> str:
    parse_path_template(value)
    return value


def _check_dotted(value: str) -> str:
    if not _DOTTED_RE.match(value):
        raise ValueError(f"{value!r} is not a dotted path like 'user.email'")
    return value


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


def _check_scalar(value: Any) -> Any:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError("must be a string, number or boolean")
    return value


def _check_color(value: str) -> str:
    if not re.match(r"^#[0-9A-Fa-f]{6}$", value):
        raise ValueError(f"{value!r} must be a colour like '#00A1E0'")
    return value


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _check_status(values: list[int]) -> list[int]:
    for code in values:
        if not 100 <= code <= 599:
            raise ValueError(f"{code} is not an HTTP status code")
    return values


Key = Annotated[str, AfterValidator(_check_key)]
ConnectorKey = Annotated[str, AfterValidator(_check_connector_key)]
InputName = Annotated[str, AfterValidator(_check_input_name)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=2000)]
UrlTemplateText = Annotated[str, AfterValidator(_check_url_template)]
HttpsUrl = Annotated[str, AfterValidator(_check_https_url)]
PathTemplateText = Annotated[str, AfterValidator(_check_path_template)]
DottedPath = Annotated[str, AfterValidator(_check_dotted)]
Regex = Annotated[str, AfterValidator(_check_regex)]
Scalar = Annotated[Any, AfterValidator(_check_scalar)]
StatusCodes = Annotated[list[int], AfterValidator(_check_status)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def dig(data: Any, path: str, default: Any = None) -> Any:
    """Follow a dotted path (``user.email``, ``records.0.Id``) into decoded JSON."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return default
    return current


# --- presentation ----------------------------------------------------------------------------


class Icon(_Model):
    """A letter badge (``{letter: S, color: "#00A1E0"}``) or an image under static/ (``{file: ...}``)."""

    letter: Annotated[str, Field(min_length=1, max_length=2)] | None = None
    color: Annotated[str, AfterValidator(_check_color)] = "#6B7280"
    file: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Icon:
        if (self.letter is None) == (self.file is None):
            raise ValueError("give either 'letter' or 'file'")
        if self.file is not None and (
            self.file.startswith("/")
            or ".." in self.file.split("/")
            or not re.match(r"^[A-Za-z0-9_./-]+\.(svg|png|webp)$", self.file)
        ):
            raise ValueError("file must be a path under static/ ending in .svg, .png or .webp")
        return self


class SelectOption(_Model):
    value: Annotated[str, Field(min_length=1, max_length=200)]
    label: Text


# --- settings --------------------------------------------------------------------------------


class SettingField(_Model):
    """A non-secret value the wizard asks for, e.g. a subdomain; stored in plain text."""

    label: Text
    type: Literal["string", "integer", "boolean", "select", "url"] = "string"
    required: bool = True
    default: Scalar = None
    help: LongText = ""
    pattern: Regex | None = None
    options: list[SelectOption] = []
    example: Scalar = None
    max_length: Annotated[int, Field(ge=1, le=2048)] = 255
    auth_methods: list[str] = []

    def applies_to(self, method_key: str | None) -> bool:
        """Whether the wizard asks for this field when ``method_key`` is the chosen auth method."""
        return not self.auth_methods or method_key is None or method_key in self.auth_methods

    def clean(self, name: str, value: Any, *, allow_insecure_loopback: bool = False) -> Any:
        """Return the value converted to the field's type, or raise ``InvalidSetting(name, ...)``."""
        if self.type == "boolean":
            return self._clean_bool(name, value)
        if self.type == "integer":
            return self._clean_int(name, value)
        if not isinstance(value, str):
            raise InvalidSetting(name, "must be text")
        value = value.strip()
        if len(value) > self.max_length:
            raise InvalidSetting(name, f"must be at most {self.max_length} characters")
        if self.type == "select" and value not in {o.value for o in self.options}:
            allowed = ", ".join(o.value for o in self.options)
            raise InvalidSetting(name, f"must be one of {allowed}")
        if self.type == "url":
            check_https_url(value, field=name, allow_insecure_loopback=allow_insecure_loopback)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            # People read the example; only a spec without one shows its pattern.
            raise InvalidSetting(name, f"must look like “{self.example}”" if self.example not in (None, "")
                                 else f"must match {self.pattern}")
        return value

    @staticmethod
    def _clean_bool(name: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "on", "1", "yes"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"false", "off", "0", "no", ""}:
            return False
        raise InvalidSetting(name, "must be true or false")

    @staticmethod
    def _clean_int(name: str, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            return int(value)
        raise InvalidSetting(name, "must be a whole number")


class SecretField(_Model):
    """A value that belongs to the settings but is sealed like a credential (e.g. a signing secret)."""

    label: Text
    help: LongText = ""
    required: bool = True
    auth_methods: list[str] = []


class FieldLabel(_Model):
    """How the credentials form labels one of an auth method's fields."""

    label: Text
    help: LongText = ""


@dataclass(frozen=True)
class CredentialField:
    """A field of the credentials form for one auth method; ``secret`` ones are sealed and masked."""

    name: str
    label: str
    help: str
    secret: bool


# --- auth methods ----------------------------------------------------------------------------


class ScopeOption(_Model):
    name: Annotated[str, Field(min_length=1, max_length=300)]
    description: LongText = ""


class Scopes(_Model):
    """OAuth 2.0 scopes: those always requested, those a user may add, and how to join them."""

    default: list[Annotated[str, Field(min_length=1, max_length=300)]] = []
    optional: list[ScopeOption] = []
    separator: Literal[" ", ","] = " "
    setting: str | None = None

    def join(self, names: Iterable[str]) -> str:
        return self.separator.join(dict.fromkeys(names))


class _AuthBase(_Model):
    key: Key = ""
    label: Text
    help: LongText = ""
    base_url: UrlTemplateText | None = None

    url_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _default_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "key" not in data and isinstance(data.get("type"), str):
            return {**data, "key": data["type"]}
        return data

    @property
    def redirects(self) -> bool:
        """Whether authorizing sends the user's browser to the app and back."""
        return False

    @property
    def credential_fields(self) -> list[CredentialField]:
        """The fields the credentials form asks for (none for OAuth: tokens come from the flow)."""
        return []

    def url_templates(self) -> dict[str, str]:
        """The URL templates this method declares, by field name (``base_url`` included)."""
        names = (*self.url_fields, "base_url")
        return {name: getattr(self, name) for name in names if getattr(self, name, None)}


class OAuth2Method(_AuthBase):
    type: Literal["oauth2"]
    label: Text = "OAuth 2.0"
    grant: Literal["authorization_code", "client_credentials"] = "authorization_code"
    authorize_url: UrlTemplateText | None = None
    token_url: UrlTemplateText
    revoke_url: UrlTemplateText | None = None
    scopes: Scopes = Scopes()
    pkce: bool = True
    client_auth: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    authorize_params: dict[str, str] = {}
    refresh_token_expires_in: Annotated[int, Field(gt=0)] | None = None
    # RFC 9207: the issuer the authorization response's `iss` must name, or where the server's metadata
    # (RFC 8414) says it, and whether `iss` is required (authorization_response_iss_parameter_supported).
    issuer: UrlTemplateText | None = None
    metadata_url: UrlTemplateText | None = None
    token_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = "Authorization"
    token_format: Annotated[str, Field(min_length=1, max_length=100)] = "Bearer {access_token}"

    url_fields: ClassVar[tuple[str, ...]] = ("authorize_url", "token_url", "revoke_url")

    @property
    def redirects(self) -> bool:
        return self.grant == "authorization_code"

    def scope_string(self, extra: Iterable[str] = ()) -> str:
        """The ``scope`` parameter: default scopes plus ``extra`` (chosen optional ones), joined."""
        return self.scopes.join([*self.scopes.default, *extra])

    def authorization_header(self, access_token: str) -> tuple[str, str]:
        """The header that carries the access token (Shopify uses its own instead of Bearer)."""
        return self.token_header, self.token_format.replace("{access_token}", access_token)


class OAuth1Method(_AuthBase):
    type: Literal["oauth1"]
    label: Text = "OAuth 1.0a"
    request_token_url: UrlTemplateText
    authorize_url: UrlTemplateText
    access_token_url: UrlTemplateText
    signature_method: Literal["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"] = "HMAC-SHA1"
    authorize_params: dict[str, str] = {}

    url_fields: ClassVar[tuple[str, ...]] = ("request_token_url", "authorize_url", "access_token_url")

    @property
    def redirects(self) -> bool:
        return True


class BasicMethod(_AuthBase):
    type: Literal["basic"]
    label: Text = "Username and password"
    username: FieldLabel = FieldLabel(label="Username")
    password: FieldLabel = FieldLabel(label="Password")

    @property
    def credential_fields(self) -> list[CredentialField]:
        return [
            CredentialField("username", self.username.label, self.username.help, secret=False),
            CredentialField("password", self.password.label, self.password.help, secret=True),
        ]


class ApiKeyMethod(_AuthBase):
    """A key (or key + secret) sent in a header, a query parameter, or as HTTP Basic.

    For ``in: basic`` the ``format`` renders the Basic user name and the secret is the password.
    """

    type: Literal["api_key"]
    label: Text = "API key"
    in_: Literal["header", "query", "basic"] = Field("header", alias="in")
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    format: Annotated[str, Field(min_length=1, max_length=200)] = "{api_key}"
    api_key: FieldLabel = FieldLabel(label="API key")
    api_secret: FieldLabel | None = None
    # Apps that take the secret in a header or query parameter of its own (X-API-Key + X-API-Secret).
    secret_name: Annotated[str, Field(min_length=1, max_length=100, pattern=_HEADER_NAME_RE.pattern)] | None = None

    @property
    def credential_fields(self) -> list[CredentialField]:
        fields = [CredentialField("api_key", self.api_key.label, self.api_key.help, secret=True)]
        if self.api_secret is not None:
            fields.append(CredentialField("api_secret", self.api_secret.label, self.api_secret.help, True))
        return fields

    def render(self, api_key: str, api_secret: str | None = None) -> str:
        """The header/query value (or Basic user name): ``format`` with the credentials filled in."""
        values = {"api_key": api_key, "api_secret": api_secret or ""}
        return re.sub(r"\{(api_key|api_secret)\}", lambda m: values[m.group(1)], self.format)


AuthMethod = Annotated[OAuth2Method | OAuth1Method | BasicMethod | ApiKeyMethod, Field(discriminator="type")]


# --- environments, test request, response rules ---------------------------------------------


class SandboxEnvironment(_Model):
    """URLs that replace the production ones for a sandbox connection (Salesforce: test.salesforce.com)."""

    label: Text = "Sandbox"
    base_url: UrlTemplateText | None = None
    authorize_url: UrlTemplateText | None = None
    token_url: UrlTemplateText | None = None
    revoke_url: UrlTemplateText | None = None
    request_token_url: UrlTemplateText | None = None
    access_token_url: UrlTemplateText | None = None

    def overrides(self) -> dict[str, str]:
        return {k: v for k, v in self if k != "label" and v}


class Environments(_Model):
    sandbox: SandboxEnvironment | None = None


class ResponseRule(_Model):
    """A response that means "refresh the token" or "credentials are invalid"; all given conditions must hold.

    ``status`` lists codes; ``path`` with ``equals`` or ``in`` tests a value in the JSON body;
    ``regex`` searches the raw body.
    """

    status: StatusCodes = []
    path: DottedPath | None = None
    equals: Scalar = None
    in_: list[Scalar] | None = Field(None, alias="in")
    regex: Regex | None = None

    @model_validator(mode="after")
    def _has_condition(self) -> ResponseRule:
        if not (self.status or self.path or self.regex):
            raise ValueError("give at least one of status, path (with equals or in) or regex")
        has_value = "equals" in self.model_fields_set or self.in_ is not None
        if self.path and not has_value:
            raise ValueError("path needs 'equals' or 'in'")
        if has_value and not self.path:
            raise ValueError("'equals' and 'in' need a 'path'")
        return self

    def matches(self, status: int, body: str | bytes | None, payload: Any = _MISSING) -> bool:
        """Whether a response with this status and body meets every condition of the rule."""
        if self.status and status not in self.status:
            return False
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        if self.regex is not None and not re.search(self.regex, text):
            return False
        if self.path is not None:
            if payload is _MISSING:
                payload = _json_or_missing(text)
            value = dig(payload, self.path, _MISSING)
            if value is _MISSING:
                return False
            if "equals" in self.model_fields_set and not _same(value, self.equals):
                return False
            if self.in_ is not None and not any(_same(value, candidate) for candidate in self.in_):
                return False
        return True


def _same(value: Any, expected: Any) -> bool:
    """Equality that keeps JSON's booleans apart from numbers (``false`` is not ``0``)."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    return value == expected


def _json_or_missing(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _MISSING


class TestRequest(_Model):
    """The request that proves a connection works, and where the response says who we are."""

    __test__: ClassVar[bool] = False  # not a test class, whatever its name tells pytest

    method: Literal["GET", "POST", "HEAD"] = "GET"
    path: PathTemplateText
    base_url: UrlTemplateText | None = None
    expected_status: StatusCodes = [200]
    identity: Annotated[list[DottedPath], BeforeValidator(_listify)] = []
    invalid_on: list[ResponseRule] = []

    def identity_from(self, payload: Any) -> str | None:
        """The first non-empty identity value in the decoded response ("Connected as …")."""
        for path in self.identity:
            value = dig(payload, path)
            if value not in (None, "", [], {}):
                return str(value)
        return None


# --- triggers and actions --------------------------------------------------------------------


class InputField(_Model):
    name: InputName
    label: Text
    type: Literal["string", "integer", "boolean", "select", "text", "datetime", "object"] = "string"
    required: bool = False
    help: LongText = ""
    options: list[SelectOption] = []
    default: Scalar = None


class OutputField(_Model):
    """A field of the response offered as a data pill; dotted names reach into nested objects."""

    name: DottedPath
    label: Text
    type: Literal["string", "integer", "number", "boolean", "datetime", "object", "array"] = "string"


@dataclass(frozen=True)
class ResolvedRequest:
    """A request ready to send: the client adds credentials, a timeout and the body encoding."""

    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    encoding: str = "json"
    expected_status: tuple[int, ...] = ()


class _OperationBase(_Model):
    key: Key
    name: Text
    description: LongText = ""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    path: PathTemplateText | None = None
    base_url: UrlTemplateText | None = None
    input: list[InputField] = []
    output: list[OutputField] = []
    items_path: DottedPath | None = None
    encoding: Literal["json", "form"] = "json"
    body_from: str | None = None

    @property
    def is_trigger(self) -> bool:
        return isinstance(self, Trigger)

    @property
    def path_inputs(self) -> tuple[str, ...]:
        return placeholders(self.path) if self.path else ()

    def input_field(self, name: str) -> InputField | None:
        return next((f for f in self.input if f.name == name), None)

    def render_path(self, inputs: Mapping[str, Any]) -> str:
        """The request path with inputs filled in (percent-encoded); raises ``InvalidInput``."""
        if self.path is None:
            raise InvalidInput("path", f"{self.key} does not make a request")
        return render_path(self.path, inputs, error=InvalidInput)

    def split_inputs(self, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        """Inputs not used in the path, as (query params, body): GET/DELETE use the query string."""
        rest = {k: v for k, v in inputs.items() if k not in self.path_inputs and v is not None}
        if self.method in ("GET", "DELETE", None):
            return rest, None
        if self.body_from is not None:
            return {}, rest.get(self.body_from)
        return {}, rest


class WebhookSignature(_Model):
    """How the app signs a webhook delivery, so Splice can tell it from a forgery. The secret is one of the
    connector's `secret_fields` (the person pastes it from the app, or into it).

    - ``hmac_sha256``: HMAC-SHA256 of the raw body in ``header`` (GitHub ``X-Hub-Signature-256: sha256=…``:
      ``prefix: "sha256="``; Shopify ``X-Shopify-Hmac-Sha256``: ``encoding: base64``).
    - ``stripe``: ``Stripe-Signature: t=<unix time>,v1=<hex HMAC of "t.body">``; stale times are refused.
    - ``standard_webhooks``: https://www.standardwebhooks.com (``webhook-id``, ``webhook-timestamp``,
      ``webhook-signature: v1,<base64>``); a ``whsec_`` secret is base64; stale times are refused and a
      ``webhook-id`` seen before starts no second job.
    """

    scheme: Literal["hmac_sha256", "stripe", "standard_webhooks"]
    secret: Key
    header: Annotated[str, Field(min_length=1, max_length=100, pattern=_HEADER_NAME_RE.pattern)] | None = None
    prefix: Annotated[str, Field(max_length=20)] = ""
    encoding: Literal["hex", "base64"] = "hex"
    tolerance: Annotated[int, Field(ge=30, le=86_400)] = 300

    @property
    def signature_header(self) -> str:
        return self.header or {"stripe": "Stripe-Signature", "standard_webhooks": "webhook-signature"}.get(
            self.scheme, "X-Signature-256")


class Trigger(_OperationBase):
    kind: Literal["poll", "webhook", "schedule"]
    id_field: DottedPath | None = None
    # Poll triggers: the app lists newest records first (so jobs start from the end of the list, oldest first),
    # and the output that says when a record was made (so "since <date>" can start from that date).
    newest_first: bool = False
    created_field: DottedPath | None = None
    # Webhook triggers: how deliveries are signed (none: anyone who knows the recipe's address may start it).
    signature: WebhookSignature | None = None

    def records(self, payload: Any) -> list[Any]:
        """The records in a poll response (at ``items_path``, or the response itself), oldest first."""
        data = dig(payload, self.items_path) if self.items_path else payload
        if not isinstance(data, list):
            return []
        return data[::-1] if self.newest_first else data


class Action(_OperationBase):
    kind: Literal["request"] = "request"
    # Whether sending it twice does no more than sending it once (a PUT, a lookup): a request that may have
    # reached the app is retried only then, or when it carries `idempotency_header` (the same key on every attempt
    # of a job's step, https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/).
    idempotent: bool | None = None
    idempotency_header: Annotated[str, Field(min_length=1, max_length=100,
                                             pattern=_HEADER_NAME_RE.pattern)] | None = None

    @property
    def safe_to_repeat(self) -> bool:
        """Idempotent as declared, else as HTTP says of its method (GET, HEAD, PUT, DELETE: RFC 9110 §9.2.2)."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "PUT", "DELETE")


# Every connector offers "Make request": any method and path on the app, with the connection's auth. The path is
# one relative path (it cannot leave the app's base URL); query and body are objects.
MAKE_REQUEST = "make_request"
MAKE_REQUEST_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
GENERIC_ACTION = Action(
    key=MAKE_REQUEST, name="Make request",
    description="Any request to the app's API, with this connection's authentication.",
    method="GET", path="{path}",
    input=[
        InputField(name="method", label="Method", type="select", required=True, default="GET",
                   options=[SelectOption(value=m, label=m) for m in MAKE_REQUEST_METHODS]),
        InputField(name="path", label="Path", required=True,
                   help="After the connection's base URL, starting with /: /contacts?limit=10"),
        InputField(name="query", label="Query parameters", type="object", help="A JSON object."),
        InputField(name="body", label="JSON body", type="object", help="A JSON object (not sent with GET)."),
    ],
    output=[OutputField(name="status", label="HTTP status", type="integer"),
            OutputField(name="body", label="Response body", type="object")],
)


Operation = Trigger | Action


# --- the connector ---------------------------------------------------------------------------


# How many resolutions one spec remembers before it forgets them all (each is a few hundred bytes).
_RESOLVED_LIMIT = 2048


class ConnectorSpec(_Model):
    """One app Splice can talk to. Built from YAML by `loader`; never mutated after loading."""

    key: ConnectorKey
    name: Text
    description: LongText = ""
    icon: Icon
    categories: list[Text] = []
    docs_url: HttpsUrl | None = None
    base_url: UrlTemplateText
    settings: dict[Key, SettingField] = {}
    secret_fields: dict[Key, SecretField] = {}
    environments: Environments = Environments()
    auth: Annotated[list[AuthMethod], Field(min_length=1)]
    test: TestRequest
    refresh_on: list[ResponseRule] = []
    invalid_on: list[ResponseRule] = []
    secondary: bool = False
    # Whether requests follow the app's redirects (at most 3, each checked again; credentials only to the
    # origins the connection was authorized for). Off unless the app needs it.
    follow_redirects: bool = False
    triggers: list[Trigger] = []
    actions: list[Action] = []

    _source: str = PrivateAttr(default="<memory>")
    _primary_key: str | None = PrivateAttr(default=None)
    # Resolutions already made (resolve_auth, test_request), by their arguments: a health check resolves the
    # same app's auth for thousands of connections that mostly share their settings.
    _resolved: dict = PrivateAttr(default_factory=dict)

    # identity

    def __eq__(self, other: object) -> bool:
        """The same spec: its fields, source and primary entry; not what it happens to remember (`_resolved`)."""
        if not isinstance(other, ConnectorSpec):
            return NotImplemented
        return (self.__dict__ == other.__dict__ and self._source == other._source
                and self._primary_key == other._primary_key)

    def __hash__(self) -> int:
        return hash((self.key, self._source))

    @property
    def source(self) -> str:
        """Where the spec came from (a file path, or a label for a spec uploaded at runtime)."""
        return self._source

    @property
    def is_secondary(self) -> bool:
        return self._primary_key is not None

    @property
    def primary_key(self) -> str:
        """The key of the app this entry belongs to (its own key, unless it is a secondary entry)."""
        return self._primary_key or self.key

    def as_secondary(self) -> ConnectorSpec:
        """The secondary entry: same settings, auth, triggers and actions, its own key and name."""
        copy = self.model_copy(
            update={"key": self.key + SECONDARY_SUFFIX, "name": f"{self.name} (secondary)", "secondary": False}
        )
        copy._primary_key = self.key
        copy._source = self._source
        copy._resolved = {}
        return copy

    def _memoized(self, key: tuple, settings: Mapping[str, Any], resolve):
        """`resolve()`, remembered for `key` and these settings while both are hashable (settings are JSON:
        a list value makes them unhashable, and the result is worked out again). What is remembered is
        immutable (frozen models and dataclasses); a refusal (an exception) is never remembered."""
        try:
            key = (*key, frozenset(settings.items()))  # hashes each value: a list raises TypeError
        except TypeError:
            return resolve()
        try:
            return self._resolved[key]
        except KeyError:
            pass
        value = resolve()
        if len(self._resolved) >= _RESOLVED_LIMIT:
            self._resolved.clear()
        self._resolved[key] = value
        return value

    def with_source(self, source: str) -> ConnectorSpec:
        copy = self.model_copy()
        copy._source = source
        copy._primary_key = self._primary_key
        return copy

    # auth

    @property
    def has_oauth(self) -> bool:
        return any(m.type in ("oauth2", "oauth1") for m in self.auth)

    @property
    def has_sandbox(self) -> bool:
        return self.environments.sandbox is not None

    def auth_method(self, ref: str | int) -> OAuth2Method | OAuth1Method | BasicMethod | ApiKeyMethod:
        """An auth method by index, key, or type (the first of that type)."""
        if isinstance(ref, int) and not isinstance(ref, bool):
            if 0 <= ref < len(self.auth):
                return self.auth[ref]
        else:
            for method in self.auth:
                if method.key == ref:
                    return method
            for method in self.auth:
                if method.type == ref:
                    return method
        available = ", ".join(m.key for m in self.auth)
        raise UnknownAuthMethod(f"{self.key} has no auth method {ref!r} (available: {available})")

    def _method(self, ref: Any) -> Any:
        if ref is None or isinstance(ref, _AuthBase):
            return ref
        return self.auth_method(ref)

    # settings

    def settings_for(self, method: str | int | None = None) -> dict[str, SettingField]:
        """The settings the wizard asks for when ``method`` (key, type or index) is chosen."""
        key = self._method(method).key if method is not None else None
        return {name: f for name, f in self.settings.items() if f.applies_to(key)}

    def secret_fields_for(self, method: str | int | None = None) -> dict[str, SecretField]:
        """The secret fields the wizard asks for (as password inputs) when ``method`` is chosen."""
        key = self._method(method).key if method is not None else None
        return {
            name: f
            for name, f in self.secret_fields.items()
            if not f.auth_methods or key is None or key in f.auth_methods
        }

    def clean_settings(
        self,
        values: Mapping[str, Any],
        *,
        method: str | int | None = None,
        allow_insecure_loopback: bool = False,
    ) -> dict[str, Any]:
        """Validate the wizard's settings; defaults filled in. Raises ``InvalidSettings`` listing every field."""
        fields = self.settings_for(method)
        errors: list[InvalidSetting] = []
        cleaned: dict[str, Any] = {}
        for name in values:
            if name not in self.settings:
                errors.append(InvalidSetting(name, "unknown setting"))
        for name, setting in fields.items():
            value = values.get(name)
            if value is None or (isinstance(value, str) and not value.strip() and setting.type != "boolean"):
                if setting.default is not None:
                    cleaned[name] = setting.default
                elif setting.required:
                    errors.append(InvalidSetting(name, "required"))
                continue
            try:
                cleaned[name] = setting.clean(name, value, allow_insecure_loopback=allow_insecure_loopback)
            except InvalidSetting as exc:
                errors.append(exc)
        if errors:
            raise InvalidSettings(errors)
        return cleaned

    def _values_for(self, names: Iterable[str], settings: Mapping[str, Any], loopback: bool) -> dict[str, Any]:
        """Clean just the settings a template uses, each by its own field's rules."""
        values: dict[str, Any] = {}
        for name in names:
            setting = self.settings.get(name)
            if setting is None:
                raise InvalidSetting(name, "unknown setting")
            raw = settings.get(name)
            if raw is None or raw == "":
                raw = setting.default
            if raw is None or raw == "":
                raise InvalidSetting(name, "required")
            values[name] = setting.clean(name, raw, allow_insecure_loopback=loopback)
        return values

    def resolve_url(self, template: str, settings: Mapping[str, Any], *, allow_insecure_loopback: bool = False) -> str:
        """Resolve any URL template of this spec (e.g. an operation's `base_url`) with these settings."""
        loopback = allow_insecure_loopback
        parsed = parse_url_template(template)
        values = self._values_for(parsed.names, settings, loopback)
        return resolve_url_template(parsed, values, allow_insecure_loopback=loopback)

    def _unset_optional(self, template: str, settings: Mapping[str, Any]) -> bool:
        """Whether a URL template refers to an optional setting that has no value (nor a default)."""
        for name in placeholders(template):
            setting = self.settings.get(name)
            if (setting is not None and not setting.required and setting.default in (None, "")
                    and settings.get(name) in (None, "")):
                return True
        return False

    def _check_environment(self, environment: str) -> None:
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be 'production' or 'sandbox', not {environment!r}")

    def base_url_template(self, environment: Environment = "production", *, method: Any = None) -> str:
        """The unresolved base URL: the sandbox override, else the auth method's own, else the spec's."""
        self._check_environment(environment)
        sandbox = self.environments.sandbox
        if environment == "sandbox" and sandbox is not None and sandbox.base_url:
            return sandbox.base_url
        chosen = self._method(method)
        if chosen is not None and chosen.base_url:
            return chosen.base_url
        return self.base_url

    def resolve_base_url(
        self,
        settings: Mapping[str, Any],
        environment: Environment = "production",
        *,
        method: str | int | None = None,
        allow_insecure_loopback: bool = False,
    ) -> str:
        """The API base URL for a connection; raises ``InvalidSetting`` naming the refused field."""
        template = self.base_url_template(environment, method=method)
        return self.resolve_url(template, settings, allow_insecure_loopback=allow_insecure_loopback)

    def resolve_auth(
        self,
        method: str | int,
        settings: Mapping[str, Any],
        environment: Environment = "production",
        *,
        allow_insecure_loopback: bool = False,
    ) -> OAuth2Method | OAuth1Method | BasicMethod | ApiKeyMethod:
        """A copy of the auth method with its URLs resolved for these settings and environment.

        Sandbox overrides apply to every method that has the overridden field. An API key
        method's ``name`` may be a ``{setting}``; OAuth 2.0 ``scopes.setting`` adds its words to
        ``scopes.default``.
        """
        return self._memoized(
            ("auth", method, environment, allow_insecure_loopback), settings,
            lambda: self._resolve_auth(method, settings, environment, allow_insecure_loopback),
        )

    def _resolve_auth(
        self, method: str | int, settings: Mapping[str, Any], environment: Environment, allow_insecure_loopback: bool
    ) -> OAuth2Method | OAuth1Method | BasicMethod | ApiKeyMethod:
        self._check_environment(environment)
        chosen = self.auth_method(method)
        sandbox = self.environments.sandbox
        overrides = sandbox.overrides() if environment == "sandbox" and sandbox is not None else {}
        update: dict[str, Any] = {}
        for name, template in chosen.url_templates().items():
            if name == "base_url":
                continue
            template = overrides.get(name, template)
            if self._unset_optional(template, settings):
                update[name] = None  # e.g. an optional revocation URL the person left empty
                continue
            update[name] = self.resolve_url(template, settings, allow_insecure_loopback=allow_insecure_loopback)
        update["base_url"] = self.resolve_base_url(
            settings, environment, method=chosen, allow_insecure_loopback=allow_insecure_loopback
        )
        if isinstance(chosen, ApiKeyMethod) and chosen.name and placeholders(chosen.name):
            (name,) = placeholders(chosen.name)
            value = self._values_for([name], settings, allow_insecure_loopback)[name]
            if not isinstance(value, str) or not _HEADER_NAME_RE.match(value):
                raise InvalidSetting(name, "must be a header or parameter name (letters, digits, -)")
            update["name"] = value
        if isinstance(chosen, OAuth2Method) and chosen.scopes.setting:
            words = str(settings.get(chosen.scopes.setting) or "").replace(",", " ").split()
            update["scopes"] = chosen.scopes.model_copy(update={"default": [*chosen.scopes.default, *words]})
        return chosen.model_copy(update=update)

    def origins(
        self,
        method: str | int,
        settings: Mapping[str, Any],
        environment: Environment = "production",
        *,
        allow_insecure_loopback: bool = False,
    ) -> frozenset[str]:
        """Every origin a connection with these settings sends credentials to: its base URL, its auth method's
        endpoints, and the test's and operations' own base URLs. A connection is authorized for these."""
        resolved = self.resolve_auth(method, settings, environment, allow_insecure_loopback=allow_insecure_loopback)
        urls = [resolved.base_url, *(resolved.url_templates().values())]
        for own in (self.test.base_url, *(op.base_url for op in self.operations)):
            if own:
                urls.append(self.resolve_url(own, settings, allow_insecure_loopback=allow_insecure_loopback))
        return frozenset(origin_of(url) for url in urls)

    def oauth_endpoint_templates(self) -> list[str]:
        """The OAuth endpoints of this app that the spec fixes (not a whole-URL setting): what a deployment's
        OAuth client registered with the app is bound to unless an admin says otherwise."""
        sandbox = self.environments.sandbox
        overrides = sandbox.overrides() if sandbox is not None else {}
        templates: list[str] = []
        for method in self.auth:
            if method.type not in ("oauth2", "oauth1"):
                continue
            fields = method.url_templates()
            fields.pop("base_url", None)
            if method.type == "oauth1":  # every request is signed with the client secret (PLAINTEXT sends it)
                fields["base_url"] = method.base_url or self.base_url
            candidates = [*fields.values(), *(overrides[name] for name in fields if name in overrides)]
            for template in candidates:
                if parse_url_template(template).whole is None and template not in templates:
                    templates.append(template)
        return templates

    # requests

    def test_request(
        self,
        settings: Mapping[str, Any],
        environment: Environment = "production",
        *,
        method: str | int | None = None,
        allow_insecure_loopback: bool = False,
    ) -> ResolvedRequest:
        """The connection test, resolved; the client adds credentials and checks ``expected_status``."""
        return self._memoized(
            ("test", method, environment, allow_insecure_loopback), settings,
            lambda: self._test_request(settings, environment, method, allow_insecure_loopback),
        )

    def _test_request(
        self, settings: Mapping[str, Any], environment: Environment, method: str | int | None,
        allow_insecure_loopback: bool,
    ) -> ResolvedRequest:
        base = (
            self.resolve_url(self.test.base_url, settings, allow_insecure_loopback=allow_insecure_loopback)
            if self.test.base_url
            else self.resolve_base_url(
                settings, environment, method=method, allow_insecure_loopback=allow_insecure_loopback
            )
        )
        values = self._values_for(placeholders(self.test.path), settings, allow_insecure_loopback)
        path = render_path(self.test.path, values, error=InvalidSetting)
        return ResolvedRequest(
            method=self.test.method, url=join_url(base, path), expected_status=tuple(self.test.expected_status)
        )

    def operation(self, key: str) -> Trigger | Action:
        """A trigger or action by key (the generic "Make request" included)."""
        for op in self.operations:
            if op.key == key:
                return op
        raise UnknownOperation(f"{self.key} has no trigger or action {key!r}")

    @property
    def operations(self) -> list[Trigger | Action]:
        return [*self.triggers, *self.all_actions]

    @property
    def all_actions(self) -> list[Action]:
        """The spec's actions, then the generic "Make request" every connector offers."""
        return [*self.actions, GENERIC_ACTION]

    def operation_request(
        self,
        key: str,
        settings: Mapping[str, Any],
        inputs: Mapping[str, Any],
        environment: Environment = "production",
        *,
        method: str | int | None = None,
        allow_insecure_loopback: bool = False,
    ) -> ResolvedRequest:
        """The request an operation makes for these inputs; raises ``InvalidInput``/``InvalidSetting``."""
        op = self.operation(key)
        if op.method is None or op.path is None:
            raise InvalidInput("path", f"{op.key} does not make a request")
        inputs = {**{f.name: f.default for f in op.input if f.default is not None}, **inputs}
        for f in op.input:
            if f.required and inputs.get(f.name) in (None, ""):
                raise InvalidInput(f.name, "required")
        base = (
            self.resolve_url(op.base_url, settings, allow_insecure_loopback=allow_insecure_loopback)
            if op.base_url
            else self.resolve_base_url(
                settings, environment, method=method, allow_insecure_loopback=allow_insecure_loopback
            )
        )
        params, body = op.split_inputs(inputs)
        http_method = op.method
        if op.key == MAKE_REQUEST:
            http_method, params, body = _generic_request_parts(inputs)
        return ResolvedRequest(
            method=http_method,
            url=join_url(base, op.render_path(inputs)),
            params=params,
            body=body,
            encoding=op.encoding,
        )

    def response_verdict(
        self, status: int, body: str | bytes | None, *, test: bool = False
    ) -> Literal["refresh", "invalid"] | None:
        """``"refresh"`` or ``"invalid"`` when a ``refresh_on``/``invalid_on`` rule matches, else None.

        Only the connector's own rules: the client still treats 401/403/429/5xx as DESIGN.md says.
        With ``test=True`` the test request's own ``invalid_on`` rules count too.
        """
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        payload = _json_or_missing(text)
        if any(rule.matches(status, text, payload) for rule in self.refresh_on):
            return "refresh"
        rules = [*self.invalid_on, *(self.test.invalid_on if test else [])]
        if any(rule.matches(status, text, payload) for rule in rules):
            return "invalid"
        return None


def _generic_request_parts(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any], Any]:
    """"Make request"'s method, query and body from its inputs; raises ``InvalidInput``."""
    method = str(inputs.get("method") or "GET").upper()
    if method not in MAKE_REQUEST_METHODS:
        raise InvalidInput("method", f"must be one of {', '.join(MAKE_REQUEST_METHODS)}")
    query, body = inputs.get("query"), inputs.get("body")
    for name, value in (("query", query), ("body", body)):
        if value not in (None, "") and not isinstance(value, dict):
            raise InvalidInput(name, "must be a JSON object")
    if method in ("GET", "DELETE"):
        body = None
    return method, dict(query or {}), (body if body not in ("", {}) else None)

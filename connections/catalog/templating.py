"""URL and path templates with ``{name}`` placeholders, and the rules that keep their values safe.

A URL template is either an ``https://`` URL whose host or path holds placeholders
(``https://{subdomain}.zendesk.com/api/v2``), or a single placeholder standing for a whole URL
(``{base_url}``, the generic HTTP connector). A value that goes into part of a URL must be one
DNS label, so no value can add a host, a path, a port, credentials, a query or a scheme; a value
that is a whole URL must itself be an https URL. After substitution the result is parsed again
and compared with what the template implies.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit

from .errors import InvalidInput, InvalidSetting, InvalidValue

__all__ = [
    "LOOPBACK_HOSTS",
    "PathTemplate",
    "UrlTemplate",
    "check_https_url",
    "check_relative_path",
    "endpoint_matches",
    "join_url",
    "origin_of",
    "parse_path_template",
    "parse_url_template",
    "placeholders",
    "render_path",
    "resolve_url_template",
]

PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
SETTING_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
INPUT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# One DNS label (RFC 1123): what a placeholder inside a URL may be replaced with.
LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_URL_LENGTH = 2048
_UNSAFE_CHARS_RE = re.compile(r"[\s\\\x00-\x1f\x7f]")
_LABEL_RULE = "must be a single DNS label: letters, digits and hyphens, at most 63 characters"


def placeholders(template: str) -> tuple[str, ...]:
    """The placeholder names in ``template``, in order of appearance."""
    return tuple(PLACEHOLDER_RE.findall(template))


def _whole_placeholder(template: str) -> str | None:
    match = PLACEHOLDER_RE.fullmatch(template)
    return match.group(1) if match else None


def _check_braces(template: str) -> None:
    rest = PLACEHOLDER_RE.sub("", template)
    if "{" in rest or "}" in rest:
        raise ValueError("unbalanced '{' or '}' (placeholders look like {name})")


def _placeholders_of(text: str, name_re, bad_name: str) -> tuple[tuple[str, ...], str | None]:
    """What URL and path templates share: not empty, no unsafe characters, balanced braces, valid names.
    Returns the placeholder names and, when the template is a single placeholder, its name."""
    if not text:
        raise ValueError("must not be empty")
    if _UNSAFE_CHARS_RE.search(text):
        raise ValueError("must not contain spaces, backslashes or control characters")
    _check_braces(text)
    names = placeholders(text)
    for name in names:
        if not name_re.match(name):
            raise ValueError(f"placeholder {{{name}}} {bad_name}")
    return names, _whole_placeholder(text)


@dataclass(frozen=True)
class UrlTemplate:
    """A parsed URL template; ``whole`` is the setting name when the template is just ``{name}``."""

    text: str
    names: tuple[str, ...]
    whole: str | None
    # http:// to a literal loopback address (a development app on this machine): usable only where insecure
    # loopback is allowed (SPLICE_ALLOW_INSECURE_LOOPBACK), refused when resolved anywhere else.
    insecure_loopback: bool = False


# LOOPBACK_HOSTS but the IPv6 one, whose bracketed literal is no host a URL template's labels can spell.
_TEMPLATE_LOOPBACK_HOSTS = LOOPBACK_HOSTS - {"::1"}


def _literal_loopback(text: str) -> bool:
    authority = text[len("http://") :].partition("/")[0]
    return not placeholders(authority) and urlsplit(text).hostname in _TEMPLATE_LOOPBACK_HOSTS


def parse_url_template(text: str) -> UrlTemplate:
    """Check the shape of a URL template and return it parsed; raises ValueError with a readable reason."""
    names, whole = _placeholders_of(text, SETTING_NAME_RE, "is not a setting name (lowercase letters, digits, _)")
    if whole is not None:
        return UrlTemplate(text=text, names=names, whole=whole)
    insecure = text.startswith("http://") and _literal_loopback(text)
    if text.lower().startswith("http://") and not insecure:
        raise ValueError(f"must use https, not http ({text!r}); only a literal loopback address such as "
                         "http://127.0.0.1:8000 may use http, for an app on this machine")
    if not text.startswith("https://") and not insecure:
        raise ValueError(f"must be an https:// URL or a single {{setting}} placeholder (got {text!r})")
    probe = PLACEHOLDER_RE.sub("x", text)
    parts = urlsplit(probe)
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password")
    if not parts.hostname:
        raise ValueError("has no host")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        raise ValueError(f"has an invalid port ({exc})") from None
    if parts.fragment or "#" in text:
        raise ValueError("must not contain a #fragment")
    authority, _, after = text.partition("://")[2].partition("/")
    host_template, _, port_text = authority.partition(":")
    if placeholders(port_text):
        raise ValueError("placeholders are allowed in the host and path only, not in the port")
    if "?" in text and placeholders(text.split("?", 1)[1]):
        raise ValueError("placeholders are allowed in the host and path only, not in the query")
    for label in PLACEHOLDER_RE.sub("x", host_template).split("."):
        if not LABEL_RE.match(label):
            raise ValueError(f"has an invalid host {host_template!r}")
    return UrlTemplate(text=text, names=names, whole=None, insecure_loopback=insecure)


def check_https_url(
    value: Any, *, field: str, allow_insecure_loopback: bool = False, error: type[InvalidValue] = InvalidSetting
) -> str:
    """Return ``value`` if it is an https URL with a host and nothing else surprising, else raise.

    ``http://`` is accepted only for 127.0.0.1, ::1 and localhost, and only when
    ``allow_insecure_loopback`` is true (tests and local development against a stub server).
    """
    if not isinstance(value, str) or not value:
        raise error(field, "must be an https URL")
    if len(value) > MAX_URL_LENGTH:
        raise error(field, f"must be at most {MAX_URL_LENGTH} characters")
    if _UNSAFE_CHARS_RE.search(value):
        raise error(field, "must not contain spaces, backslashes or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise error(field, "must be an https URL") from None
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    insecure_ok = scheme == "http" and allow_insecure_loopback and host in LOOPBACK_HOSTS
    if scheme != "https" and not insecure_ok:
        raise error(field, "must be an https URL")
    if not host or not parts.netloc:
        raise error(field, "must be an https URL with a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise error(field, "must not contain a user name or password")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise error(field, "must not contain a query string or #fragment")
    if port == 0:
        raise error(field, "has an invalid port")
    if not _valid_host(host):
        raise error(field, f"has an invalid host {host!r}")
    _check_path_segments(parts.path, field=field, error=error)
    return value


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return all(LABEL_RE.match(label) for label in host.rstrip(".").split("."))
    return True


def _check_path_segments(path: str, *, field: str, error: type[InvalidValue]) -> None:
    """No `.` or `..` segment, also once percent-decoded (`..%2f`, `%2e%2e`, twice encoded): some servers decode
    before they resolve the path, and would walk out of the app's API."""
    for segment in path.split("/"):
        decoded = segment
        for _ in range(3):
            decoded = unquote(decoded)
            if any(part in {".", ".."} for part in re.split(r"[/\\]", decoded)):
                raise error(field, "must not contain '.' or '..' path segments")


def resolve_url_template(
    template: str | UrlTemplate, values: Mapping[str, Any], *, allow_insecure_loopback: bool = False
) -> str:
    """Substitute ``values`` into a URL template, refusing any value that would change its shape.

    ``values`` holds the (already pattern-checked) setting values; a missing one raises
    ``InvalidSetting(name, "required")``.
    """
    parsed = template if isinstance(template, UrlTemplate) else parse_url_template(template)
    for name in parsed.names:
        if values.get(name) in (None, ""):
            raise InvalidSetting(name, "required")
    if parsed.whole is not None:
        return check_https_url(
            values[parsed.whole], field=parsed.whole, allow_insecure_loopback=allow_insecure_loopback
        )
    if parsed.insecure_loopback and not allow_insecure_loopback:
        raise InvalidSetting("base_url", "is an http:// loopback address, which only a development setup allows "
                                         "(SPLICE_ALLOW_INSECURE_LOOPBACK)")
    for name in parsed.names:
        value = values[name]
        if not isinstance(value, str) or not LABEL_RE.match(value):
            raise InvalidSetting(name, _LABEL_RULE)
    url = PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], parsed.text)
    _check_same_shape(parsed.text, url, values, scheme="http" if parsed.insecure_loopback else "https")
    return url


def _check_same_shape(template: str, url: str, values: Mapping[str, Any], *, scheme: str = "https") -> None:
    """Parse the result again and make sure it is the URL the template implies (https, or http to loopback)."""
    expected = urlsplit(PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template))
    actual: SplitResult = urlsplit(url)
    field = next(iter(placeholders(template)), "url")
    if actual.scheme != scheme:
        raise InvalidSetting(field, "must not change the URL scheme")
    if (
        actual.hostname != expected.hostname
        or actual.port != expected.port
        or actual.username is not None
        or actual.password is not None
        or actual.path != expected.path
        or actual.query != urlsplit(template).query
        or actual.fragment
    ):
        raise InvalidSetting(field, "must not change the URL's host or path")


@dataclass(frozen=True)
class PathTemplate:
    """A parsed request path; ``whole`` is the placeholder name when the path is just ``{name}``."""

    text: str
    names: tuple[str, ...]
    whole: str | None


def parse_path_template(text: str) -> PathTemplate:
    """Check the shape of a request path template (``/repos/{owner}/{repo}/issues``)."""
    names, whole = _placeholders_of(text, INPUT_NAME_RE, "is not a valid name")
    if whole is None:
        if not text.startswith("/") or text.startswith("//"):
            raise ValueError(f"must start with a single '/' (got {text!r})")
        if "#" in text:
            raise ValueError("must not contain a #fragment")
    return PathTemplate(text=text, names=names, whole=whole)


def check_relative_path(value: Any, *, field: str, error: type[InvalidValue] = InvalidInput) -> str:
    """Return ``value`` if it is a path on the same host (``/v1/items?x=1``), else raise ``error``."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        raise error(field, "must be a path starting with a single '/'")
    if len(value) > MAX_URL_LENGTH:
        raise error(field, f"must be at most {MAX_URL_LENGTH} characters")
    if _UNSAFE_CHARS_RE.search(value) or "#" in value:
        raise error(field, "must not contain spaces, backslashes, control characters or '#'")
    _check_path_segments(value.split("?", 1)[0], field=field, error=error)
    return value


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote(str(value), safe="")


def render_path(
    template: str | PathTemplate,
    values: Mapping[str, Any],
    *,
    error: type[InvalidValue] = InvalidInput,
    missing: Callable[[str], InvalidValue] | None = None,
) -> str:
    """Fill a path template: values are percent-encoded, except a whole-path placeholder.

    A template that is exactly ``{name}`` takes a path as its value (checked by
    ``check_relative_path``); anywhere else a value is one encoded segment, so ``/`` or ``..``
    in it cannot walk to another resource.
    """
    parsed = template if isinstance(template, PathTemplate) else parse_path_template(template)
    for name in parsed.names:
        if values.get(name) in (None, ""):
            raise missing(name) if missing else error(name, "required")
    if parsed.whole is not None:
        return check_relative_path(values[parsed.whole], field=parsed.whole, error=error)
    for name in parsed.names:
        _check_path_segments(_encode(values[name]), field=name, error=error)
    return PLACEHOLDER_RE.sub(lambda m: _encode(values[m.group(1)]), parsed.text)


def join_url(base_url: str, path: str) -> str:
    """Append a path to a base URL, and refuse a result that would leave the base URL's host."""
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"path must start with a single '/' (got {path!r})")
    url = base_url.rstrip("/") + path
    if urlsplit(url).netloc != urlsplit(base_url).netloc:
        raise ValueError("path must not change the host")
    return url


@lru_cache(maxsize=4096)  # asked for every request, mostly of the same few URLs
def origin_of(url: str) -> str:
    """The origin (RFC 6454) of a URL, written one way: ``https://host:443``. Credentials are bound to origins.
    Raises ValueError for a URL that parsers read differently (a backslash, whitespace, a control character:
    urllib and urllib3 disagree on ``https://evil.example\\@app.example/``)."""
    if _UNSAFE_CHARS_RE.search(url):
        raise ValueError("the URL has spaces, backslashes or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or (443 if scheme == 'https' else 80)}"


def _canonical(url: str) -> str:
    """Origin and path, written one way (the query is not part of an endpoint's identity)."""
    return origin_of(url) + (urlsplit(url).path or "/")


def endpoint_matches(url: str, pattern: str) -> bool:
    """Whether ``url`` is the endpoint ``pattern`` names: the same origin and path, where each ``{name}`` of
    the pattern (a registered OAuth endpoint, e.g. ``https://{subdomain}.zendesk.com/oauth/tokens``) stands
    for exactly one DNS label."""
    pieces = PLACEHOLDER_RE.split(_canonical(pattern))
    # split() alternates literal text and placeholder names
    regex = "".join(re.escape(piece) if index % 2 == 0 else LABEL_RE.pattern[1:-1]
                    for index, piece in enumerate(pieces))
    return re.fullmatch(regex, _canonical(url)) is not None

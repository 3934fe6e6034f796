"""The connector catalog: the spec format, its validation, the registry and the built-in specs.

Nothing is loaded at import time. The Django app calls ``load_registry(settings.SPLICE_CONNECTOR_DIRS)``
from ``AppConfig.ready()``; code then uses ``registry().get("slack")``. This package does not import
Django, so it can be used (and tested) on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from .errors import (
    CatalogError,
    InvalidInput,
    InvalidSetting,
    InvalidSettings,
    InvalidValue,
    Problem,
    ProtectedConnector,
    SpecError,
    UnknownAuthMethod,
    UnknownConnector,
    UnknownOperation,
)
from .loader import load_spec_file, load_specs, parse_spec_text
from .registry import Registry
from .schema import (
    AUTH_TYPES,
    GENERIC_ACTION,
    MAKE_REQUEST,
    Action,
    ApiKeyMethod,
    AuthMethod,
    BasicMethod,
    ConnectorSpec,
    CredentialField,
    Icon,
    InputField,
    OAuth1Method,
    OAuth2Method,
    Operation,
    OutputField,
    ResolvedRequest,
    ResponseRule,
    SecretField,
    SettingField,
    TestRequest,
    Trigger,
    WebhookSignature,
    dig,
)
from .templating import endpoint_matches, origin_of

__all__ = [
    "AUTH_TYPES",
    "GENERIC_ACTION",
    "MAKE_REQUEST",
    "WebhookSignature",
    "BUILTIN_SPECS_DIR",
    "Action",
    "ApiKeyMethod",
    "AuthMethod",
    "BasicMethod",
    "CatalogError",
    "TestRequest",
    "ConnectorSpec",
    "CredentialField",
    "Icon",
    "InputField",
    "InvalidInput",
    "InvalidSetting",
    "InvalidSettings",
    "InvalidValue",
    "OAuth1Method",
    "OAuth2Method",
    "Operation",
    "OutputField",
    "Problem",
    "ProtectedConnector",
    "Registry",
    "ResolvedRequest",
    "ResponseRule",
    "SecretField",
    "SettingField",
    "SpecError",
    "Trigger",
    "UnknownAuthMethod",
    "UnknownConnector",
    "UnknownOperation",
    "build_registry",
    "dig",
    "endpoint_matches",
    "load_registry",
    "load_spec_file",
    "load_specs",
    "origin_of",
    "parse_spec_text",
    "registry",
]

BUILTIN_SPECS_DIR = Path(__file__).resolve().parent / "specs"

_registry: Registry | None = None
_registry_lock = threading.Lock()


def build_registry(extra_dirs: Iterable[str | Path] = (), *, include_builtin: bool = True) -> Registry:
    """A new registry from the built-in specs plus ``extra_dirs``; raises `SpecError` on any problem."""
    paths: list[str | Path] = [BUILTIN_SPECS_DIR] if include_builtin else []
    return Registry.from_paths([*paths, *extra_dirs])


def load_registry(extra_dirs: Iterable[str | Path] = ()) -> Registry:
    """Build the process-wide registry (built-in specs + ``extra_dirs``) and make it current.

    Call it once at start-up, e.g. ``load_registry(settings.SPLICE_CONNECTOR_DIRS)``. Custom
    connectors registered on the previous registry are not carried over.
    """
    global _registry
    built = build_registry(extra_dirs)
    with _registry_lock:
        _registry = built
    return built


def registry() -> Registry:
    """The process-wide registry; built from the built-in specs alone if nothing loaded it yet."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = build_registry()
        return _registry

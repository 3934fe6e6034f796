"""Custom connectors: specs that admins upload in Splice, stored in the database, versioned, and kept in
step with the connector registry of every process (web workers, Celery workers).

The process that saves a spec registers it at once. Other processes call `ensure_custom_connectors_loaded()`
before they look a connector up; it costs one aggregate query and re-registers only what changed.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import Count, F, Max, Sum
from django.utils import timezone

from accounts.models import User
from connections.catalog import (
    ConnectorSpec,
    Problem,
    Registry,
    SpecError,
    UnknownConnector,
    parse_spec_text,
    registry,
)
from connections.models import Connection, CustomConnector, CustomConnectorVersion

__all__ = [
    "CustomConnectorRow",
    "CustomConnectorsMiddleware",
    "custom_connector_check",
    "custom_connector_problems",
    "custom_connector_save",
    "custom_connector_set_enabled",
    "custom_connector_source",
    "custom_connectors_overview",
    "custom_connectors_unload",
    "custom_connectors_synced",
    "ensure_custom_connectors_loaded",
    "sync_custom_connectors",
]

logger = logging.getLogger(__name__)

# The key of a spec that failed to parse is still worth naming in its messages ("custom:acme: auth.0...").
_KEY_LINE_RE = re.compile(r"""^key:[ \t]*["']?([a-z][a-z0-9_]{0,49})["']?[ \t]*(?:#.*)?$""", re.MULTILINE)
_LISTED = {"auth": "auth method", "triggers": "trigger", "actions": "action"}


def custom_connector_source(key: str | None) -> str:
    """How messages name a custom connector's spec: ``custom:acme`` (in place of a file name)."""
    return f"custom:{key or 'new'}"


def _normalize(text: str) -> str:
    # Browsers send a textarea's lines with CRLF; keep one form so versions compare equal.
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- validation ---------------------------------------------------------------------------------


def custom_connector_check(*, yaml_text: str, connector: CustomConnector | None = None) -> ConnectorSpec:
    """Validate ``yaml_text`` as a new custom connector, or as a new version of ``connector``.

    Raises `SpecError` listing every problem, worded like the loader's (``custom:acme: path: problem``):
    the spec's own problems, a built-in key, a key already used by another custom connector, or a
    changed key (connections store the key, so it is permanent).
    """
    text = _normalize(yaml_text)
    hint = connector.key if connector is not None else _peek_key(text)
    source = custom_connector_source(hint)
    spec = parse_spec_text(text, source=source)
    problems: list[Problem] = []
    if connector is not None and spec.key != connector.key:
        problems.append(Problem(source, "key", f"cannot change from {connector.key!r} to {spec.key!r}: connections "
                                               "store the key. Add a new custom connector instead"))
    elif registry().is_builtin(spec.key):
        problems.append(Problem(source, "key", f"{spec.key!r} is a built-in connector and cannot be replaced by a "
                                               "custom one"))
    elif connector is None and CustomConnector.objects.filter(key=spec.key).exists():
        problems.append(Problem(source, "key", f"a custom connector with key {spec.key!r} already exists: "
                                               "edit it instead"))
    if problems:
        raise SpecError(problems)
    return spec.with_source(custom_connector_source(spec.key))


def custom_connector_problems(connector: CustomConnector) -> list[str]:
    """What is wrong with the stored spec today (e.g. after an upgrade tightened validation), as lines."""
    try:
        custom_connector_check(yaml_text=connector.yaml, connector=connector)
    except SpecError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def _peek_key(text: str) -> str | None:
    match = _KEY_LINE_RE.search(text)
    return match.group(1) if match else None


def _describe_changes(old: ConnectorSpec | None, new: ConnectorSpec) -> str:
    """A one-line account of what a new version changes: fields, and auth methods/triggers/actions by key."""
    if old is None:
        return f"Created {new.name}"
    before = old.model_dump(mode="json", by_alias=True)
    after = new.model_dump(mode="json", by_alias=True)
    parts: list[str] = []
    changed = [name for name in after if name not in _LISTED and before.get(name) != after.get(name)]
    if changed:
        parts.append(f"changed {', '.join(changed)}")
    for name, noun in _LISTED.items():
        old_items = {item["key"]: item for item in before.get(name, [])}
        new_items = {item["key"]: item for item in after.get(name, [])}
        for verb, keys in (
            ("added", [k for k in new_items if k not in old_items]),
            ("changed", [k for k in new_items if k in old_items and new_items[k] != old_items[k]]),
            ("removed", [k for k in old_items if k not in new_items]),
        ):
            if keys:
                parts.append(f"{verb} {noun}{'s' if len(keys) > 1 else ''} {', '.join(keys)}")
    if not parts:
        return "Reformatted; the spec itself is unchanged"
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def _parsed_or_none(connector: CustomConnector) -> ConnectorSpec | None:
    try:
        return parse_spec_text(connector.yaml, source=custom_connector_source(connector.key))
    except SpecError:
        return None


# --- services -----------------------------------------------------------------------------------


@transaction.atomic
def custom_connector_save(*, yaml_text: str, acting_user: User | None, connector: CustomConnector | None = None,
                          note: str = "") -> CustomConnector:
    """Add a custom connector, or save a new version of ``connector``; usable in this process at once.

    Raises `SpecError` (see `custom_connector_check`). Saving the same text again changes nothing.
    Each version records who saved it, when, and a summary of what changed (plus the optional ``note``).
    """
    text = _normalize(yaml_text)
    spec = custom_connector_check(yaml_text=text, connector=connector)
    now = timezone.now()
    if connector is None:
        summary = _describe_changes(None, spec)
        connector = CustomConnector(key=spec.key, name=spec.name, yaml=text, created_by=acting_user,
                                    updated_by=acting_user)
        try:
            with transaction.atomic():
                connector.save()
        except IntegrityError:
            source = custom_connector_source(spec.key)
            raise SpecError([Problem(source, "key", f"a custom connector with key {spec.key!r} already exists: "
                                                    "edit it instead")]) from None
        number = 1
    else:
        connector = CustomConnector.objects.select_for_update().get(pk=connector.pk)
        if connector.yaml == text:
            return connector
        previous = _parsed_or_none(connector)
        summary = _describe_changes(previous, spec) if previous is not None else "Replaced a spec that no longer loaded"
        CustomConnector.objects.filter(pk=connector.pk).update(
            yaml=text, name=spec.name, updated_by=acting_user, updated_at=now, revision=F("revision") + 1)
        connector.refresh_from_db()
        number = (connector.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    if note.strip():
        summary = f"{summary} — {note.strip()}"
    CustomConnectorVersion.objects.create(connector=connector, number=number, yaml=text, summary=summary[:300],
                                          changed_by=acting_user)
    logger.info("Custom connector %r saved as version %s by %s", connector.key, number, acting_user)
    if connector.enabled:
        _register_now(connector)
    return connector


@transaction.atomic
def custom_connector_set_enabled(*, connector: CustomConnector, enabled: bool,
                                 acting_user: User | None) -> CustomConnector:
    """Offer the connector again, or stop offering it (the catalog and the wizard no longer list it).

    Existing connections keep their connector key; they work again once it is re-enabled. Enabling
    re-validates the stored spec and raises `SpecError` if it no longer passes.
    """
    connector = CustomConnector.objects.select_for_update().get(pk=connector.pk)
    if connector.enabled == enabled:
        return connector
    if enabled:
        custom_connector_check(yaml_text=connector.yaml, connector=connector)
    CustomConnector.objects.filter(pk=connector.pk).update(
        enabled=enabled, updated_by=acting_user, updated_at=timezone.now(), revision=F("revision") + 1)
    connector.refresh_from_db()
    logger.info("Custom connector %r %s by %s", connector.key, "enabled" if enabled else "disabled", acting_user)
    if enabled:
        _register_now(connector)
    else:
        _unregister_now(connector.key)
    return connector


# --- selectors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomConnectorRow:
    """What the custom connector list shows about one connector."""

    connector: CustomConnector
    loaded: bool
    problems: list[str]
    versions: int
    connections: int

    @property
    def status(self) -> str:
        if not self.connector.enabled:
            return "Disabled"
        return "Active" if self.loaded else "Not loaded"


def custom_connectors_overview() -> list[CustomConnectorRow]:
    """Every custom connector, with whether this process has it loaded, its problems and its use."""
    ensure_custom_connectors_loaded()
    connectors = list(CustomConnector.objects.select_related("updated_by").annotate(version_count=Count("versions")))
    in_use = dict(
        Connection.objects.filter(connector_key__in=[c.key for c in connectors]).order_by()
        .values("connector_key").annotate(n=Count("pk")).values_list("connector_key", "n")
    )
    current = registry()
    rows = []
    for connector in connectors:
        loaded = connector.enabled and connector.key in current and not current.is_builtin(connector.key)
        problems = [] if loaded or not connector.enabled else custom_connector_problems(connector)
        rows.append(CustomConnectorRow(connector=connector, loaded=loaded, problems=problems,
                                       versions=connector.version_count, connections=in_use.get(connector.key, 0)))
    return rows


# --- keeping each process's registry in step with the database ----------------------------------


@dataclass
class _LoadState:
    """What this process registered from the database, and the database stamp it last saw."""

    registry: Registry | None = None
    stamp: tuple | None = None
    loaded: dict[str, int] = field(default_factory=dict)  # key -> revision registered
    failed: dict[str, int] = field(default_factory=dict)  # key -> revision that did not load (warned once)


_state = _LoadState()
_lock = threading.RLock()


def _current_registry() -> Registry:
    """The process registry; what this module loaded into an earlier one (a reload) is forgotten."""
    current = registry()
    if _state.registry is not current:
        _state.registry, _state.stamp, _state.loaded, _state.failed = current, None, {}, {}
    return current


def _stamp() -> tuple:
    # Any save, enable, disable, add or delete changes one of these: revision only grows, ids are never reused.
    stamp = CustomConnector.objects.aggregate(n=Count("pk"), last=Max("pk"), revisions=Sum("revision"),
                                              updated=Max("updated_at"))
    return stamp["n"], stamp["last"], stamp["revisions"], stamp["updated"]


def _register_now(connector: CustomConnector) -> None:
    """Register a just-saved spec in this process, and make the next sync re-check against the database.

    The next sync compares again because the saving transaction may still roll back.
    """
    with _lock:
        current = _current_registry()
        current.register_yaml(connector.yaml, source=custom_connector_source(connector.key), replace=True)
        _state.loaded[connector.key] = connector.revision
        _state.failed.pop(connector.key, None)
        _state.stamp = None


def _unregister_now(key: str) -> None:
    with _lock:
        current = _current_registry()
        _unregister(current, key)
        _state.loaded.pop(key, None)
        _state.stamp = None


def _unregister(current: Registry, key: str) -> None:
    if key in current and not current.is_builtin(key):
        try:
            current.unregister(key)
        except UnknownConnector:
            pass


def sync_custom_connectors() -> bool:
    """Make this process's registry hold exactly the enabled custom connectors in the database.

    One aggregate query when nothing changed since the last call; otherwise only the changed specs
    are read and registered. A stored spec that no longer validates (say, after an upgrade tightened
    the rules) is skipped with a warning naming its key; if an older version of it is loaded, that one
    stays. Returns whether the registry changed.
    """
    with _lock:
        current = _current_registry()
        stamp = _stamp()
        if stamp == _state.stamp:
            return False
        wanted = dict(CustomConnector.objects.filter(enabled=True).values_list("key", "revision"))
        changed = False
        for key in [k for k in _state.loaded if k not in wanted]:
            _unregister(current, key)
            del _state.loaded[key]
            changed = True
        stale = [k for k, rev in wanted.items() if _state.loaded.get(k) != rev and _state.failed.get(k) != rev]
        for row in CustomConnector.objects.filter(key__in=stale, enabled=True).only("key", "yaml", "revision"):
            try:
                current.register_yaml(row.yaml, source=custom_connector_source(row.key), replace=True)
            except SpecError as exc:
                _state.failed[row.key] = row.revision
                logger.warning("Custom connector %r is not loaded: its stored spec does not pass validation:\n%s",
                               row.key, exc)
                continue
            _state.loaded[row.key] = row.revision
            _state.failed.pop(row.key, None)
            changed = True
        _state.stamp = stamp
        return changed


def ensure_custom_connectors_loaded() -> None:
    """Call before looking connectors up in a process that may be behind (web and Celery workers).

    Cheap enough to call per request or per job (one query), and free inside `custom_connectors_synced()`.
    Never raises for a database that is not migrated yet (a worker started before ``migrate``): the custom
    connectors then load on a later call.
    """
    if getattr(_synced_scope, "depth", 0):
        return
    if db_connection.in_atomic_block:
        # Inside a transaction an error could not be recovered from here anyway: let the caller see it.
        sync_custom_connectors()
        return
    try:
        sync_custom_connectors()
    except DatabaseError as exc:
        logger.warning("Custom connectors not loaded (database not ready?): %s", exc)


_synced_scope = threading.local()


@contextmanager
def custom_connectors_synced():
    """Sync once, then skip the sync for the rest of the block in this thread: a unit of work that looks up
    the connectors of many connections (a health check task) pays one query, not one per connection."""
    ensure_custom_connectors_loaded()
    _synced_scope.depth = getattr(_synced_scope, "depth", 0) + 1
    try:
        yield
    finally:
        _synced_scope.depth -= 1


def custom_connectors_unload(keys: Iterable[str] | None = None) -> None:
    """Unregister the custom connectors this process loaded (all, or ``keys``); the next sync reloads.

    For tests, whose rolled-back database rows would otherwise leave connectors in the process registry.
    """
    with _lock:
        current = _current_registry()
        for key in list(_state.loaded if keys is None else keys):
            _unregister(current, key)
            _state.loaded.pop(key, None)
        _state.failed.clear()
        _state.stamp = None


class CustomConnectorsMiddleware:
    """Keeps each web worker's registry in step with custom connectors saved by other processes.

    Optional: the catalog and custom connector views call `ensure_custom_connectors_loaded()` themselves.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        ensure_custom_connectors_loaded()
        return self.get_response(request)


def spec_for(connection: Connection) -> ConnectorSpec:
    """The connection's connector, including custom ones saved since this process (a worker) started."""
    ensure_custom_connectors_loaded()
    return registry().get(connection.connector_key)

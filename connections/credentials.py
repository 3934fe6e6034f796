"""Reading and writing the sealed credential columns of connections and OAuth profiles.

Values go in as `str` or `Secret` and come out as `Secret`; the columns hold only vault ciphertext,
bound to the row's `vault_id` and to the column name (connections.vault explains the scheme).
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.db import models

from connections.vault import KeyRing, RowContext, Secret, Vault, VaultError

__all__ = [
    "CONNECTION_SECRET_FIELDS",
    "connection_secret_values",
    "get_vault",
    "open_sealed",
    "open_secret",
    "open_secret_setting",
    "row_context",
    "seal_secret",
    "seal_secret_setting",
    "sealed_for",
]

# The columns of Connection that hold sealed values. Each has one meaning.
CONNECTION_SECRET_FIELDS = (
    "access_token",
    "refresh_token",
    "previous_refresh_token",
    "token_secret",
    "password",
    "api_key",
    "api_secret",
)


@lru_cache(maxsize=4)
def _vault_for(keys: str) -> Vault:
    return Vault(KeyRing.from_env_value(keys))


def get_vault() -> Vault:
    """The vault for the master keys currently configured (cached per key-ring value)."""
    return _vault_for(settings.SPLICE_CREDENTIAL_KEYS)


def row_context(row: models.Model) -> RowContext:
    return RowContext(row._meta.label_lower, str(row.vault_id))


def _ensure_data_key(row: models.Model) -> None:
    if not row.data_key:
        row.data_key = get_vault().new_data_key(row_context(row))


def seal_secret(row: models.Model, field: str, value: str | Secret | None) -> None:
    """Set `row.<field>` to the sealed value (or "" to clear it). The caller saves the row."""
    setattr(row, field, sealed_for(row, field, value))


def sealed_for(row: models.Model, field: str, value: str | Secret | None) -> str:
    """What `row.<field>` would hold with `value` sealed in it ("" for no value), leaving the field as it is:
    for an UPDATE that must succeed before the row in memory changes."""
    if value is None or (isinstance(value, str) and value == "") or (isinstance(value, Secret) and not value):
        return ""
    _ensure_data_key(row)
    return get_vault().seal(value, wrapped_key=row.data_key, context=row_context(row), field=field)


def open_secret(row: models.Model, field: str) -> Secret | None:
    """The secret in `row.<field>`, or None when it is not set."""
    sealed = getattr(row, field)
    return open_sealed(row, field, sealed) if sealed else None


def open_sealed(row: models.Model, field: str, sealed: str) -> Secret:
    """A value sealed for `row` and `field` that is kept elsewhere (an OAuth flow keeps its PKCE verifier)."""
    return get_vault().open(sealed, wrapped_key=row.data_key, context=row_context(row), field=field)


def seal_secret_setting(row: models.Model, name: str, value: str | Secret | None) -> None:
    """A secret setting from the connector spec (`secret_fields`), kept in `row.secret_settings[name]`."""
    values = dict(row.secret_settings or {})
    if value is None or value == "" or (isinstance(value, Secret) and not value):
        values.pop(name, None)
    else:
        _ensure_data_key(row)
        values[name] = get_vault().seal(value, wrapped_key=row.data_key, context=row_context(row),
                                        field=f"secret_settings.{name}")
    row.secret_settings = values


def open_secret_setting(row: models.Model, name: str) -> Secret | None:
    sealed = (row.secret_settings or {}).get(name)
    if not sealed:
        return None
    return get_vault().open(sealed, wrapped_key=row.data_key, context=row_context(row),
                            field=f"secret_settings.{name}")


def connection_secret_values(connection: models.Model) -> list[str]:
    """Every secret the connection holds, opened, longest first: what a job record masks wherever it appears.
    A value that cannot be opened is left out (nothing can send it either)."""
    values = set()
    fields = [(name, getattr(connection, name)) for name in CONNECTION_SECRET_FIELDS]
    fields += [(f"secret_settings.{name}", sealed) for name, sealed in (connection.secret_settings or {}).items()]
    for field, sealed in fields:
        if not sealed:
            continue
        try:
            values.add(open_sealed(connection, field, sealed).reveal())
        except VaultError:
            continue
    return sorted((v for v in values if v), key=len, reverse=True)

"""The credential vault: seals secrets under a per-row data key, wrapped by a master key from the environment.

Scheme (envelope encryption, AES-256-GCM throughout):

- Each row that holds credentials has its own random 256-bit **data key** (DEK) with a random
  public id. The DEK is stored *wrapped* (encrypted) by the primary **master key** from
  ``SPLICE_CREDENTIAL_KEYS``::

      v1:<master_key_id>:<dek_id>:<b64url(nonce | ciphertext | tag)>
      AAD = splice/dek/v1/<table>/<row_id>/<master_key_id>/<dek_id>

- Each secret field (access token, refresh token, password, ...) is sealed by the row's DEK::

      v1:<dek_id>:<b64url(nonce | ciphertext | tag)>
      AAD = splice/secret/v1/<table>/<row_id>/<field>/<dek_id>

  A sealed value copied into another field or another row fails to open (different AAD; another
  row also has another DEK), and so does a wrapped DEK copied into another row. A database-only
  attacker therefore cannot swap credentials between connections, not even their own into a
  victim's. Airflow's Fernet (AES-CBC + HMAC) has no associated data, so its ciphertexts move
  freely between rows; n8n's AES-CBC has no MAC at all, so they can be altered undetected.

- **Rotation** re-wraps DEKs only (`Vault.rewrap`): put the new key first in
  ``SPLICE_CREDENTIAL_KEYS`` (``new:...,old:...``), re-wrap every row, then drop the old key.
  Sealed fields are not touched, because their AAD names the DEK, never the master key.

Why AES-GCM rather than AES-KW (RFC 3394) for wrapping: AES-KW takes no associated data, so it
could not bind a wrapped key to its row, and AES-GCM is then the only primitive to review. Nonces
are random 96-bit values; NIST SP 800-38D section 8.3 allows 2**32 encryptions per key that way,
far above one wrap per row per rotation, or one seal per token refresh of one row.

Row identity must exist before the first seal, so the model should not use its auto-increment pk:
give it a ``vault_id = UUIDField(default=uuid.uuid4, unique=True, editable=False)``, which is set
when the object is constructed, before the INSERT, and never changes. ``table`` should be a fixed
string per model (``"connections.connection"``), not ``db_table``, and ``field`` the column name:
renaming either means re-sealing.

Build the vault once from settings, e.g.
``Vault(KeyRing.from_env_value(settings.SPLICE_CREDENTIAL_KEYS))``. A new master key:
``python -c "from connections.vault import KeyRing; print(KeyRing.generate_key())"``.
This module imports no Django.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Never

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connections.secrets import Secret  # re-exported: callers may import it from here

__all__ = [
    "ENV_VAR",
    "CredentialTamperedError",
    "KeyRing",
    "KeyRingError",
    "RowContext",
    "Secret",
    "UnknownMasterKeyError",
    "Vault",
    "VaultError",
]

ENV_VAR = "SPLICE_CREDENTIAL_KEYS"

_VERSION = "v1"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_DEK_ID_BYTES = 8

_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
# No "/" (the AAD separator) and no ":" (the stored-format separator), so both stay unambiguous.
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_DEK_ID = r"(?P<dek_id>[0-9a-f]{16})"
_DATA = r"(?P<data>[A-Za-z0-9_-]+)"
_WRAPPED_RE = re.compile(rf"{_VERSION}:(?P<master_id>{_KEY_ID_RE.pattern}):{_DEK_ID}:{_DATA}")
_SEALED_RE = re.compile(rf"{_VERSION}:{_DEK_ID}:{_DATA}")


class VaultError(Exception):
    """A credential cannot be sealed or opened. Messages never contain plaintext or key material."""


class KeyRingError(VaultError):
    """``SPLICE_CREDENTIAL_KEYS`` is missing or malformed."""


class UnknownMasterKeyError(VaultError):
    """A data key is wrapped under a master key id that is not in the key ring."""


class CredentialTamperedError(VaultError):
    """A stored value failed authentication: altered, copied from another row or field, or wrong key."""


@dataclass(frozen=True, slots=True)
class RowContext:
    """Which row a credential belongs to: a fixed table name and the row's stable ``vault_id``."""

    table: str
    row_id: str

    def __post_init__(self) -> None:
        for label, value in (("table", self.table), ("row_id", self.row_id)):
            if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
                raise ValueError(
                    f"RowContext.{label} must be 1-128 letters, digits, '_', '.' or '-' (pass a UUID as str)"
                )

    def __str__(self) -> str:
        return f"{self.table} row {self.row_id}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Decode unpadded urlsafe base64; raises ValueError (with no input echoed) when malformed."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None


class KeyRing:
    """The master keys, by id. The first one (`primary_id`) wraps new data keys; all of them unwrap."""

    __slots__ = ("__keys", "__primary_id")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyRingError("a key ring needs at least one master key")
        ring: dict[str, AESGCM] = {}
        seen: set[bytes] = set()
        for key_id, key in keys:
            if not _KEY_ID_RE.fullmatch(key_id):
                raise KeyRingError("master key ids are 1-32 letters, digits, '_' or '-'")
            if key_id in ring:
                raise KeyRingError(f"master key id {key_id!r} appears twice")
            if len(key) != _KEY_BYTES:
                raise KeyRingError(f"master key {key_id!r} must be {_KEY_BYTES} bytes, not {len(key)}")
            if key in seen:
                raise KeyRingError(f"master key {key_id!r} repeats the key of another id")
            seen.add(key)
            ring[key_id] = AESGCM(key)
        self.__keys = ring
        self.__primary_id = keys[0][0]

    @classmethod
    def from_env_value(cls, text: str | None) -> KeyRing:
        """Parse ``SPLICE_CREDENTIAL_KEYS``: ``id:key`` pairs separated by commas, the primary first.

        A key is 32 bytes in urlsafe base64, as `generate_key` prints (standard base64, as from
        ``openssl rand -base64 32``, is accepted too). Errors name the entry by position and id,
        never its key.
        """
        if text is None or not text.strip():
            raise KeyRingError(
                f"{ENV_VAR} is empty: set it to 'id:key' (create a key with KeyRing.generate_key())"
            )
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(text.split(","), start=1):
            where = f"{ENV_VAR} entry {position}"
            key_id, colon, encoded = (part.strip() for part in entry.partition(":"))
            if not key_id and not encoded:
                raise KeyRingError(f"{where} is empty (entries are 'id:key' separated by commas)")
            if not colon:
                raise KeyRingError(f"{where} has no ':' between id and key (expected 'id:key')")
            if not _KEY_ID_RE.fullmatch(key_id):
                raise KeyRingError(f"{where} has an invalid id: use 1-32 letters, digits, '_' or '-'")
            where = f"{where} (id {key_id!r})"
            if not encoded:
                raise KeyRingError(f"{where} has no key after ':'")
            try:
                key = _b64decode(encoded.replace("+", "-").replace("/", "_").rstrip("="))
            except ValueError:
                raise KeyRingError(f"{where}: the key is not valid base64") from None
            if len(key) != _KEY_BYTES:
                raise KeyRingError(f"{where}: the key decodes to {len(key)} bytes, expected {_KEY_BYTES}")
            keys.append((key_id, key))
        return cls(keys)

    @staticmethod
    def generate_key() -> str:
        """Return a new random 32-byte master key in urlsafe base64, to put after ``id:``."""
        return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode("ascii")

    @property
    def primary_id(self) -> str:
        """The id of the key that wraps new data keys (the first in ``SPLICE_CREDENTIAL_KEYS``)."""
        return self.__primary_id

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id, the primary first."""
        return tuple(self.__keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self.__keys

    def _cipher(self, key_id: str) -> AESGCM | None:
        return self.__keys.get(key_id)

    def _primary(self) -> tuple[str, AESGCM]:
        return self.__primary_id, self.__keys[self.__primary_id]

    def __repr__(self) -> str:
        return f"KeyRing(ids={self.ids!r})"

    def __reduce_ex__(self, protocol: object) -> Never:
        raise TypeError("a KeyRing holds master keys and cannot be pickled")


class Vault:
    """Seals and opens credential fields of rows; wraps and re-wraps their data keys."""

    __slots__ = ("_keyring",)

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring

    @property
    def keyring(self) -> KeyRing:
        return self._keyring

    def new_data_key(self, context: RowContext) -> str:
        """Create a data key for the row and return it wrapped under the primary master key."""
        return self._wrap(os.urandom(_KEY_BYTES), os.urandom(_DEK_ID_BYTES).hex(), context)

    def seal(self, plaintext: str | Secret, *, wrapped_key: str, context: RowContext, field: str) -> str:
        """Encrypt one field of the row under its data key; returns ``v1:<dek_id>:<b64url>``."""
        if isinstance(plaintext, Secret):
            plaintext = plaintext.reveal()
        elif not isinstance(plaintext, str):
            raise TypeError(f"seal() takes a str or Secret, not {type(plaintext).__name__}")
        _check_field(field)
        dek_id, cipher = self._data_key(wrapped_key, context)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = cipher.encrypt(nonce, plaintext.encode(), _field_aad(context, field, dek_id))
        return f"{_VERSION}:{dek_id}:{_b64encode(nonce + sealed)}"

    def open(self, ciphertext: str, *, wrapped_key: str, context: RowContext, field: str) -> Secret:
        """Decrypt one field sealed by `seal` for this very row and field."""
        _check_field(field)
        where = f"{context} field {field!r}"
        match = _SEALED_RE.fullmatch(ciphertext) if isinstance(ciphertext, str) else None
        if match is None:
            raise CredentialTamperedError(f"{where}: the stored value is not a sealed credential")
        dek_id, cipher = self._data_key(wrapped_key, context)
        if match["dek_id"] != dek_id:
            raise CredentialTamperedError(
                f"{where} was sealed under another data key: copied from another row, "
                "or the row's data key was replaced"
            )
        try:
            data = _b64decode(match["data"])
        except ValueError:
            raise CredentialTamperedError(f"{where}: the stored value is not a sealed credential") from None
        try:
            plaintext = cipher.decrypt(
                data[:_NONCE_BYTES], data[_NONCE_BYTES:], _field_aad(context, field, dek_id)
            )
        except (InvalidTag, ValueError):
            raise CredentialTamperedError(
                f"{where} failed authentication: altered, or copied from another field or row"
            ) from None
        return Secret(plaintext.decode())

    def needs_rewrap(self, wrapped_key: str) -> bool:
        """Whether the data key is wrapped under a master key other than the primary."""
        match = _WRAPPED_RE.fullmatch(wrapped_key) if isinstance(wrapped_key, str) else None
        if match is None:
            raise VaultError("the value is not a wrapped data key (expected 'v1:<master id>:<key id>:...')")
        return match["master_id"] != self._keyring.primary_id

    def rewrap(self, wrapped_key: str, context: RowContext) -> str:
        """Re-wrap the row's data key under the primary master key; no field is re-encrypted.

        Always unwraps (so a rotation run also verifies every row), and returns `wrapped_key`
        itself when it is already under the primary key, so an interrupted rotation can simply run
        again: count ``rewrap(w, ctx) != w`` as re-wrapped and the rest as already current.
        """
        master_id, dek_id, dek = self._unwrap(wrapped_key, context)
        if master_id == self._keyring.primary_id:
            return wrapped_key
        return self._wrap(dek, dek_id, context)

    def _wrap(self, dek: bytes, dek_id: str, context: RowContext) -> str:
        master_id, cipher = self._keyring._primary()
        nonce = os.urandom(_NONCE_BYTES)
        wrapped = cipher.encrypt(nonce, dek, _dek_aad(context, master_id, dek_id))
        return f"{_VERSION}:{master_id}:{dek_id}:{_b64encode(nonce + wrapped)}"

    def _unwrap(self, wrapped_key: str, context: RowContext) -> tuple[str, str, bytes]:
        """Return ``(master_id, dek_id, dek)`` of the row's wrapped data key."""
        where = f"the data key of {context}"
        match = _WRAPPED_RE.fullmatch(wrapped_key) if isinstance(wrapped_key, str) else None
        if match is None:
            raise CredentialTamperedError(f"{where} is not a wrapped data key")
        master_id, dek_id = match["master_id"], match["dek_id"]
        cipher = self._keyring._cipher(master_id)
        if cipher is None:
            raise UnknownMasterKeyError(
                f"{where} is wrapped under master key {master_id!r}, which is not in {ENV_VAR} "
                f"(it holds {', '.join(self._keyring.ids)}): add that key back after the primary one"
            )
        try:
            data = _b64decode(match["data"])
            aad = _dek_aad(context, master_id, dek_id)
            dek = cipher.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            raise CredentialTamperedError(
                f"{where} failed authentication under master key {master_id!r}: the key with that id is "
                "not the one that wrapped it, or the wrapped key was altered or copied from another row"
            ) from None
        return master_id, dek_id, dek

    def _data_key(self, wrapped_key: str, context: RowContext) -> tuple[str, AESGCM]:
        _master_id, dek_id, dek = self._unwrap(wrapped_key, context)
        return dek_id, AESGCM(dek)


def _check_field(field: str) -> None:
    if not isinstance(field, str) or not _NAME_RE.fullmatch(field):
        raise ValueError("field must be 1-128 letters, digits, '_', '.' or '-'")


def _dek_aad(context: RowContext, master_id: str, dek_id: str) -> bytes:
    return f"splice/dek/{_VERSION}/{context.table}/{context.row_id}/{master_id}/{dek_id}".encode()


def _field_aad(context: RowContext, field: str, dek_id: str) -> bytes:
    return f"splice/secret/{_VERSION}/{context.table}/{context.row_id}/{field}/{dek_id}".encode()

"""The credential vault (`connections.vault`) and the masked `Secret` (`connections.secrets`).

Pure unit tests: no database and no Django settings (they also run with ``-p no:django``).
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.template import Context, Engine, TemplateSyntaxError
from django.utils.html import conditional_escape, format_html

from connections.secrets import MASK, Secret
from connections.vault import (
    ENV_VAR,
    CredentialTamperedError,
    KeyRing,
    KeyRingError,
    RowContext,
    UnknownMasterKeyError,
    Vault,
    VaultError,
)

PLAINTEXT = "ya29.sup3r-s3cret-access-token"
TABLE = "connections.connection"
SECRET_FIELDS = [
    "access_token",
    "refresh_token",
    "token_secret",
    "password",
    "api_key",
    "api_secret",
    "oauth1_token",
    "oauth1_token_secret",
    "client_secret",
]
REPO_ROOT = Path(__file__).resolve().parents[2]


# -- fixtures and helpers ----------------------------------------------------------------------------


@pytest.fixture
def old_key() -> str:
    return KeyRing.generate_key()


@pytest.fixture
def new_key() -> str:
    return KeyRing.generate_key()


@pytest.fixture
def vault(old_key: str) -> Vault:
    return Vault(KeyRing.from_env_value(f"old:{old_key}"))


@pytest.fixture
def row() -> RowContext:
    return RowContext(TABLE, "0b6f8a3e-52a4-4c1b-9d3f-6f1c2a7e9b10")


@pytest.fixture
def other_row() -> RowContext:
    return RowContext(TABLE, "7d2c4e91-0a55-4f0e-8b7a-3c9d1e6f2a48")


@pytest.fixture
def data_key(vault: Vault, row: RowContext) -> str:
    return vault.new_data_key(row)


def _flip_byte(stored: str, index: int) -> str:
    """Flip one bit of the base64 payload (the last ':'-separated part) of a stored value."""
    head, _, payload = stored.rpartition(":")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[index] ^= 0x01
    return f"{head}:{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def _windows(text: str, size: int = 8) -> Iterator[str]:
    return (text[i : i + size] for i in range(len(text) - size + 1))


def _assert_reveals_nothing(exc: BaseException, *secrets: str) -> None:
    """Neither the message, the args nor the formatted traceback contains any piece of a secret."""
    rendered = [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    for secret in secrets:
        for window in _windows(secret):
            for text in rendered:
                assert window not in text


# -- Secret ------------------------------------------------------------------------------------------


def test_secret_reveals_its_value_only_through_reveal() -> None:
    secret = Secret(PLAINTEXT)
    assert secret.reveal() == PLAINTEXT
    assert [name for name in dir(secret) if not name.startswith("_")] == ["reveal"]
    with pytest.raises(TypeError):
        vars(secret)


@pytest.mark.parametrize(
    "render",
    [
        str,
        repr,
        format,
        lambda s: f"{s}",
        lambda s: f"{s!r}",
        lambda s: f"{s!s}",
        lambda s: f"{s:>12}",
        # The older formatting styles are what these cases are about.
        lambda s: "{}".format(s),  # noqa: UP032
        lambda s: "{0.reveal}".format(s),  # noqa: UP030, UP032
        lambda s: "%s" % s,  # noqa: UP031
        lambda s: "%r" % (s,),  # noqa: UP031
        lambda s: str([s]),
        lambda s: str({"token": s}),
    ],
)
def test_secret_is_masked_when_formatted(render: Callable[[Secret], str]) -> None:
    text = render(Secret(PLAINTEXT))
    assert MASK in text
    assert PLAINTEXT not in text


def test_secret_repr_and_str() -> None:
    assert repr(Secret(PLAINTEXT)) == "Secret('••••')"
    assert str(Secret(PLAINTEXT)) == "••••"


def test_secret_is_masked_in_log_records(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(PLAINTEXT)
    logger = logging.getLogger("splice.tests.vault")
    with caplog.at_level(logging.INFO, logger="splice.tests.vault"):
        logger.info("token=%s repr=%r in=%s", secret, secret, {"token": secret})
        logger.info(secret)
        logger.info("extra", extra={"token": secret})
    assert len(caplog.records) == 3
    for record in caplog.records:
        assert PLAINTEXT not in record.getMessage()
        assert PLAINTEXT not in repr(record.args)
        assert PLAINTEXT not in logging.Formatter("%(message)s %(args)s").format(record)
    assert PLAINTEXT not in logging.Formatter("%(token)s").format(caplog.records[2])
    assert caplog.records[0].getMessage() == "token=•••• repr=Secret('••••') in={'token': Secret('••••')}"
    assert PLAINTEXT not in caplog.text


@pytest.mark.parametrize(
    "dump",
    [
        json.dumps,
        lambda s: json.dumps({"token": s}),
        lambda s: json.dumps(s, cls=DjangoJSONEncoder),
        lambda s: pytest.importorskip("kombu.utils.json").dumps({"args": [s]}),
    ],
)
def test_secret_refuses_json(dump: Callable[[Secret], str]) -> None:
    with pytest.raises(TypeError) as excinfo:
        dump(Secret(PLAINTEXT))
    _assert_reveals_nothing(excinfo.value, PLAINTEXT)


def test_secret_is_not_a_container_or_serializable_type() -> None:
    secret = Secret(PLAINTEXT)
    assert not isinstance(secret, str | bytes | dict | list | tuple)
    assert not hasattr(secret, "__json__")
    assert not hasattr(secret, "__dict__")
    for attempt in (len, hash, bytes, iter, lambda s: s[0], lambda s: s + "x", lambda s: "".join([s])):
        with pytest.raises(TypeError):
            attempt(secret)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_secret_refuses_pickling(protocol: int) -> None:
    with pytest.raises(TypeError, match="cannot be pickled") as excinfo:
        pickle.dumps({"token": Secret(PLAINTEXT)}, protocol=protocol)
    _assert_reveals_nothing(excinfo.value, PLAINTEXT)


def test_secret_refuses_getstate() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        Secret(PLAINTEXT).__getstate__()


def test_secret_copies_are_itself() -> None:
    secret = Secret(PLAINTEXT)
    assert copy.copy(secret) is secret
    assert copy.deepcopy({"token": [secret]})["token"][0] is secret


def test_secret_is_immutable_and_final() -> None:
    secret = Secret(PLAINTEXT)
    with pytest.raises(AttributeError):
        secret._Secret__value = "other"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        secret.value = "other"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del secret._Secret__value  # type: ignore[attr-defined]
    assert secret.reveal() == PLAINTEXT
    with pytest.raises(TypeError, match="cannot be subclassed"):
        type("Leaky", (Secret,), {})


def test_secret_equality_and_truth() -> None:
    assert Secret(PLAINTEXT) == Secret(PLAINTEXT)
    assert Secret(PLAINTEXT) != Secret(PLAINTEXT + "x")
    assert Secret(PLAINTEXT) != PLAINTEXT
    assert Secret("x")
    assert not Secret("")


def test_secret_takes_only_str_and_does_not_echo_other_values() -> None:
    with pytest.raises(TypeError) as excinfo:
        Secret(PLAINTEXT.encode())  # type: ignore[arg-type]
    _assert_reveals_nothing(excinfo.value, PLAINTEXT)


def test_secret_is_masked_in_a_django_template() -> None:
    html = Engine().from_string("{{ s }}").render(Context({"s": Secret(PLAINTEXT)}))
    assert html == MASK


@pytest.mark.parametrize(
    "source",
    [
        "{{ s }}",
        "{{ s.reveal }}",
        "{{ s|safe }}",
        "{{ s|escape }}",
        "{{ s|upper }}",
        "{{ s|pprint }}",
        "{{ s|length }}",
        '{{ s|stringformat:"s" }}',
        "{{ s.0 }}",
        "{{ s.value }}",
        "{% autoescape off %}{{ s }}{% endautoescape %}",
    ],
)
def test_secret_does_not_leak_through_template_syntax(source: str) -> None:
    html = Engine().from_string(source).render(Context({"s": Secret(PLAINTEXT)}, use_l10n=False))
    assert PLAINTEXT not in html
    assert PLAINTEXT.upper() not in html


def test_templates_cannot_reach_the_mangled_slot() -> None:
    with pytest.raises(TemplateSyntaxError):
        Engine().from_string("{{ s._Secret__value }}")


def test_secret_is_masked_by_django_html_helpers() -> None:
    secret = Secret(PLAINTEXT)
    assert secret.__html__() == MASK
    assert conditional_escape(secret) == MASK
    assert format_html("<b>{}</b>", secret) == f"<b>{MASK}</b>"


# -- KeyRing -----------------------------------------------------------------------------------------


def test_keyring_from_env_value(old_key: str, new_key: str) -> None:
    ring = KeyRing.from_env_value(f" new:{new_key} , old:{old_key} ")
    assert ring.primary_id == "new"
    assert ring.ids == ("new", "old")
    assert "old" in ring
    assert "missing" not in ring


def test_keyring_accepts_standard_and_unpadded_base64() -> None:
    raw = os.urandom(32)
    standard = base64.b64encode(raw).decode()
    unpadded = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    for text in (f"a:{standard}", f"a:{unpadded}"):
        assert KeyRing.from_env_value(text).primary_id == "a"


def test_generate_key_makes_distinct_usable_32_byte_keys() -> None:
    first, second = KeyRing.generate_key(), KeyRing.generate_key()
    assert first != second
    assert len(base64.urlsafe_b64decode(first)) == 32
    assert KeyRing.from_env_value(f"k1:{first},k2:{second}").primary_id == "k1"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("{k1}", "entry 1 has no ':'"),
        ("k1:", "entry 1 (id 'k1') has no key"),
        (":{k1}", "entry 1 has an invalid id"),
        ("bad id!:{k1}", "entry 1 has an invalid id"),
        ("{k1}:k1", "entry 1 has an invalid id"),
        ("k1:{short}", "decodes to 16 bytes, expected 32"),
        ("k1:{k1}:{k2}", "not valid base64"),
        ("k1:{k1}*", "not valid base64"),
        ("k1:{k1},,k2:{k2}", "entry 2 is empty"),
        ("k1:{k1},", "entry 2 is empty"),
        ("k1:{k1},k1:{k2}", "'k1' appears twice"),
        ("k1:{k1},k2:{k1}", "'k2' repeats the key of another id"),
    ],
)
def test_malformed_env_values_are_explained_without_key_material(template: str, expected: str) -> None:
    keys = {"k1": KeyRing.generate_key(), "k2": KeyRing.generate_key()}
    short = base64.urlsafe_b64encode(os.urandom(16)).decode()
    with pytest.raises(KeyRingError) as excinfo:
        KeyRing.from_env_value(template.format(short=short, **keys))
    assert expected in str(excinfo.value)
    _assert_reveals_nothing(excinfo.value, *keys.values(), short)


def test_missing_env_value_names_the_variable() -> None:
    with pytest.raises(KeyRingError, match=ENV_VAR):
        KeyRing.from_env_value(None)


def test_keyring_does_not_show_or_pickle_its_keys(old_key: str) -> None:
    ring = KeyRing.from_env_value(f"old:{old_key}")
    assert repr(ring) == "KeyRing(ids=('old',))"
    with pytest.raises(TypeError):
        pickle.dumps(ring)
    with pytest.raises(TypeError):
        pickle.dumps(Vault(ring))


# -- RowContext --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "row_id"), [("a/b", "1"), (TABLE, "1/2"), (TABLE, "a:b"), ("", "1"), (TABLE, "")]
)
def test_row_context_rejects_names_that_would_make_aad_ambiguous(table: str, row_id: str) -> None:
    with pytest.raises(ValueError, match="RowContext"):
        RowContext(table, row_id)


# -- Vault: sealing and opening ----------------------------------------------------------------------


@pytest.mark.parametrize("field", SECRET_FIELDS)
def test_seal_open_roundtrip(vault: Vault, row: RowContext, data_key: str, field: str) -> None:
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field=field)
    opened = vault.open(sealed, wrapped_key=data_key, context=row, field=field)
    assert isinstance(opened, Secret)
    assert opened.reveal() == PLAINTEXT


@pytest.mark.parametrize("plaintext", ["", "ü€😀 with spaces", "x" * 10_000])
def test_roundtrip_of_any_text_and_of_a_secret(
    vault: Vault, row: RowContext, data_key: str, plaintext: str
) -> None:
    for value in (plaintext, Secret(plaintext)):
        sealed = vault.seal(value, wrapped_key=data_key, context=row, field="password")
        assert vault.open(sealed, wrapped_key=data_key, context=row, field="password").reveal() == plaintext


def test_stored_formats(vault: Vault, row: RowContext, data_key: str) -> None:
    version, master_id, dek_id, payload = data_key.split(":")
    assert (version, master_id, len(dek_id)) == ("v1", "old", 16)
    assert len(base64.urlsafe_b64decode(payload + "==")) == 12 + 32 + 16
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="api_key")
    assert sealed.startswith(f"v1:{dek_id}:")
    assert PLAINTEXT not in sealed
    assert sealed != vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="api_key")
    assert vault.new_data_key(row).split(":")[2] != dek_id


@pytest.mark.parametrize("index", [0, 11, 12, 20, -1])
def test_flipped_byte_in_sealed_value_fails(vault: Vault, row: RowContext, data_key: str, index: int) -> None:
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="access_token")
    with pytest.raises(CredentialTamperedError, match="failed authentication") as excinfo:
        vault.open(_flip_byte(sealed, index), wrapped_key=data_key, context=row, field="access_token")
    _assert_reveals_nothing(excinfo.value, PLAINTEXT)


@pytest.mark.parametrize("index", [0, 12, 30, -1])
def test_flipped_byte_in_wrapped_key_fails(vault: Vault, row: RowContext, data_key: str, index: int) -> None:
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="access_token")
    with pytest.raises(CredentialTamperedError, match="data key of connections.connection row"):
        vault.open(sealed, wrapped_key=_flip_byte(data_key, index), context=row, field="access_token")


def test_changed_data_key_id_fails(vault: Vault, row: RowContext, data_key: str) -> None:
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="access_token")
    version, dek_id, payload = sealed.split(":")
    forged = f"{version}:{'0' if dek_id[0] != '0' else '1'}{dek_id[1:]}:{payload}"
    with pytest.raises(CredentialTamperedError, match="another data key"):
        vault.open(forged, wrapped_key=data_key, context=row, field="access_token")
    forged_key = data_key.replace(f":{dek_id}:", f":{forged.split(':')[1]}:")
    with pytest.raises(CredentialTamperedError, match="failed authentication"):
        vault.open(sealed, wrapped_key=forged_key, context=row, field="access_token")


@pytest.mark.parametrize("stored", [PLAINTEXT, "", "v1:", "v1:0123456789abcdef:", "v1:0123456789abcdef:A"])
def test_a_value_that_is_not_sealed_fails_without_echoing_it(
    vault: Vault, row: RowContext, data_key: str, stored: str
) -> None:
    with pytest.raises(CredentialTamperedError, match="'password'") as excinfo:
        vault.open(stored, wrapped_key=data_key, context=row, field="password")
    _assert_reveals_nothing(excinfo.value, PLAINTEXT)


def test_ciphertext_copied_to_another_field_fails(vault: Vault, row: RowContext, data_key: str) -> None:
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="access_token")
    with pytest.raises(CredentialTamperedError) as excinfo:
        vault.open(sealed, wrapped_key=data_key, context=row, field="refresh_token")
    message = str(excinfo.value)
    assert TABLE in message and row.row_id in message and "'refresh_token'" in message
    assert "copied from another field" in message
    _assert_reveals_nothing(excinfo.value, PLAINTEXT)


def test_ciphertext_copied_to_another_row_fails(
    vault: Vault, row: RowContext, other_row: RowContext, data_key: str
) -> None:
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="access_token")
    other_key = vault.new_data_key(other_row)
    with pytest.raises(CredentialTamperedError) as excinfo:
        vault.open(sealed, wrapped_key=other_key, context=other_row, field="access_token")
    message = str(excinfo.value)
    assert TABLE in message and other_row.row_id in message and "'access_token'" in message
    assert "another data key" in message
    _assert_reveals_nothing(excinfo.value, PLAINTEXT)


def test_data_key_and_ciphertext_copied_together_to_another_row_fail(
    vault: Vault, row: RowContext, other_row: RowContext, data_key: str
) -> None:
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="access_token")
    with pytest.raises(CredentialTamperedError, match=f"data key of {TABLE} row {other_row.row_id}"):
        vault.open(sealed, wrapped_key=data_key, context=other_row, field="access_token")
    with pytest.raises(CredentialTamperedError):
        vault.seal(PLAINTEXT, wrapped_key=data_key, context=other_row, field="access_token")
    with pytest.raises(CredentialTamperedError):
        vault.open(
            sealed,
            wrapped_key=data_key,
            context=RowContext("connections.oauthclient", row.row_id),
            field="access_token",
        )


def test_wrong_master_key_with_the_same_id_fails(vault: Vault, row: RowContext, data_key: str) -> None:
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="password")
    impostor_key = KeyRing.generate_key()
    impostor = Vault(KeyRing.from_env_value(f"old:{impostor_key}"))
    with pytest.raises(CredentialTamperedError, match="under master key 'old'") as excinfo:
        impostor.open(sealed, wrapped_key=data_key, context=row, field="password")
    _assert_reveals_nothing(excinfo.value, PLAINTEXT, impostor_key)


def test_unknown_master_key_id_is_named(vault: Vault, row: RowContext, data_key: str, new_key: str) -> None:
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="password")
    other = Vault(KeyRing.from_env_value(f"new:{new_key}"))
    with pytest.raises(
        UnknownMasterKeyError, match="master key 'old', which is not in SPLICE_CREDENTIAL_KEYS"
    ) as exc:
        other.open(sealed, wrapped_key=data_key, context=row, field="password")
    assert "(it holds new)" in str(exc.value)
    _assert_reveals_nothing(exc.value, PLAINTEXT, new_key)


def test_bad_arguments_are_refused_without_echoing_them(vault: Vault, row: RowContext, data_key: str) -> None:
    with pytest.raises(TypeError) as excinfo:
        vault.seal(PLAINTEXT.encode(), wrapped_key=data_key, context=row, field="password")  # type: ignore[arg-type]
    _assert_reveals_nothing(excinfo.value, PLAINTEXT)
    with pytest.raises(ValueError, match="field"):
        vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="pass/word")
    with pytest.raises(VaultError, match="not a wrapped data key"):
        vault.needs_rewrap(PLAINTEXT)


def test_no_vault_error_reveals_plaintext_or_keys(
    old_key: str, new_key: str, row: RowContext, other_row: RowContext
) -> None:
    vault = Vault(KeyRing.from_env_value(f"old:{old_key}"))
    data_key = vault.new_data_key(row)
    sealed = vault.seal(PLAINTEXT, wrapped_key=data_key, context=row, field="api_secret")
    attempts: list[Callable[[], object]] = [
        lambda: vault.open(_flip_byte(sealed, 5), wrapped_key=data_key, context=row, field="api_secret"),
        lambda: vault.open(sealed, wrapped_key=data_key, context=row, field="api_key"),
        lambda: vault.open(sealed, wrapped_key=data_key, context=other_row, field="api_secret"),
        lambda: vault.open(
            sealed, wrapped_key=vault.new_data_key(other_row), context=other_row, field="api_secret"
        ),
        lambda: vault.open(sealed, wrapped_key=_flip_byte(data_key, 3), context=row, field="api_secret"),
        lambda: vault.open(PLAINTEXT, wrapped_key=data_key, context=row, field="api_secret"),
        lambda: Vault(KeyRing.from_env_value(f"new:{new_key}")).rewrap(data_key, row),
        lambda: Vault(KeyRing.from_env_value(f"old:{new_key}")).rewrap(data_key, row),
        lambda: vault.rewrap(data_key, other_row),
    ]
    for attempt in attempts:
        with pytest.raises(VaultError) as excinfo:
            attempt()
        assert excinfo.value.__cause__ is None
        assert excinfo.value.__suppress_context__ or excinfo.value.__context__ is None
        _assert_reveals_nothing(excinfo.value, PLAINTEXT, old_key, new_key, sealed)


# -- Vault: rotation ---------------------------------------------------------------------------------


@dataclass
class _StoredRow:
    """The vault columns of one row, as a model would hold them."""

    context: RowContext
    data_key: str
    sealed: dict[str, str]


def _rotate(vault: Vault, rows: list[_StoredRow]) -> tuple[int, int]:
    """What the rotation command does: re-wrap every data key, count re-wrapped and already current."""
    rewrapped = current = 0
    for stored in rows:
        wrapped = vault.rewrap(stored.data_key, stored.context)
        if wrapped == stored.data_key:
            current += 1
        else:
            stored.data_key = wrapped
            rewrapped += 1
    return rewrapped, current


def _stored_row(vault: Vault, row_id: str, fields: list[str]) -> _StoredRow:
    context = RowContext(TABLE, row_id)
    data_key = vault.new_data_key(context)
    sealed = {
        field: vault.seal(f"{PLAINTEXT}-{row_id}-{field}", wrapped_key=data_key, context=context, field=field)
        for field in fields
    }
    return _StoredRow(context, data_key, sealed)


def test_rotation_rewraps_data_keys_only_and_is_idempotent(old_key: str, new_key: str) -> None:
    before = Vault(KeyRing.from_env_value(f"old:{old_key}"))
    rows = [_stored_row(before, f"row-{number}", SECRET_FIELDS) for number in range(3)]
    during = Vault(KeyRing.from_env_value(f"new:{new_key},old:{old_key}"))
    # A row created while the rotation runs is already under the new key.
    rows.append(_stored_row(during, "row-fresh", ["api_key"]))
    sealed_before = [dict(stored.sealed) for stored in rows]

    assert [during.needs_rewrap(stored.data_key) for stored in rows] == [True, True, True, False]
    assert _rotate(during, rows) == (3, 1)
    assert not any(during.needs_rewrap(stored.data_key) for stored in rows)
    assert all(stored.data_key.startswith("v1:new:") for stored in rows)
    assert _rotate(during, rows) == (0, 4)
    assert [stored.sealed for stored in rows] == sealed_before

    after = Vault(KeyRing.from_env_value(f"new:{new_key}"))
    for stored in rows:
        for field, sealed in stored.sealed.items():
            opened = after.open(sealed, wrapped_key=stored.data_key, context=stored.context, field=field)
            assert opened.reveal() == f"{PLAINTEXT}-{stored.context.row_id}-{field}"


def test_rewrap_keeps_the_row_binding(
    old_key: str, new_key: str, row: RowContext, other_row: RowContext
) -> None:
    before = Vault(KeyRing.from_env_value(f"old:{old_key}"))
    data_key = before.new_data_key(row)
    during = Vault(KeyRing.from_env_value(f"new:{new_key},old:{old_key}"))
    rewrapped = during.rewrap(data_key, row)
    assert rewrapped.split(":")[2] == data_key.split(":")[2]
    assert during.rewrap(rewrapped, row) is rewrapped
    with pytest.raises(CredentialTamperedError):
        during.rewrap(rewrapped, other_row)
    with pytest.raises(CredentialTamperedError):
        during.rewrap(data_key, other_row)


# -- imports -----------------------------------------------------------------------------------------


def test_vault_modules_do_not_import_django() -> None:
    code = "import sys, connections.vault, connections.secrets; sys.exit('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()

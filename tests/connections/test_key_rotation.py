"""Rotating the master key: `rotate_credential_keys` re-wraps every data key under the new key (no secret is
re-encrypted), can be run again at any point, and once the old key is dropped every connection still works.
A sealed value moved to another row fails to open with an error that names the row and field, not the secret.
`--verify` opens every sealed value, those rotation skips as current included, and names each one that fails."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection as db

from connections.client import connection_client
from connections.credentials import CONNECTION_SECRET_FIELDS, get_vault, open_secret, row_context
from connections.models import Connection, OAuthProfile
from connections.services import connection_test
from connections.vault import CredentialTamperedError, KeyRing, UnknownMasterKeyError
from tests.servers.fixtures import APIServer

pytestmark = pytest.mark.django_db

HEADER_KEY, HEADER_SECRET = "rot-key-0b8e41", "rot-secret-6c2d95"


def rotate() -> str:
    out = io.StringIO()
    call_command("rotate_credential_keys", stdout=out)
    return out.getvalue().strip()


def verify() -> tuple[str, str]:
    """Run `rotate_credential_keys --verify`; (stdout, stderr) when every value opens, else CommandError."""
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_credential_keys", "--verify", stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def sealed_columns(model) -> dict[int, tuple]:
    """The raw sealed columns of every row: rotation must leave them byte for byte as they were."""
    fields = CONNECTION_SECRET_FIELDS if model is Connection else ("client_secret",)
    return {row[0]: row[1:] for row in model.objects.order_by("pk").values_list("pk", *fields)}


@pytest.fixture
def authorized(oauth2_connection, authorize_oauth2, oauth1_connection, authorize_oauth1, api_server,
               credential_connection) -> dict[str, Connection]:
    """Connected connections of four auth methods, and the OAuth profiles two of them use."""
    oauth2, outcome = authorize_oauth2(oauth2_connection(name="OAuth2 account"))
    assert outcome.ok, outcome.message

    oauth1, outcome = authorize_oauth1(oauth1_connection(name="OAuth1 account"))
    assert outcome.ok, outcome.message

    basic, outcome = credential_connection("basic")
    assert outcome.ok, outcome.message
    api_server.set_credentials({"username": APIServer.username, "password": APIServer.password},
                               {"api_key": HEADER_KEY, "api_secret": HEADER_SECRET})
    header_key, outcome = credential_connection("header_key", {"api_key": HEADER_KEY, "api_secret": HEADER_SECRET})
    assert outcome.ok, outcome.message
    return {"oauth2": oauth2, "oauth1": oauth1, "basic": basic, "header_key": header_key}


def test_rotating_then_dropping_the_old_key_keeps_every_connection_working(authorized, settings, oauth2_server,
                                                                           oauth1_server):
    old_ring = settings.SPLICE_CREDENTIAL_KEYS
    old_id = old_ring.split(",")[0].partition(":")[0]
    profile_secrets = {p.pk: open_secret(p, "client_secret").reveal() for p in OAuthProfile.objects.all()}
    assert profile_secrets[authorized["oauth1"].oauth_profile_id] == oauth1_server.client("HMAC-SHA1").client_secret
    rows = Connection.objects.exclude(data_key="").count() + OAuthProfile.objects.exclude(data_key="").count()
    assert rows == 4 + 2
    sealed_before = sealed_columns(Connection), sealed_columns(OAuthProfile)

    settings.SPLICE_CREDENTIAL_KEYS = f"new:{KeyRing.generate_key()},{old_ring}"
    # An earlier run was interrupted after re-wrapping one row.
    first = Connection.objects.get(pk=authorized["oauth2"].pk)
    Connection.objects.filter(pk=first.pk).update(data_key=get_vault().rewrap(first.data_key, row_context(first)))

    assert rotate() == f"Master key new: re-wrapped {rows - 1}, already current 1, failed 0."
    assert rotate() == f"Master key new: re-wrapped 0, already current {rows}, failed 0."

    wrapped = [*Connection.objects.values_list("data_key", flat=True),
               *OAuthProfile.objects.values_list("data_key", flat=True)]
    assert all(key.startswith("v1:new:") for key in wrapped if key)
    assert (sealed_columns(Connection), sealed_columns(OAuthProfile)) == sealed_before  # only the keys re-wrapped

    settings.SPLICE_CREDENTIAL_KEYS = settings.SPLICE_CREDENTIAL_KEYS.split(",")[0]  # the old key is gone
    assert old_id not in get_vault().keyring

    for name, connection in authorized.items():
        connection = Connection.objects.get(pk=connection.pk)
        outcome = connection_test(connection=connection)
        assert outcome.ok, f"{name}: {outcome.message}"
        assert connection_client(connection).request("GET", "/api/items").status_code == 200, name
        assert Connection.objects.get(pk=connection.pk).status == Connection.Status.CONNECTED
    for profile in OAuthProfile.objects.all():
        assert open_secret(profile, "client_secret").reveal() == profile_secrets[profile.pk]
    # New tokens are sealed under the re-wrapped key: a refresh after the rotation works and opens.
    oauth2_server.expire(user="ada@example.com")
    oauth2 = Connection.objects.get(pk=authorized["oauth2"].pk)
    assert connection_client(oauth2).request("GET", "/api/me").status_code == 200
    assert Connection.objects.get(pk=oauth2.pk).token_version == oauth2.token_version + 1
    assert rotate() == f"Master key new: re-wrapped 0, already current {rows}, failed 0."


def test_dropping_the_old_key_before_rotating_fails_loudly_and_changes_nothing(authorized, settings):
    old_id = settings.SPLICE_CREDENTIAL_KEYS.split(",")[0].partition(":")[0]
    wrapped_before = list(Connection.objects.order_by("pk").values_list("data_key", flat=True))
    settings.SPLICE_CREDENTIAL_KEYS = f"new:{KeyRing.generate_key()}"

    err = io.StringIO()
    with pytest.raises(CommandError, match=r"6 data key\(s\) could not be opened"):
        call_command("rotate_credential_keys", stdout=io.StringIO(), stderr=err)

    assert f"wrapped under master key '{old_id}', which is not in SPLICE_CREDENTIAL_KEYS" in err.getvalue()
    assert list(Connection.objects.order_by("pk").values_list("data_key", flat=True)) == wrapped_before
    with pytest.raises(UnknownMasterKeyError, match="add that key back after the primary one"):
        open_secret(Connection.objects.get(pk=authorized["basic"].pk), "password")


def _raw_copy(column: str, source: Connection, target: Connection) -> None:
    """What a database-only attacker can do: move a sealed value between rows with plain SQL."""
    table, quoted = db.ops.quote_name(Connection._meta.db_table), db.ops.quote_name(column)
    with db.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {quoted} = (SELECT {quoted} FROM {table} WHERE id = %s) "  # noqa: S608
                       "WHERE id = %s", [source.pk, target.pk])


def test_a_ciphertext_copied_into_another_connection_fails_to_open(authorized):
    source, target = authorized["oauth2"], authorized["header_key"]
    plaintext = open_secret(source, "access_token").reveal()

    _raw_copy("access_token", source, target)
    target = Connection.objects.get(pk=target.pk)
    assert target.access_token == Connection.objects.get(pk=source.pk).access_token

    with pytest.raises(CredentialTamperedError) as caught:
        open_secret(target, "access_token")
    message = str(caught.value)
    assert message == (f"connections.connection row {target.vault_id} field 'access_token' was sealed under another "
                       "data key: copied from another row, or the row's data key was replaced")
    assert plaintext not in message

    # Copying the wrapped data key along does not help: it is bound to its own row too.
    _raw_copy("data_key", source, target)
    with pytest.raises(CredentialTamperedError, match=f"the data key of connections.connection row {target.vault_id} "
                                                      "failed authentication") as caught:
        open_secret(Connection.objects.get(pk=target.pk), "access_token")
    assert plaintext not in str(caught.value)
    # The connection it was copied from is untouched.
    assert open_secret(Connection.objects.get(pk=source.pk), "access_token").reveal() == plaintext


def test_a_ciphertext_moved_to_another_field_of_the_same_row_fails_to_open(authorized):
    connection = authorized["header_key"]
    secret = open_secret(connection, "api_secret").reveal()
    Connection.objects.filter(pk=connection.pk).update(api_key=connection.api_secret)

    with pytest.raises(CredentialTamperedError) as caught:
        open_secret(Connection.objects.get(pk=connection.pk), "api_key")

    assert str(caught.value) == (f"connections.connection row {connection.vault_id} field 'api_key' failed "
                                 "authentication: altered, or copied from another field or row")
    assert secret not in str(caught.value)


def test_one_unreadable_data_key_is_reported_and_the_rest_are_still_rotated(authorized, settings):
    broken = authorized["basic"]
    Connection.objects.filter(pk=broken.pk).update(data_key="not-a-wrapped-key")
    settings.SPLICE_CREDENTIAL_KEYS = f"new:{KeyRing.generate_key()},{settings.SPLICE_CREDENTIAL_KEYS}"

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=r"^1 data key\(s\) could not be opened"):
        call_command("rotate_credential_keys", stdout=out, stderr=err)

    assert out.getvalue().strip() == "Master key new: re-wrapped 5, already current 0, failed 1."
    assert err.getvalue().strip() == f"connections.Connection {broken.pk}: the value is not a wrapped data key " \
                                     "(expected 'v1:<master id>:<key id>:...')"
    for name, connection in authorized.items():
        if name != "basic":
            assert Connection.objects.get(pk=connection.pk).data_key.startswith("v1:new:"), name


# What the `authorized` fixture seals: OAuth 2.0 access + refresh token, OAuth 1.0a access token + token secret,
# a basic password, an API key + secret; the client secrets of the two OAuth profiles; and the PKCE verifier and
# the request-token secret of the two OAuth flows that authorized the OAuth connections.
ALL_SEALED = "Verified 11 sealed value(s) (Connection 7, OAuthProfile 2, OAuthFlow 2)"


def test_verify_opens_every_sealed_value_and_changes_nothing(authorized, settings):
    settings.SPLICE_CREDENTIAL_KEYS = f"new:{KeyRing.generate_key()},{settings.SPLICE_CREDENTIAL_KEYS}"
    rotate()
    before = sealed_columns(Connection), list(Connection.objects.order_by("pk").values_list("data_key", flat=True))

    assert verify() == (f"{ALL_SEALED}: all open.", "")
    assert (sealed_columns(Connection), list(Connection.objects.order_by("pk").values_list("data_key", flat=True))) \
        == before


def test_verify_reports_a_tampered_value_that_rotation_skips_as_current(authorized, settings):
    newest = settings.SPLICE_CREDENTIAL_KEYS.split(",")[0].partition(":")[0]
    connection = authorized["header_key"]
    secret = open_secret(connection, "api_secret").reveal()
    prefix, _, data = connection.api_secret.rpartition(":")
    altered = data[:10] + ("A" if data[10] != "A" else "B") + data[11:]  # a middle character: real bytes change
    Connection.objects.filter(pk=connection.pk).update(api_secret=f"{prefix}:{altered}")

    # Its data key is under the newest key and opens, so rotation does not read the field.
    assert rotate() == f"Master key {newest}: re-wrapped 0, already current 6, failed 0."

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("rotate_credential_keys", "--verify", stdout=out, stderr=err)
    assert str(caught.value).startswith(f"1 sealed value(s) could not be opened: Connection {connection.pk} "
                                        "api_secret. Each reason is above")
    assert out.getvalue().strip() == f"{ALL_SEALED}: 10 open, 1 failed."
    assert err.getvalue().strip() == (f"Connection {connection.pk} api_secret: connections.connection row "
                                      f"{connection.vault_id} field 'api_secret' failed authentication: altered, "
                                      "or copied from another field or row")
    assert secret not in out.getvalue() + err.getvalue() + str(caught.value)


def test_verify_names_each_value_under_a_removed_key_and_exits_non_zero(authorized, settings, capsys):
    old_ring = settings.SPLICE_CREDENTIAL_KEYS
    old_id = old_ring.split(",")[0].partition(":")[0]
    basic = authorized["basic"]
    settings.SPLICE_CREDENTIAL_KEYS = f"new:{KeyRing.generate_key()},{old_ring}"
    rotate()
    # One row is still under the old key (restored from a backup, say) when the old key is dropped.
    Connection.objects.filter(pk=basic.pk).update(data_key=basic.data_key)
    settings.SPLICE_CREDENTIAL_KEYS = settings.SPLICE_CREDENTIAL_KEYS.split(",")[0]

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("rotate_credential_keys", "--verify", stdout=out, stderr=err)

    assert str(caught.value) == (
        f"1 sealed value(s) could not be opened: Connection {basic.pk} password. Each reason is above: add back a "
        "master key named as missing; re-enter or re-authorize a value that was altered. Nothing was changed.")
    assert out.getvalue().strip() == f"{ALL_SEALED}: 10 open, 1 failed."
    assert err.getvalue().strip() == (
        f"Connection {basic.pk} password: the data key of connections.connection row {basic.vault_id} is wrapped "
        f"under master key '{old_id}', which is not in SPLICE_CREDENTIAL_KEYS (it holds new): add that key back "
        "after the primary one")
    assert APIServer.password not in out.getvalue() + err.getvalue() + str(caught.value)
    # From the shell, it is a non-zero exit with the same words.
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "rotate_credential_keys", "--verify"])
    assert exited.value.code == 1
    assert f"Connection {basic.pk} password: the data key" in capsys.readouterr().err

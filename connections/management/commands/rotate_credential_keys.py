"""Re-wrap every data key under the newest master key in SPLICE_CREDENTIAL_KEYS, or (--verify) check that
every sealed value still opens.

Put the new key first (`new:...,old:...`), run this, then drop the old key. Secrets themselves are not
re-encrypted. Each row is re-wrapped in its own short transaction, so the command can be interrupted
and run again: rows already under the newest key are counted as current.

`--verify` changes nothing. It opens every sealed value the way the app reads it, under whichever key,
those already under the newest key included (which rotation skips without reading them), and names each
one that does not open: its row type, row id and field, and why, never the value. Run it before dropping
an old key, and after.
"""

from collections import Counter
from functools import partial

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connections.credentials import CONNECTION_SECRET_FIELDS, get_vault, open_secret, open_secret_setting, row_context
from connections.models import Connection, OAuthFlow, OAuthProfile
from connections.oauth import _REQUEST_SECRET_FIELD, _VERIFIER_FIELD
from connections.vault import VaultError

# OAuthFlow column -> the field name its value is sealed under (with its connection's data key).
_FLOW_FIELDS = {"code_verifier": _VERIFIER_FIELD, "request_token_secret": _REQUEST_SECRET_FIELD}


class Command(BaseCommand):
    help = "Re-wrap every credential data key under the newest master key (the first in SPLICE_CREDENTIAL_KEYS)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--verify", action="store_true",
            help="Change nothing: open every sealed value under any configured key and list those that do not "
                 "open (row type, id and field, never the value); exits non-zero if any does not.",
        )

    def handle(self, *args, **options):
        if options["verify"]:
            return self._verify()
        vault = get_vault()
        totals = {"rewrapped": 0, "current": 0, "failed": 0}
        for model in (Connection, OAuthProfile):
            ids = model.objects.exclude(data_key="").values_list("pk", flat=True).order_by("pk")
            for pk in ids.iterator():
                totals[self._rewrap(model, pk, vault)] += 1
        self.stdout.write(
            f"Master key {vault.keyring.primary_id}: re-wrapped {totals['rewrapped']}, "
            f"already current {totals['current']}, failed {totals['failed']}."
        )
        if totals["failed"]:
            raise CommandError(f"{totals['failed']} data key(s) could not be opened; see the messages above.")

    def _rewrap(self, model, pk, vault) -> str:
        with transaction.atomic():
            row = model.objects.select_for_update().only("pk", "vault_id", "data_key").get(pk=pk)
            try:
                # Inside the try: a malformed data key is one failed row, not the end of the whole run.
                if not vault.needs_rewrap(row.data_key):
                    return "current"
                new = vault.rewrap(row.data_key, row_context(row))
            except VaultError as exc:
                self.stderr.write(f"{model._meta.label} {pk}: {exc}")
                return "failed"
            model.objects.filter(pk=pk).update(data_key=new)
            return "rewrapped"

    def _verify(self) -> None:
        per_model, failed = Counter(), []
        for row, field, open_value in _sealed_values():
            name = f"{type(row).__name__} {row.pk} {field}"
            per_model[type(row).__name__] += 1
            try:
                open_value()
            except VaultError as exc:  # the vault's messages name the row and the key, never the value
                self.stderr.write(f"{name}: {exc}")
                failed.append(name)
        counts = ", ".join(f"{model} {count}" for model, count in per_model.items())
        total = per_model.total()
        result = f"{total - len(failed)} open, {len(failed)} failed" if failed else "all open"
        self.stdout.write(f"Verified {total} sealed value(s) ({counts or 'none stored'}): {result}.")
        if failed:
            raise CommandError(
                f"{len(failed)} sealed value(s) could not be opened: {', '.join(failed)}. Each reason is above: "
                "add back a master key named as missing; re-enter or re-authorize a value that was altered. "
                "Nothing was changed."
            )


def _sealed_values():
    """(row, field, open) for every sealed value stored; `open()` reads it the way the app does."""
    rows = Connection.objects.only("pk", "vault_id", "data_key", "secret_settings", *CONNECTION_SECRET_FIELDS)
    for row in rows.order_by("pk").iterator():
        for field in CONNECTION_SECRET_FIELDS:
            if getattr(row, field):
                yield row, field, partial(open_secret, row, field)
        for name, sealed in (row.secret_settings or {}).items():
            if sealed:
                yield row, f"secret_settings.{name}", partial(open_secret_setting, row, name)
    for row in OAuthProfile.objects.exclude(client_secret="").order_by("pk").iterator():
        yield row, "client_secret", partial(open_secret, row, "client_secret")
    flows = OAuthFlow.objects.select_related("connection").only(
        "pk", *_FLOW_FIELDS, "connection__vault_id", "connection__data_key")
    for flow in flows.order_by("pk").iterator():
        for field, sealed_as in _FLOW_FIELDS.items():
            if sealed := getattr(flow, field):
                yield flow, field, partial(get_vault().open, sealed, wrapped_key=flow.connection.data_key,
                                           context=row_context(flow.connection), field=sealed_as)

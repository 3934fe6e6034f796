"""Re-wrap every data key under the newest master key in SPLICE_CREDENTIAL_KEYS.

Put the new key first (`new:...,old:...`), run this, then drop the old key. Secrets themselves are not
re-encrypted. Each row is re-wrapped in its own short transaction, so the command can be interrupted
and run again: rows already under the newest key are counted as current.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connections.credentials import get_vault, row_context
from connections.models import Connection, OAuthProfile
from connections.vault import VaultError


class Command(BaseCommand):
    help = "Re-wrap every credential data key under the newest master key (the first in SPLICE_CREDENTIAL_KEYS)."

    def handle(self, *args, **options):
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

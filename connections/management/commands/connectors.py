"""``manage.py connectors``: list the connector catalog, or validate spec files before shipping them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.catalog import BUILTIN_SPECS_DIR, SpecError, build_registry
from connections.catalog.cli import connectors_table, validate_paths


class Command(BaseCommand):
    help = "List the connector catalog, or validate connector spec files and folders."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{list,validate}")
        actions.add_parser("list", help="Key, name, auth methods, secondary, trigger and action counts.")
        validate = actions.add_parser("validate", help="Check spec files; print every problem.")
        validate.add_argument("paths", nargs="+", metavar="PATH", help="Spec files or folders of *.yaml")

    def handle(self, *args: Any, action: str, paths: list[str] | None = None, **options: Any) -> None:
        if action == "list":
            try:
                registry = build_registry(getattr(settings, "SPLICE_CONNECTOR_DIRS", []))
            except SpecError as exc:
                raise CommandError(f"the connector catalog does not load:\n{exc}") from None
            self.stdout.write(connectors_table(registry))
            return
        if validate_paths(paths or [], out=self.stdout, builtin_dir=BUILTIN_SPECS_DIR):
            raise CommandError("invalid connector specs (see above)")

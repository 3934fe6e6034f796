"""The home page's "Try the demo" card: while the demo is loaded (SPLICE_DEMO_APP on and `load_demo` made its
connection), where to try it and, for an admin only, the demo credentials `load_demo` printed in the terminal.

Demo CRM's account is shown with its first password and API key only: new ones an admin made on the Demo CRM page
were shown there once, as an app shows a new key, and a page anyone can reload does not show them again."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from connections.models import Connection
from connections.selectors import connections_for_user
from demo.services import DEMO_CONNECTION, DEMO_USERS
from demo.views import DEMO_ACCOUNT, demo_credentials

__all__ = ["DemoCard", "demo_card_for_user"]


@dataclass(frozen=True)
class DemoCard:
    connection_url: str  # the demo connection's page, or (someone who cannot see it) the form that makes one
    connection_label: str
    app_page_url: str
    # For admins only, else empty: (role, email, first password) of each demo account, and Demo CRM's first account.
    accounts: tuple[tuple[str, str, str], ...] = ()
    app_account: dict[str, str] | None = None
    app_account_changed: bool = False  # its password and API key were changed since: the ones shown no longer work


def demo_card_for_user(user) -> DemoCard | None:
    """The card, or None when the demo is not loaded. Only a staff user (the demo's admin) reads credentials."""
    if not settings.SPLICE_DEMO_APP or not Connection.objects.filter(name=DEMO_CONNECTION).exists():
        return None
    connection = connections_for_user(user).filter(name=DEMO_CONNECTION).only("pk").first()
    if connection is not None:
        url, label = connection.get_absolute_url(), f"Open “{DEMO_CONNECTION}”"
    else:
        url, label = reverse("connection_create_app", args=["demo_crm"]), "Create a Demo CRM connection"
    if not user.is_staff:
        return DemoCard(connection_url=url, connection_label=label, app_page_url=reverse("demo_crm_account"))
    return DemoCard(
        connection_url=url, connection_label=label, app_page_url=reverse("demo_crm_account"),
        accounts=tuple((role, email, password) for email, password, role, _ in DEMO_USERS),
        app_account=dict(DEMO_ACCOUNT), app_account_changed=demo_credentials() != DEMO_ACCOUNT,
    )

"""Server time and query count of Django admin's pages on the demo data (`load_demo`, as `make run` loads it).

    .venv/bin/python benchmarks/admin_pages.py

Signs in as the demo admin through Django's test client (the whole request: middleware, admin, queries,
template) and measures the median time of each admin page an admin meets first: the index, users, roles, a
role's page (its privileges), projects, API tokens, connections, OAuth profiles, custom connectors, recipes,
chat accounts, API writes and periodic tasks. Target: each under 200 ms. Ends with one line per page:

    page=<name> median_ms=<x> queries=<n>
"""

from __future__ import annotations

from common import ThrowawayDatabase, page_median_and_queries, setup_django

PAGES = [
    ("index", "admin:index", []),
    ("users", "admin:accounts_user_changelist", []),
    ("roles", "admin:accounts_role_changelist", []),
    ("role", "admin:accounts_role_change", ["role"]),
    ("projects", "admin:accounts_project_changelist", []),
    ("api_tokens", "admin:accounts_apitoken_changelist", []),
    ("connections", "admin:connections_connection_changelist", []),
    ("oauth_profiles", "admin:connections_oauthprofile_changelist", []),
    ("custom_connectors", "admin:connections_customconnector_changelist", []),
    ("recipes", "admin:recipes_recipe_changelist", []),
    ("chat_accounts", "admin:recipes_chatuser_changelist", []),
    ("api_writes", "admin:api_apiwrite_changelist", []),
    ("periodic_tasks", "admin:django_celery_beat_periodictask_changelist", []),
]


def main() -> int:
    database = ThrowawayDatabase()
    try:
        setup_django()
        from django.conf import settings
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse

        from accounts.models import Role, User
        from demo.services import DEMO_USERS

        settings.ALLOWED_HOSTS = ["testserver"]
        call_command("load_demo", verbosity=0)
        database.analyze()
        admin_email = next(email for email, *_ in DEMO_USERS if email.startswith("admin"))
        client = Client()
        client.force_login(User.objects.get(email=admin_email))
        role = Role.objects.order_by("pk").first()
        print(f"demo data ({database.label}), signed in as {admin_email}")
        lines = []
        for name, url_name, args in PAGES:
            ms, queries = page_median_and_queries(client, reverse(url_name, args=[role.pk] if args else []))
            lines.append(f"page={name} median_ms={ms:.1f} queries={queries}")
        print("\n".join(lines))
        return 0
    finally:
        database.drop()


if __name__ == "__main__":
    raise SystemExit(main())

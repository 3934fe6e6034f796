"""Server time and query count of the connections pages with many rows.

    .venv/bin/python benchmarks/connections_page.py [--connections 10000] [--projects 50] [--recipes 2000]

Builds N connections across P projects (and R recipes using them), then measures through Django's test
client (the whole request: middleware, access checks, queries, template) the median time of the
connections page, a filtered page and one connection's page, with each page's query count. Target: under
50 ms median on this machine, queries constant in the number of rows. Ends with one line per page:

    page=<name> rows=<n> median_ms=<x> queries=<n>
"""

from __future__ import annotations

import argparse

from common import ThrowawayDatabase, median_ms, setup_django


def build(connections: int, projects: int, recipes: int):
    from django.contrib.auth.models import Group

    from accounts import services as account_services
    from accounts.models import User
    from connections.models import Connection
    from recipes.models import ConnectionBinding, Recipe, Step

    user = User.objects.create_user(email="bench@example.com", password="bench-pass-123")
    user.groups.add(Group.objects.get(name="Builder"))
    project_rows = [account_services.project_create(name=f"Project {p:03}", acting_user=user)
                    for p in range(projects)]
    statuses = [("connected", ""), ("connected", ""), ("error", "credentials_invalid"), ("error", "unreachable")]
    Connection.objects.bulk_create([
        Connection(name=f"Connection {n:05}", connector_key="loopback", auth_method="basic",
                   project=project_rows[n % projects], status=statuses[n % 4][0], error_reason=statuses[n % 4][1],
                   identity=f"user{n}@example.com", created_by=user)
        for n in range(connections)
    ], batch_size=2000)
    connection_ids = list(Connection.objects.values_list("pk", flat=True).order_by("pk"))
    recipe_rows = Recipe.objects.bulk_create([
        Recipe(name=f"Recipe {r:05}", project=project_rows[r % projects], running=r % 2 == 0, created_by=user)
        for r in range(recipes)
    ], batch_size=2000)
    Step.objects.bulk_create([Step(recipe=r, position=1, is_trigger=True, connector_key="loopback",
                                   operation_key="new_item") for r in recipe_rows], batch_size=2000)
    ConnectionBinding.objects.bulk_create([
        ConnectionBinding(recipe=r, connector_key="loopback", connection_id=connection_ids[i % len(connection_ids)])
        for i, r in enumerate(recipe_rows)
    ], batch_size=2000)
    return user, connection_ids[0]


def measure(client, url: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    ms = median_ms(get)
    with CaptureQueriesContext(connection) as queries:
        get()
    return ms, len(queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--recipes", type=int, default=2_000)
    args = parser.parse_args()
    database = ThrowawayDatabase()
    try:
        setup_django()
        from django.conf import settings
        from django.test import Client

        settings.ALLOWED_HOSTS = ["testserver"]  # the test client's host; no test instrumentation
        user, first = build(args.connections, args.projects, args.recipes)
        database.analyze()
        client = Client()
        client.force_login(user)
        print(f"{args.connections} connections in {args.projects} projects, {args.recipes} recipes ({database.label})")
        pages = {
            "connections": "/connections/",
            "connections_filtered": "/connections/?status=attention&q=Connection%200&sort=checked",
            "connection": f"/connections/{first}/",
        }
        lines = []
        for name, url in pages.items():
            ms, queries = measure(client, url)
            lines.append(f"page={name} rows={args.connections} median_ms={ms:.1f} queries={queries}")
        print("\n".join(lines))
        return 0
    finally:
        database.drop()


if __name__ == "__main__":
    raise SystemExit(main())

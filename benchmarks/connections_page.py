"""Server time and query count of the connections pages with many rows.

    .venv/bin/python benchmarks/connections_page.py [--connections 10000] [--projects 50] [--recipes 2000]
        [--children-per-parent 0]

Builds N connections across P projects (and R recipes using them), then measures through Django's test
client (the whole request: middleware, access checks, queries, template) the median time of the
connections page, a filtered page and one connection's page, with each page's query count. With
--children-per-parent K, N/(K+1) of the N are shared (parent) connections and the rest are runtime user
connections, K per parent, owned by one person in 10 000 people each (runtime user connections multiply
connections: `--connections 100000 --children-per-parent 4`); it then also measures a person's "My
connections" page and a child's page. Target: under 50 ms median on this machine, queries constant in the
number of rows. Ends with one line per page:

    page=<name> rows=<n> median_ms=<x> queries=<n>
"""

from __future__ import annotations

import argparse

from common import ThrowawayDatabase, page_median_and_queries, setup_django

PEOPLE = 10_000


def build(connections: int, projects: int, recipes: int, children_per_parent: int = 0):
    from django.contrib.auth.hashers import make_password
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
    parents = connections // (children_per_parent + 1)
    Connection.objects.bulk_create([
        Connection(name=f"Connection {n:05}", connector_key="loopback", auth_method="basic",
                   project=project_rows[n % projects], status=statuses[n % 4][0], error_reason=statuses[n % 4][1],
                   identity=f"user{n}@example.com", created_by=user)
        for n in range(parents)
    ], batch_size=2000)
    connection_ids = list(Connection.objects.values_list("pk", flat=True).order_by("pk"))
    person = None
    if children_per_parent:
        unusable = make_password(None)
        User.objects.bulk_create([User(email=f"person{p:05}@example.com", password=unusable)
                                  for p in range(PEOPLE)], batch_size=2000)
        people = list(User.objects.filter(email__startswith="person").order_by("pk").values_list("pk", flat=True))
        parent_rows = list(Connection.objects.filter(pk__in=connection_ids).order_by("pk"))
        # Each parent's K children belong to K different people; every person ends up with about the same number.
        Connection.objects.bulk_create([
            Connection(name=f"{parent.name} (person {n % PEOPLE})", connector_key="loopback", auth_method="basic",
                       project_id=parent.project_id, environment=parent.environment, parent=parent,
                       owner_id=people[n % PEOPLE], status=statuses[n % 4][0], error_reason=statuses[n % 4][1],
                       identity=f"person{n % PEOPLE}@example.com", created_by_id=people[n % PEOPLE])
            for i, parent in enumerate(parent_rows)
            for n in range(i * children_per_parent, (i + 1) * children_per_parent)
        ][: connections - parents], batch_size=2000)
        person = User.objects.get(pk=people[0])
        person.groups.add(Group.objects.get(name="Operator"))  # a sales rep: runs recipes, builds none
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
    return user, connection_ids[0], person


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--recipes", type=int, default=2_000)
    parser.add_argument("--children-per-parent", type=int, default=0,
                        help="runtime user connections per shared one, among the --connections (e.g. 4)")
    args = parser.parse_args()
    database = ThrowawayDatabase()
    try:
        setup_django()
        from django.conf import settings
        from django.test import Client

        settings.ALLOWED_HOSTS = ["testserver"]  # the test client's host; no test instrumentation
        from django.urls import reverse

        from connections.models import Connection

        user, first, person = build(args.connections, args.projects, args.recipes, args.children_per_parent)
        database.analyze()
        client = Client()
        client.force_login(user)
        children = Connection.objects.filter(parent__isnull=False).count()
        print(f"{args.connections} connections ({children} of them runtime user connections) in {args.projects} "
              f"projects, {args.recipes} recipes ({database.label})")
        pages = {
            "connections": (client, "/connections/"),
            "connections_filtered": (client, "/connections/?status=attention&q=Connection%200&sort=checked"),
            "connection": (client, f"/connections/{first}/"),
        }
        if person is not None:
            own = Client()
            own.force_login(person)
            child = Connection.objects.filter(owner=person).order_by("pk").first()
            pages |= {"my_connections": (own, reverse("my_connections")),
                      "child_connection": (own, f"/connections/{child.pk}/")}
        lines = []
        for name, (as_client, url) in pages.items():
            ms, queries = page_median_and_queries(as_client, url)
            lines.append(f"page={name} rows={args.connections} median_ms={ms:.1f} queries={queries}")
        print("\n".join(lines))
        return 0
    finally:
        database.drop()


if __name__ == "__main__":
    raise SystemExit(main())

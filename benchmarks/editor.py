"""Server time and query count of the recipe editor, and of its design-time error computation.

    .venv/bin/python benchmarks/editor.py [--steps 50] [--apps 10] [--recipes 2000] [--connections 10000]

Builds a recipe of S steps over A apps (each bound to a connection, every step's inputs using data pills),
among R other recipes and C connections, then measures through Django's test client the median time of
the editor page, and the median time of `design_time_errors` alone, with their query counts (which must
not grow with the number of steps). Ends with one line per measurement:

    page=<name> steps=<n> median_ms=<x> queries=<n>
"""

from __future__ import annotations

import argparse

from common import ThrowawayDatabase, median_ms, setup_django


def build(steps: int, apps: int, recipes: int, connections: int):
    from django.contrib.auth.models import Group

    from accounts import services as account_services
    from accounts.models import User
    from connections.models import Connection
    from recipes.models import ConnectionBinding, Recipe, Step

    user = User.objects.create_user(email="bench@example.com", password="bench-pass-123")
    user.groups.add(Group.objects.get(name="Builder"))
    project = account_services.project_create(name="Bench", acting_user=user)
    # A apps: the loopback connector's primary and secondary slots, and built-in apps whose
    # operations need no required input beyond what we fill.
    app_keys = ["loopback", "loopback_secondary", "gmail", "slack", "github", "stripe", "hubspot", "trello",
                "salesforce", "salesforce_secondary", "jira", "zendesk"][:apps]
    Connection.objects.bulk_create([
        Connection(name=f"Connection {n:05}", connector_key="loopback", auth_method="basic", project=project,
                   status="connected", created_by=user) for n in range(connections)
    ], batch_size=2000)
    others = Recipe.objects.bulk_create([Recipe(name=f"Other {r:05}", project=project) for r in range(recipes)],
                                        batch_size=2000)
    Step.objects.bulk_create([Step(recipe=r, position=1, is_trigger=True, connector_key="loopback",
                                   operation_key="new_item") for r in others], batch_size=2000)

    from connections.catalog.app_slot import AppSlot

    recipe = Recipe.objects.create(name="Big recipe", project=project, created_by=user)
    rows = []
    for position in range(1, steps + 1):
        app = AppSlot.from_catalog_key(app_keys[(position - 1) % len(app_keys)])
        operation = app.spec.triggers[0] if position == 1 else app.spec.actions[0]
        inputs = {f.name: "{{trigger.id}}" if position > 1 else "" for f in operation.input}
        rows.append(Step(recipe=recipe, position=position, is_trigger=position == 1, **app.lookup(),
                         operation_key=operation.key, inputs=inputs))
    Step.objects.bulk_create(rows)
    for key in app_keys:
        app = AppSlot.from_catalog_key(key)
        connection = Connection.objects.create(name=f"{app.label} bench", **app.lookup(),
                                               auth_method=app.spec.auth[0].key, project=project, status="connected",
                                               created_by=user)
        ConnectionBinding.objects.create(recipe=recipe, **app.lookup(), connection=connection)
    return user, recipe


def counted(fn) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--apps", type=int, default=10)
    parser.add_argument("--recipes", type=int, default=2_000)
    parser.add_argument("--connections", type=int, default=10_000)
    args = parser.parse_args()
    database = ThrowawayDatabase()
    try:
        setup_django()
        from django.conf import settings
        from django.test import Client

        from recipes.design import design_time_errors
        from recipes.models import Recipe
        from recipes.selectors import with_editor_data

        settings.ALLOWED_HOSTS = ["testserver"]
        user, recipe = build(args.steps, args.apps, args.recipes, args.connections)
        database.analyze()
        client = Client()
        client.force_login(user)
        url = recipe.get_absolute_url()

        def editor():
            assert client.get(url).status_code == 200

        def errors():
            loaded = with_editor_data(Recipe.objects.filter(pk=recipe.pk)).get()
            design_time_errors(loaded, steps=loaded.steps.all(), bindings=loaded.bindings.all())

        print(f"A recipe of {args.steps} steps over {args.apps} apps, among {args.recipes} recipes and "
              f"{args.connections} connections ({database.label})")
        print(f"page=editor steps={args.steps} median_ms={median_ms(editor):.1f} queries={counted(editor)}")
        print(f"page=design_time_errors steps={args.steps} median_ms={median_ms(errors):.1f} "
              f"queries={counted(errors)}")
        return 0
    finally:
        database.drop()


if __name__ == "__main__":
    raise SystemExit(main())

"""The connections the editor offers for each app of a recipe: usable ones only, capped per app, in one query."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from connections.catalog.app_slot import SECONDARY, AppSlot
from connections.models import Connection
from recipes.selectors import ConnectionChoice, candidate_connections_for_user

pytestmark = pytest.mark.django_db

APPS = [AppSlot("gmail"), AppSlot("salesforce"), AppSlot("salesforce", SECONDARY), AppSlot("github")]


def _names(choices: list[ConnectionChoice]) -> list[str]:
    return [c.name for c in choices]


def test_each_app_gets_its_own_first_connections_healthy_ones_first(make_connection, builder):
    for name in ["Gmail C", "Gmail A", "Gmail D", "Gmail B"]:
        make_connection("gmail", name)
    make_connection("gmail", "Gmail 0 broken", status="error")
    make_connection("salesforce", "Production")
    make_connection("salesforce", "Sandbox", slot="secondary")

    candidate_connections_for_user(builder, APPS[:1])  # guardian reads the user's groups once per request
    with CaptureQueriesContext(db) as queries:
        candidates = candidate_connections_for_user(builder, APPS, per_app=3)

    assert len(queries) == 1, "one query whatever the number of apps"
    assert _names(candidates[AppSlot("gmail")]) == ["Gmail A", "Gmail B", "Gmail C"]
    assert _names(candidates[AppSlot("salesforce")]) == ["Production"]
    assert _names(candidates[AppSlot("salesforce", SECONDARY)]) == ["Sandbox"]
    assert candidates[AppSlot("github")] == []
    first = candidates[AppSlot("gmail")][0]
    assert (first.project_name, first.status_label) == ("Sales operations", "Connected")


def test_an_app_with_only_broken_connections_still_offers_them(make_connection, builder):
    make_connection("gmail", "Broken", status="error")
    assert _names(candidate_connections_for_user(builder, APPS)[AppSlot("gmail")]) == ["Broken"]


def test_only_connections_the_user_may_use(make_connection, make_user, builder, project):
    other = make_user("Builder")
    elsewhere = account_services.project_create(name="Not shared", acting_user=other)
    make_connection("gmail", "Shared")
    make_connection("gmail", "In a project the builder cannot use", project_=elsewhere)
    Connection.objects.create(name="Someone's personal Gmail", connector_key="gmail", project=project, owner=other,
                              auth_method="oauth2", status="connected")

    assert _names(candidate_connections_for_user(builder, APPS)[AppSlot("gmail")]) == ["Shared"]


def test_no_apps_no_query(builder):
    with CaptureQueriesContext(db) as queries:
        assert candidate_connections_for_user(builder, []) == {}
    assert len(queries) == 0


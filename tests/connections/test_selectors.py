"""Reads behind the connections page: the expiring-credentials notice (two sorted, cut lists merged in Python
must equal one sort of everything) and which connections a user sees."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections.models import Connection, OAuthProfile
from connections.selectors import connections_expiring, connections_for_user

pytestmark = pytest.mark.django_db

Status = Connection.Status


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def make(project, builder):
    """make(name, **fields) -> a connection row in the project (not authorized: no HTTP here)."""

    def create(name: str, **fields) -> Connection:
        fields = {"connector_key": "gmail", "auth_method": "oauth2", "status": Status.CONNECTED} | fields
        return Connection.objects.create(name=name, project=project, created_by=builder, **fields)

    return create


def _profile(key: str, name: str, expires, *, default: bool = False) -> OAuthProfile:
    return OAuthProfile.objects.create(name=name, connector_key=key, client_id=f"{key}-client", is_default=default,
                                       client_secret_expires_at=expires)


def _listed(items) -> list[tuple[str, str, object]]:
    return [(item.connection.name, item.what, item.expires_at) for item in items]


def test_each_connection_is_listed_once_with_whichever_expires_first(make, now):
    day = timedelta(days=1)
    own = _profile("salesforce", "Team app", now + 2 * day)
    _profile("gmail", "Splice for Gmail", now + 3 * day, default=True)
    calm = _profile("gmail", "Quiet app", now + 30 * day)
    make("Refresh first", refresh_token_expires_at=now + day)
    make("Own secret first", connector_key="salesforce", oauth_profile=own, refresh_token_expires_at=now + 5 * day)
    make("Default secret", access_token="sealed")
    make("Never authorized with OAuth")  # no access token: the app's default profile is not its own
    make("Own profile is fine", oauth_profile=calm, access_token="sealed")
    make("Disconnected", status=Status.DISCONNECTED, refresh_token_expires_at=now + day)
    make("Beyond the warning", refresh_token_expires_at=now + 10 * day)

    expected = [("Refresh first", "refresh token", now + day),
                ("Own secret first", "OAuth client secret", now + 2 * day),
                ("Default secret", "OAuth client secret", now + 3 * day)]
    assert _listed(connections_expiring(Connection.objects.all(), now=now)) == expected
    assert _listed(connections_expiring(Connection.objects.all(), now=now, limit=2)) == expected[:2]
    assert _listed(connections_expiring(Connection.objects.all(), now=now, limit=None)) == expected


def test_cutting_both_lists_keeps_the_soonest_first(make, now):
    """Refresh tokens and secrets interleave, and some connections are in both lists: every limit must give
    the first items of the full order."""
    minute = timedelta(minutes=1)
    expected = []
    for n in range(6):
        refresh, secret = now + (180 * n + 60) * minute, now + (180 * n + 120) * minute
        make(f"Refresh {n}", refresh_token_expires_at=refresh)
        expected.append((f"Refresh {n}", "refresh token", refresh))
        # Its secret expires first for the even ones, its refresh token for the odd ones.
        both = now + (180 * n + (180 if n % 2 == 0 else 90)) * minute
        make(f"Both {n}", connector_key="salesforce", oauth_profile=_profile("salesforce", f"App {n}", secret),
             refresh_token_expires_at=both)
        expected.append((f"Both {n}", "OAuth client secret", secret) if n % 2 == 0
                        else (f"Both {n}", "refresh token", both))
    expected.sort(key=lambda item: item[2])
    for limit in [*range(1, 13), None]:
        assert _listed(connections_expiring(Connection.objects.all(), now=now, limit=limit)) == expected[:limit]


@pytest.mark.parametrize("count", [3, 30])
def test_an_expiring_client_secret_costs_one_more_query_whatever_the_rows(make, now, count):
    _profile("gmail", "Splice for Gmail", now + timedelta(days=2), default=True)
    for n in range(count):
        make(f"Gmail {n:02}", access_token="sealed", refresh_token_expires_at=now + timedelta(days=1))
    with CaptureQueriesContext(db) as queries:
        items = connections_expiring(Connection.objects.all(), now=now)
    assert len(items) == min(count, 20)
    assert len(queries) == 3, [q["sql"][:100] for q in queries]


def test_personal_connections_are_their_owners_alone(make, make_user, builder, project):
    teammate = make_user("Builder")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=teammate)
    shared = make("Team Gmail")
    make("Builder's own Gmail", owner=builder, parent=shared)
    make("Teammate's own Gmail", owner=teammate, parent=shared)

    def names(user, **kwargs):
        return sorted(connections_for_user(user, **kwargs).values_list("name", flat=True))

    assert names(builder) == ["Builder's own Gmail", "Team Gmail"]
    assert names(teammate) == ["Team Gmail", "Teammate's own Gmail"]
    assert names(builder, projects=[project]) == names(builder)
    assert names(builder, projects=[]) == []

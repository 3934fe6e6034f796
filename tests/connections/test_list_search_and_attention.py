"""The connections list's search pages (their total read with the page, in one statement) and the navigation's
"N connections need attention", with runtime user connections and pending wizard connections beside the shared
ones."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections import views
from connections.models import Connection

pytestmark = pytest.mark.django_db

Status = Connection.Status
ROW = re.compile(r'<td data-label="Connection"><a href="/connections/(\d+)/">')


def _make(project, name: str, status=Status.CONNECTED, **fields) -> Connection:
    reason = Connection.ErrorReason.CREDENTIALS_INVALID if status == Status.ERROR else ""
    return Connection.objects.create(name=name, connector_key="loopback", auth_method="basic", project=project,
                                     status=status, error_reason=reason, **fields)


def _attention(text: str) -> int:
    found = re.search(r'<span class="nav-badge">(\d+)</span> connections? needs? attention', text)
    return int(found.group(1)) if found else 0


@pytest.fixture
def searchable(project, builder, make_user, monkeypatch):
    """11 shared connections named "Billing n" among others, a person's own "Billing" child and someone else's."""
    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    billing = [_make(project, f"Billing {n:02}", Status.ERROR if n % 2 else Status.CONNECTED) for n in range(11)]
    for n in range(5):
        _make(project, f"Payroll {n}")
    _make(project, "Billing (Ada's own)", owner=builder, parent=billing[0])
    _make(project, "Billing (someone else's)", owner=make_user("Builder"), parent=billing[0])
    return billing


def test_every_page_of_a_search_lists_each_match_once_with_the_total(client_for, builder, searchable):
    client = client_for(builder)
    listed = []
    for number in (1, 2, 3):
        text = client.get(reverse("connection_list"), {"q": "billing", "page": number}).text
        assert f"Page {number} of 3 (11 in all)" in text
        listed += [int(pk) for pk in ROW.findall(text)]
    assert listed == [c.pk for c in searchable]

    with_own = [client.get(reverse("connection_list"), {"q": "billing", "personal": "1", "page": n}).text
                for n in (1, 2, 3)]
    assert "Page 1 of 3 (12 in all)" in with_own[0] and "Billing (Ada&#x27;s own)" in with_own[0]
    assert not any("someone else" in text for text in with_own)

    narrowed = client.get(reverse("connection_list"), {"q": "BILLING 0", "status": "attention"}).text
    assert "(5 in all)" in narrowed and "Billing 01" in narrowed and "Billing 00" not in narrowed


@pytest.mark.parametrize("number", ["4", "99", "9223372036854775807", "99999999999999999999", "0", "-2"])
def test_a_search_page_past_either_end_shows_the_last_page_as_every_list_does(client_for, builder, searchable, number):
    response = client_for(builder).get(reverse("connection_list"), {"q": "billing", "page": number})
    assert response.status_code == 200
    assert "Page 3 of 3 (11 in all)" in response.text
    assert [int(pk) for pk in ROW.findall(response.text)] == [c.pk for c in searchable[8:]]


@pytest.mark.parametrize("number", ["", "two", "²", "1.5"])
def test_a_search_page_that_is_no_number_shows_the_first(client_for, builder, searchable, number):
    text = client_for(builder).get(reverse("connection_list"), {"q": "billing", "page": number}).text
    assert "Page 1 of 3 (11 in all)" in text


def test_a_search_that_matches_nothing_says_so(client_for, builder, searchable):
    text = client_for(builder).get(reverse("connection_list"), {"q": "nothing like it", "page": "2"}).text
    assert "No connection matches these filters." in text


def test_a_search_page_and_its_total_are_read_in_one_statement(client_for, builder, searchable):
    """Counting the matches apart would read every one of them twice; without a search an index counts them."""
    client = client_for(builder)
    client.get(reverse("connection_list"))

    def counts_apart(params) -> bool:
        with CaptureQueriesContext(db) as queries:
            assert client.get(reverse("connection_list"), params).status_code == 200
        return any(q["sql"].startswith('SELECT COUNT(*) AS "__count" FROM "connections_connection"')
                   for q in queries.captured_queries)

    assert not counts_apart({"q": "billing", "page": "2"})
    assert counts_apart({"page": "2"})


def test_the_navigation_counts_shared_connections_in_error_and_the_persons_own(client_for, builder, project,
                                                                              make_user):
    other_project = account_services.project_create(name="Elsewhere", acting_user=make_user("Admin"))
    shared = _make(project, "Team CRM", Status.ERROR)
    _make(project, "Team mail", Status.CONNECTED)
    _make(other_project, "Their CRM", Status.ERROR)  # a project the builder cannot see
    _make(project, "Half-made", Status.ERROR, pending_until=timezone.now() + timedelta(hours=1))
    _make(project, "Someone's own CRM", Status.ERROR, owner=make_user("Builder"), parent=shared)
    client = client_for(builder)
    assert _attention(client.get(reverse("home")).text) == 1

    # The builder's own broken child counts, and the badge's link lists it beside the shared one.
    _make(project, "Ada's own CRM", Status.ERROR, owner=builder, parent=shared)
    home = client.get(reverse("home")).text
    assert _attention(home) == 2
    link = re.search(r'<a class="nav-attention" href="([^"]+)">', home).group(1).replace("&amp;", "&")
    assert sorted(re.findall(r'<td data-label="Connection"><a href="/connections/\d+/">([^<]+)</a>',
                             client.get(link).text)) == ["Ada&#x27;s own CRM", "Team CRM"]

    # One in a project they cannot see is not on that list, so not in the count (My connections shows it).
    their_parent = _make(other_project, "Their mail", Status.CONNECTED)
    _make(other_project, "Ada's own mail", Status.ERROR, owner=builder, parent=their_parent)
    assert _attention(client.get(reverse("connection_list")).text) == 2
    assert "Ada&#x27;s own mail" in client.get(reverse("my_connections")).text


def test_the_navigation_count_follows_project_access(client_for, builder, project, make_user):
    viewer = make_user("Viewer")
    _make(project, "Team CRM", Status.ERROR)
    client = client_for(viewer)
    assert _attention(client.get(reverse("home")).text) == 0
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.VIEW, user=viewer)
    assert _attention(client.get(reverse("home")).text) == 1


def test_the_badge_stops_counting_at_99_plus(client_for, builder, project):
    """The badge is on every page: past 99 it says "99+", and the count stops there however many are broken."""
    Connection.objects.bulk_create([
        Connection(name=f"Broken {n:03}", connector_key="loopback", auth_method="basic", project=project,
                   status=Status.ERROR, error_reason=Connection.ErrorReason.UNREACHABLE) for n in range(101)])
    client = client_for(builder)
    page = client.get(reverse("project_list")).text
    assert '<span class="nav-badge">99+</span> connections need attention' in page
    Connection.objects.filter(name__in=["Broken 000", "Broken 001"]).update(status=Status.CONNECTED)
    assert '<span class="nav-badge">99</span> connections need attention' in client.get(reverse("project_list")).text

"""Health in the pages, in this process (the worker-driven flows are in test_health.py): who may see and do
what, the navigation badge, early warnings, history, the host semaphore, pruning and the beat schedule. What
people are told, and when: tests/accounts/test_notifications.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections import health, services
from connections.models import (
    Connection,
    ConnectionCheck,
    ConnectionHealth,
    HealthSweep,
    OAuthProfile,
)
from connections.problems import RECOMMENDATIONS, Kind, Verdict
from connections.selectors import nav_counts_for_user
from connections.status import CheckOutcome
from connections.tasks import health_check

pytestmark = pytest.mark.django_db

Status, Reason = Connection.Status, Connection.ErrorReason


@pytest.fixture
def basic_connection(credential_connection):
    connection, outcome = credential_connection("basic")
    assert outcome.ok, outcome.message
    return connection


@pytest.fixture
def enqueued(monkeypatch):
    """Check tasks the code under test enqueues (captured, not sent): [(args, options)]."""
    sent = []
    monkeypatch.setattr(health_check, "apply_async", lambda args=None, **options: sent.append((args, options)))
    return sent


def record(connection, kind: Kind | None = None, **verdict):
    """Apply a check outcome through the real service (no HTTP): None means it worked."""
    if kind is None:
        outcome = CheckOutcome(ok=True, identity="ada@example.com", status_code=200)
    else:
        outcome = CheckOutcome(ok=False, verdict=Verdict(kind, verdict.pop("message", f"{kind} happened"),
                                                        recommendations=RECOMMENDATIONS[kind], **verdict))
    return services.connection_record_outcome(connection=connection, outcome=outcome)


# --- the permission matrix -------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client, project):
    for url, method in [(reverse("connection_health"), "get"),
                        (reverse("connection_check_all", args=[project.pk]), "post")]:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login")), url


def test_without_the_privilege_is_403(client_for, make_user, project, builder, viewer):
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=viewer)
    nobody = make_user(None)
    assert client_for(nobody).get(reverse("connection_health")).status_code == 403
    # Viewers may see connections but not test them.
    assert client_for(viewer).post(reverse("connection_check_all", args=[project.pk])).status_code == 403


def test_without_project_access_check_all_is_404(client_for, make_user, project, basic_connection, enqueued):
    outsider = make_user("Admin")
    response = client_for(outsider).post(reverse("connection_check_all", args=[project.pk]))
    assert response.status_code == 404
    assert enqueued == []


def test_view_access_is_not_enough_to_check_all(client_for, make_user, project, builder, enqueued):
    operator = make_user("Operator")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.VIEW, user=operator)
    assert client_for(operator).post(reverse("connection_check_all", args=[project.pk])).status_code == 404


def test_allowed(client_for, builder, project, basic_connection, enqueued, django_capture_on_commit_callbacks):
    client = client_for(builder)
    assert client.get(reverse("connection_health")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("connection_check_all", args=[project.pk]), follow=True)
    assert response.status_code == 200
    assert "Checking 1 connection in the background" in response.text
    # The same task as the sweep, with ids only: the connection and who asked.
    assert enqueued == [([[basic_connection.pk], None, builder.pk], enqueued[0][1])]


# --- surfacing ----------------------------------------------------------------------------------


def test_nav_badge_counts_connections_needing_attention_in_one_query(client_for, builder, make_user,
                                                                    basic_connection, credential_connection):
    second, _ = credential_connection("bearer", {"api_key": "test-api-key-0123456789"})
    record(basic_connection, Kind.CREDENTIALS_INVALID)
    record(second, Kind.INSUFFICIENT_PERMISSIONS)
    nav_counts_for_user(builder)  # privileges and content types: loaded once per request or process anyway
    with CaptureQueriesContext(db) as queries:
        counts = nav_counts_for_user(builder)
    assert counts == {"attention": 2}
    assert len(queries) == 1, [q["sql"] for q in queries]

    page = client_for(builder).get(reverse("project_list")).text
    assert f'href="{reverse("connection_list")}?status=attention&amp;personal=1"><span class="nav-badge">2</span> ' \
           "connections need " \
           "attention</a>" in page
    # Someone without access to the project sees no badge.
    other = make_user("Builder")
    assert "need attention" not in client_for(other).get(reverse("project_list")).text


def test_attention_filter_and_project_page_show_failing_connections(client_for, builder, project, basic_connection,
                                                                   credential_connection):
    healthy, _ = credential_connection("bearer", {"api_key": "test-api-key-0123456789"})
    record(basic_connection, Kind.CREDENTIALS_INVALID)
    client = client_for(builder)

    listed = client.get(reverse("connection_list") + "?status=attention").text
    assert basic_connection.name in listed and healthy.name not in listed

    page = client.get(reverse("project_detail", args=[project.pk])).text
    assert "1 connection needs attention" in page
    assert f'Re-authorize “{basic_connection.name}”' in page
    assert f'action="{reverse("connection_check_all", args=[project.pk])}"' in page
    assert ">Check all connections</button>" in page


def test_test_now_is_kept_in_the_check_history(client_for, builder, basic_connection, api_server):
    api_server.set_fault("403", path="/api/me")
    client = client_for(builder)
    client.post(reverse("connection_test", args=[basic_connection.pk]), headers={"HX-Request": "true"})

    check = ConnectionCheck.objects.filter(connection=basic_connection).first()
    assert (check.source, check.actor, check.ok, check.kind, check.status_code) == (
        "test", builder, False, "insufficient_permissions", 403)
    assert check.status_after == "error" and check.duration_ms is not None
    page = client.get(basic_connection.get_absolute_url()).text
    assert "Recent checks" in page and "Test now (builder@example.com)" in page
    assert "Connected → Error (Insufficient permissions)" in page


def test_health_summary_counts_and_schedule(client_for, builder, basic_connection, credential_connection):
    failing, _ = credential_connection("bearer", {"api_key": "test-api-key-0123456789"})
    record(failing, Kind.CREDENTIALS_INVALID)
    now = timezone.now()
    HealthSweep.objects.create(started_at=now - timedelta(seconds=75), finished_at=now - timedelta(seconds=3),
                               running=False, lock_expires_at=now, planned=2, done=2, ok=1, failed=1, changed=1)
    task = PeriodicTask.objects.get(name="Connection health sweep")
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=now - timedelta(minutes=5))

    page = client_for(builder).get(reverse("connection_health")).text

    assert "<tr><td>Connected</td><td>1</td></tr>" in page
    assert "<tr><td>Error</td><td>1</td></tr>" in page
    assert "Credentials changed or revoked</td><td><a" in page
    assert failing.name in page
    assert "took 72.0 seconds" in page
    assert "checked in all projects" not in page  # other projects' numbers are for admins
    assert "Every 15 minutes" in page
    assert "(in 13" in page  # the next sweep: 15 minutes after the last (the sweep began 75 s ago; beat says 5 min)


def test_the_beat_schedule_is_created_by_migration_and_editable_in_admin(client_for, admin_user):
    sweep = PeriodicTask.objects.get(name="Connection health sweep")
    assert (sweep.task, sweep.enabled, sweep.interval.every, sweep.interval.period) == (
        "splice.health.sweep", True, 900, "seconds")
    prune = PeriodicTask.objects.get(name="Prune check history")
    assert (prune.task, prune.crontab.hour, prune.crontab.minute) == ("splice.health.prune", "3", "30")
    response = client_for(admin_user).get(reverse("admin:django_celery_beat_periodictask_change", args=[sweep.pk]))
    assert response.status_code == 200


# --- early warning ------------------------------------------------------------------------------


def test_expiring_credentials_are_listed(client_for, builder, project, basic_connection, oauth2_connection,
                                        authorize_oauth2):
    oauth, _ = authorize_oauth2(oauth2_connection())
    soon = timezone.now() + timedelta(days=3)
    Connection.objects.filter(pk=basic_connection.pk).update(refresh_token_expires_at=soon)
    OAuthProfile.objects.filter(connector_key="loopback").update(client_secret_expires_at=soon + timedelta(days=1))

    page = client_for(builder).get(reverse("connection_list")).text
    assert "Expiring soon" in page
    assert f"{basic_connection.name}</a> <span class=\"muted\">({project.name})</span>: its refresh token" in page
    assert f"{oauth.name}</a> <span class=\"muted\">({project.name})</span>: its OAuth client secret" in page


@pytest.mark.parametrize("count", [3, 30])
def test_the_expiring_section_keeps_the_list_query_count_fixed(client_for, builder, project, count):
    soon = timezone.now() + timedelta(days=2)
    Connection.objects.bulk_create([
        Connection(name=f"Conn {i:03}", connector_key="loopback", project=project, auth_method="basic",
                   status=Status.CONNECTED, refresh_token_expires_at=soon)
        for i in range(count)
    ])
    client = client_for(builder)
    client.get(reverse("connection_list"))
    with CaptureQueriesContext(db) as queries:
        page = client.get(reverse("connection_list")).text
    assert "Expiring soon" in page
    counts = test_the_expiring_section_keeps_the_list_query_count_fixed.__dict__.setdefault("counts", {})
    counts[count] = len(queries)
    # The navigation counts connections needing attention and unread notifications: one query each.
    assert len(queries) <= 13, [q["sql"][:100] for q in queries]
    if len(counts) == 2:
        assert counts[3] == counts[30]


# --- politeness primitives and housekeeping -----------------------------------------------------


def test_host_slots_bound_concurrent_checks_and_free_themselves(settings):
    settings.SPLICE_HEALTH_PER_HOST_CONCURRENCY = 2
    now = timezone.now()
    first = health._host_slot_acquire("api.example.com", "a", now)
    second = health._host_slot_acquire("api.example.com", "b", now)
    assert {first, second} == {0, 1}
    assert health._host_slot_acquire("api.example.com", "c", now) is None
    assert health._host_slot_acquire("other.example.com", "c", now) is not None  # per host

    health._host_slot_release("api.example.com", first, "a")
    assert health._host_slot_acquire("api.example.com", "c", now) == first
    # A holder that died frees its slot when its time is up.
    later = now + timedelta(seconds=settings.SPLICE_HEALTH_CHECK_TIME_LIMIT + 10)
    assert health._host_slot_acquire("api.example.com", "d", later) is not None


def test_a_connection_held_by_another_check_is_deferred_not_checked(basic_connection, api_server):
    now = timezone.now()
    assert health._leases_claim([basic_connection.pk], "someone", now, timedelta(minutes=1), None, {}) \
        == [basic_connection]
    api_server.reset()

    result = health.connection_health_check(connection_id=basic_connection.pk)
    assert result.state == "deferred" and result.retry_in > 0
    assert health.connection_health_check(connection_id=basic_connection.pk, last_attempt=True).state == "skipped"
    assert api_server.stats()["by_path"].get("/api/me", 0) == 0


def test_a_task_starts_no_check_that_would_outlast_its_leases(basic_connection, credential_connection, api_server,
                                                             monkeypatch):
    """Leases last two checks' time limit: a slow app leaves the rest of a batch for a new task, claimed anew."""
    second, _ = credential_connection("basic", name="Second")
    monkeypatch.setattr(health, "_check_ttl", lambda: timedelta(seconds=0.3))
    api_server.reset()
    api_server.set_fault("hang", path="/api/me", hang_seconds=0.4)  # the first check outlasts the window

    results = health.connections_health_check(connection_ids=[basic_connection.pk, second.pk])

    assert results[basic_connection.pk].state == "checked"
    assert results[second.pk].state == "deferred"
    assert api_server.stats()["by_path"]["/api/me"] == 1
    assert ConnectionHealth.objects.filter(pk__in=[basic_connection.pk, second.pk], lease_owner="").count() == 2


def test_check_history_is_pruned_after_the_configured_days(basic_connection, settings):
    settings.SPLICE_CHECK_HISTORY_DAYS = 30
    record(basic_connection)
    old = ConnectionCheck.objects.filter(connection=basic_connection)
    assert old.count() == 2  # authorization, then this check
    old.filter(pk=old.first().pk).update(checked_at=timezone.now() - timedelta(days=31))

    assert health.check_history_prune() == 1
    assert ConnectionCheck.objects.filter(connection=basic_connection).count() == 1


def test_the_sweep_plans_only_connected_or_failing_connections(basic_connection, oauth2_connection, enqueued,
                                                              django_capture_on_commit_callbacks):
    never = oauth2_connection("Never authorized")
    failing = Connection.objects.create(name="Failing", connector_key="loopback", project=basic_connection.project,
                                        auth_method="basic", status=Status.ERROR, error_reason=Reason.UNREACHABLE)
    Connection.objects.create(name="Gone", connector_key="loopback", project=basic_connection.project,
                              auth_method="basic", status=Status.DISCONNECTED)

    with django_capture_on_commit_callbacks(execute=True):
        sweep = health.health_sweep_start()
        assert health.health_sweep_start() is None  # no overlap

    planned = [pk for args, _ in enqueued for pk in args[0]]
    assert sorted(planned) == sorted([basic_connection.pk, failing.pk])
    assert never.pk not in planned
    assert all(args[1] == sweep.pk for args, _ in enqueued)
    assert (sweep.planned, sweep.planning_done, sweep.running) == (2, True, True)


def test_a_sweep_sends_its_checks_in_tasks_of_the_configured_size(basic_connection, credential_connection, enqueued,
                                                                  settings, django_capture_on_commit_callbacks):
    settings.SPLICE_HEALTH_CHECKS_PER_TASK = 2
    others = [credential_connection("basic", name=f"Another {i}")[0] for i in range(2)]

    with django_capture_on_commit_callbacks(execute=True):
        sweep = health.health_sweep_start()

    assert [len(args[0]) for args, _ in enqueued] == [2, 1]
    planned = sorted(pk for args, _ in enqueued for pk in args[0])
    assert planned == sorted([basic_connection.pk, *(c.pk for c in others)])
    assert sweep.planned == 3


def test_a_sweeps_tasks_are_spread_over_the_jitter(basic_connection, credential_connection, enqueued, settings,
                                                  django_capture_on_commit_callbacks):
    """Apps see a sweep's checks arrive over SPLICE_HEALTH_JITTER seconds, not all at the same moment."""
    settings.SPLICE_HEALTH_CHECKS_PER_TASK = 1
    settings.SPLICE_HEALTH_JITTER = 300
    for i in range(5):
        credential_connection("basic", name=f"Another {i}")

    with django_capture_on_commit_callbacks(execute=True):
        health.health_sweep_start()

    delays = [options.get("countdown") or 0 for _, options in enqueued]
    assert len(delays) == 6
    assert all(0 <= delay <= 300 for delay in delays)
    assert len(set(delays)) > 1


def test_one_task_checks_its_connections_and_records_each(basic_connection, credential_connection, api_server):
    """Several connections in one call: each gets its own check in the history, status and sweep count."""
    broken, _ = credential_connection("basic", name="Password changed")
    Connection.objects.filter(pk=broken.pk).update(username="nobody")
    sweep = HealthSweep.objects.create(started_at=timezone.now(), lock_expires_at=timezone.now() + timedelta(hours=1),
                                       planned=2, planning_done=True)
    api_server.reset()

    results = health.connections_health_check(connection_ids=[basic_connection.pk, broken.pk], sweep_id=sweep.pk)

    assert (results[basic_connection.pk].ok, results[broken.pk].ok) == (True, False)
    assert results[broken.pk].changed
    broken.refresh_from_db()
    assert (broken.status, broken.error_reason) == (Status.ERROR, Reason.CREDENTIALS_INVALID)
    for connection in (basic_connection, broken):
        assert ConnectionCheck.objects.filter(connection=connection, sweep=sweep).count() == 1
    sweep.refresh_from_db()
    assert (sweep.done, sweep.ok, sweep.failed, sweep.changed, sweep.running) == (2, 1, 1, 1, False)
    assert api_server.stats()["by_path"]["/api/me"] == 2

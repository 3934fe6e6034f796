"""Notifications: the one service that tells people something (accounts.services.notification_send) with its
throttle and its emails, the pages where a person reads their own, connections' rules for telling people that
a connection broke, recovered or is about to expire (connections.notifications, on commit of the status
change), and the migration that moved the notifications from connections to accounts.

The worker-driven flows (a sweep finding broken connections, their emails) are in tests/connections/test_health.py.
"""

from __future__ import annotations

from datetime import timedelta
from smtplib import SMTPException

import pytest
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Notification, ProjectAccess
from accounts.services import notification_send, notifications_mark_read
from accounts.tasks import notification_emails_send_task
from connections import health, services
from connections.models import Connection, OAuthProfile
from connections.notifications import connection_failures_announce
from connections.problems import RECOMMENDATIONS, Kind, Verdict
from connections.status import CheckOutcome
from tests.permissions import Endpoint, matrix

pytestmark = pytest.mark.django_db

Status, Reason = Connection.Status, Connection.ErrorReason


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """The email tasks enqueued (captured, not sent): [[notification ids], ...]."""
    sent = []
    monkeypatch.setattr(notification_emails_send_task, "delay", lambda ids: sent.append(ids))
    return sent


@pytest.fixture
def connection(project, builder):
    """A working loopback connection that `builder` made; no HTTP is needed, outcomes are recorded directly."""
    return Connection.objects.create(name="Sales", connector_key="loopback", project=project, auth_method="basic",
                                     status=Status.CONNECTED, created_by=builder, authorized_by=builder)


@pytest.fixture
def record(django_capture_on_commit_callbacks):
    """record(connection, kind=None): a check's outcome through the real recorder, committed (so the status
    change's signal is sent and its receivers run). None means it worked."""

    def run(connection, kind: Kind | None = None, message: str | None = None):
        if kind is None:
            outcome = CheckOutcome(ok=True, identity="ada@example.com", status_code=200)
        else:
            outcome = CheckOutcome(ok=False, verdict=Verdict(kind, message or f"{kind} happened",
                                                             recommendations=RECOMMENDATIONS[kind]))
        with django_capture_on_commit_callbacks(execute=True):
            services.connection_record_outcome(connection=connection, outcome=outcome)

    return run


def kinds(**about) -> list[tuple[str, str]]:
    return list(Notification.objects.filter(**about).order_by("pk").values_list("kind", "reason"))


# --- the service ----------------------------------------------------------------------------------


def test_a_notification_is_about_any_subject_and_throttled_only_when_asked(project, builder, make_user):
    """The runtime's "job failed" works like connections' notices: any model is a subject."""
    other = make_user("Builder")
    sent = notification_send(recipients=[builder, other, builder], kind="job_failed", subject=project,
                             reason="step_failed", title="A job failed", body="Step 2 failed.", link="/somewhere/",
                             link_label="Open the job", throttle_seconds=3600)
    assert [n.recipient for n in sent] == [builder, other]  # each person once
    assert Notification.objects.about(project).count() == 2
    assert Notification.objects.get(recipient=builder).subject == project

    def again(**changes):
        values = {"recipients": [builder], "kind": "job_failed", "subject": project, "reason": "step_failed",
                  "title": "A job failed", "body": "Again.", "throttle_seconds": 3600} | changes
        return notification_send(**values)

    assert again() == []  # the same subject, kind and reason within the hour
    assert len(again(reason="timeout")) == 1  # another reason
    assert len(again(kind="job_stopped")) == 1  # another kind
    assert len(again(subject=other)) == 1  # another subject (a person, here)
    assert len(again(throttle_seconds=None)) == 1  # not asked to throttle

    Notification.objects.update(created_at=timezone.now() - timedelta(seconds=3601))
    assert len(again()) == 1  # the hour is over


def test_emails_leave_after_commit_once_each(project, builder, queued, mailoutbox, settings,
                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification = notification_send(
            recipients=[builder], kind="job_failed", subject=project, title="A job failed", body="Step 2 failed.",
            link="/recipes/1/jobs/2/", link_label="Open the job", why_sent="You get this because you own it.")[0]
    assert queued == [] and len(callbacks) == 1  # nothing leaves before the commit
    callbacks[0]()
    assert queued == [[notification.pk]]  # the task's one argument: a list of ids

    assert notification_emails_send_task.apply(args=[queued[0]]).get() == 1
    assert notification_emails_send_task.apply(args=[queued[0]]).get() == 0  # a redelivered task
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert (email.to, email.subject) == ([builder.email], "[Splice] A job failed")
    assert email.body == (f"Step 2 failed.\n\nOpen the job: {settings.SPLICE_BASE_URL}/recipes/1/jobs/2/\n\n"
                          f"You get this because you own it. All notifications: {settings.SPLICE_BASE_URL}"
                          "/notifications/\n")


def test_a_mail_server_that_fails_is_tried_again(project, builder, mailoutbox, monkeypatch):
    notification = notification_send(recipients=[builder], kind="job_failed", subject=project, title="A job failed",
                                     body="Step 2 failed.")[0]
    real_send, failures = EmailMessage.send, []

    def send_once_failing(message, *args, **kwargs):
        if not failures:
            failures.append(message)
            raise SMTPException("451 try again later")
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", send_once_failing)
    result = notification_emails_send_task.apply(args=[[notification.pk]])  # retried at once when run eagerly

    assert result.get() == 1 and len(failures) == 1
    assert len(mailoutbox) == 1
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_messages_queued_under_the_old_task_name_are_passed_on(queued):
    from connections.tasks import send_notification_emails

    send_notification_emails.apply(args=[[41, 42]])
    assert queued == [[41, 42]]


# --- the pages: a person's own notifications ------------------------------------------------------


def _endpoints(notification_id: int) -> dict[str, Endpoint]:
    """Any signed-in person's own notifications: no privilege, no project."""
    return {
        "list": Endpoint(reverse("notification_list")),
        "read_all": Endpoint(reverse("notification_read_all"), "post", allowed=(302,)),
        "read": Endpoint(reverse("notification_read", args=[notification_id]), "post", allowed=(302,)),
    }


@pytest.mark.parametrize("cell", matrix(_endpoints(1)))
def test_permission_matrix(permission_matrix, connection, record, cell):
    record(connection, Kind.CREDENTIALS_INVALID)
    mine = Notification.objects.first()
    permission_matrix(cell, _endpoints(mine.pk))
    mine.refresh_from_db()
    assert mine.read_at is None  # neither anonymous nor another person marked it read


def test_a_person_sees_and_marks_read_only_their_own(client_for, builder, make_user, connection, record):
    record(connection, Kind.CREDENTIALS_INVALID)
    mine = Notification.objects.get(recipient=builder)
    stranger = make_user("Builder")
    client = client_for(builder)

    page = client.get(reverse("notification_list")).text
    assert mine.title in page and "Mark as read" in page
    assert " · Connection needs attention</p>" in page
    assert f'<a class="button" href="/connections/{connection.pk}/authorize/">Re-authorize “Sales”</a>' in page
    assert 'Notifications <span class="nav-badge">1<span class="visually-hidden"> unread</span></span>' in page

    # Someone else's id changes nothing, and their list does not show it.
    strangers = client_for(stranger)
    assert strangers.post(reverse("notification_read", args=[mine.pk])).status_code == 302
    strangers.post(reverse("notification_read_all"))
    mine.refresh_from_db()
    assert mine.read_at is None
    assert mine.title not in strangers.get(reverse("notification_list")).text
    assert notifications_mark_read(recipient=stranger) == 0

    client = client_for(builder)
    response = client.post(reverse("notification_read", args=[mine.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("notification_list")
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert " unread</span>" not in client.get(reverse("notification_list")).text


def test_mark_all_as_read(client_for, builder, connection, record):
    record(connection, Kind.CREDENTIALS_INVALID)
    record(connection)
    client = client_for(builder)
    assert "Mark all as read" in client.get(reverse("notification_list")).text

    page = client.post(reverse("notification_read_all"), follow=True).text
    assert "Marked 2 notifications as read." in page
    assert not Notification.objects.filter(recipient=builder).unread().exists()


def test_a_notification_outlives_its_subject_but_not_its_link(client_for, builder, connection, record):
    record(connection, Kind.CREDENTIALS_INVALID)
    Connection.objects.filter(pk=connection.pk).delete()

    page = client_for(builder).get(reverse("notification_list")).text
    assert "“Sales” needs attention" in page
    assert "Re-authorize “Sales”" not in page


# --- connections' rules: who is told what, and when ------------------------------------------------


def test_a_status_change_notifies_its_owner_and_the_projects_managers_on_commit(
        project, builder, make_user, connection, django_capture_on_commit_callbacks):
    manager, member = make_user("Builder"), make_user("Viewer")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.MANAGE, user=manager)
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.VIEW, user=member)
    broken = CheckOutcome(ok=False, verdict=Verdict(Kind.CREDENTIALS_INVALID, "The app said 401.",
                                                    recommendations=RECOMMENDATIONS[Kind.CREDENTIALS_INVALID]))

    # Rolled back: nobody is told.
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        services.connection_record_outcome(connection=connection, outcome=broken)
        raise RuntimeError("the request failed after recording")
    assert not Notification.objects.exists()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.connection_record_outcome(connection=connection, outcome=broken)
    assert not Notification.objects.exists()  # not before the commit
    for callback in callbacks:
        callback()
    told = Notification.objects.about(connection)
    assert {n.recipient_id for n in told} == {builder.pk, manager.pk}
    notice = told.get(recipient=builder)
    assert (notice.kind, notice.reason, notice.kind_label) == ("broke", "credentials_invalid",
                                                              "Connection needs attention")
    assert notice.title == "“Sales” needs attention: Credentials changed or revoked"
    assert "What happened: The app said 401." in notice.body
    assert "- Verify that the connection's credentials are correct" in notice.body
    assert notice.link == reverse("connection_authorize", args=[connection.pk])


def test_a_repeat_break_is_held_back_for_an_hour_then_announced(connection, record, settings):
    record(connection, Kind.CREDENTIALS_INVALID)
    record(connection)
    record(connection, Kind.CREDENTIALS_INVALID)  # broke again within the hour: held back
    assert kinds() == [("broke", "credentials_invalid"), ("recovered", "")]

    connection_failures_announce(now=timezone.now())  # the next sweep: still within the hour
    assert Notification.objects.count() == 2

    Notification.objects.update(created_at=timezone.now() - timedelta(seconds=settings.SPLICE_NOTIFY_EVERY + 1))
    assert connection_failures_announce(now=timezone.now()) == 1
    assert connection_failures_announce(now=timezone.now()) == 0
    assert kinds() == [("broke", "credentials_invalid"), ("recovered", ""), ("broke", "credentials_invalid")]


def test_another_reason_is_another_message_and_recovery_is_told_once(connection, record):
    record(connection, Kind.INSUFFICIENT_PERMISSIONS)
    record(connection, Kind.CREDENTIALS_INVALID)
    record(connection)
    record(connection)
    assert kinds() == [("broke", "insufficient_permissions"), ("broke", "credentials_invalid"), ("recovered", "")]
    recovered = Notification.objects.get(kind="recovered")
    assert recovered.title == "“Sales” is working again"
    assert (recovered.link, recovered.link_label) == (connection.get_absolute_url(), "Open “Sales”")


def test_a_recovery_nobody_was_told_the_break_of_is_not_announced(connection, record):
    """A connection that broke before notifications existed (or whose break was held back) recovers quietly."""
    Connection.objects.filter(pk=connection.pk).update(status=Status.ERROR, error_reason=Reason.CREDENTIALS_INVALID,
                                                       error_since=timezone.now())
    record(connection)
    assert kinds() == []


def test_a_connection_that_changed_again_is_told_by_the_later_change(connection, django_capture_on_commit_callbacks):
    """Both changes committed before the first notice goes out: no "broke" about a connection that works."""
    broken = CheckOutcome(ok=False, verdict=Verdict(Kind.CREDENTIALS_INVALID, "401",
                                                    recommendations=RECOMMENDATIONS[Kind.CREDENTIALS_INVALID]))
    with django_capture_on_commit_callbacks(execute=True):
        services.connection_record_outcome(connection=connection, outcome=broken)
        services.connection_record_outcome(connection=connection, outcome=CheckOutcome(ok=True))
    assert kinds() == []


def test_expiring_credentials_are_notified_once_per_expiry_date(connection, project, builder):
    soon = timezone.now() + timedelta(days=3)
    Connection.objects.filter(pk=connection.pk).update(refresh_token_expires_at=soon)
    profile = OAuthProfile.objects.create(name="Loopback app", connector_key="loopback", client_id="splice",
                                          client_secret_expires_at=soon + timedelta(days=1))
    oauth = Connection.objects.create(name="Support", connector_key="loopback", project=project, auth_method="oauth2",
                                      status=Status.CONNECTED, created_by=builder, oauth_profile=profile)

    assert health.health_expiry_warn() == 2
    assert health.health_expiry_warn() == 0  # once per expiry date
    warning = Notification.objects.about(connection).get(kind="expiring")
    assert warning.recipient == builder and "refresh token" in warning.title
    assert "We recommend: re-authorize the connection before then." in warning.body
    assert warning.kind_label == "Credentials expiring soon"
    assert warning.link == reverse("connection_authorize", args=[connection.pk])
    secret = Notification.objects.about(oauth).get(kind="expiring")
    assert "OAuth client secret" in secret.title and "ask an admin to renew" in secret.body

    # A new expiry date (after re-authorizing, say) is worth a new warning when it comes near.
    Connection.objects.filter(pk=connection.pk).update(refresh_token_expires_at=soon + timedelta(days=2))
    assert health.health_expiry_warn() == 1


# --- the migration that moved them ----------------------------------------------------------------

BEFORE = [("accounts", "0003_disclosures"), ("connections", "0006_credential_origins")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_connections_notifications_to_accounts_and_back():
    from django.db import connection as db

    executor = MigrationExecutor(db)
    leaves = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        user = old.get_model("accounts", "User").objects.create(email="ada@example.com")
        project = old.get_model("accounts", "Project").objects.create(name="Sales team")
        OldConnection = old.get_model("connections", "Connection")
        kept = OldConnection.objects.create(name="Sales", connector_key="loopback", project=project)
        OldNotification = old.get_model("connections", "Notification")
        sent_at = timezone.now() - timedelta(days=3)
        broke = OldNotification.objects.create(
            recipient=user, connection=kept, kind="broke", reason="credentials_invalid", title="“Sales” broke",
            body="Re-authorize it.", link=f"/connections/{kept.pk}/authorize/", emailed_at=sent_at)
        # About a connection deleted since (SET_NULL).
        recovered = OldNotification.objects.create(recipient=user, connection=None, kind="recovered", title="Back",
                                                   body="Working again.", link="/connections/999/")
        OldNotification.objects.filter(pk=broke.pk).update(created_at=sent_at)

        executor = MigrationExecutor(db)
        executor.migrate(leaves)

        moved = {n.pk: n for n in Notification.objects.all()}
        assert set(moved) == {broke.pk, recovered.pk}  # the same ids
        notice = moved[broke.pk]
        assert notice.subject == Connection.objects.get(pk=kept.pk)
        assert (notice.recipient.email, notice.kind, notice.reason, notice.title, notice.link) == (
            "ada@example.com", "broke", "credentials_invalid", "“Sales” broke", f"/connections/{kept.pk}/authorize/")
        assert (notice.created_at, notice.emailed_at, notice.read_at) == (sent_at, sent_at, None)
        assert (notice.kind_label, notice.link_label) == ("Connection needs attention", "Re-authorize “Sales”")
        assert notice.link_works
        orphan = moved[recovered.pk]
        assert (orphan.subject, orphan.link_works, orphan.kind_label) == (None, False, "Connection working again")
        # New notifications do not collide with the copied ids.
        assert notification_send(recipients=[notice.recipient], kind="job_failed", subject=None, title="New",
                                 body="New.")[0].pk > max(moved)
        Notification.objects.filter(kind="job_failed").delete()

        # And back: connections' table has them again.
        executor = MigrationExecutor(db)
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        back = {n.pk: n for n in old.get_model("connections", "Notification").objects.all()}
        assert set(back) == {broke.pk, recovered.pk}
        assert (back[broke.pk].connection_id, back[broke.pk].created_at) == (kept.pk, sent_at)
        assert back[recovered.pk].connection_id is None
    finally:
        executor = MigrationExecutor(db)
        executor.migrate(leaves)

"""Connection health end to end: the sweep task goes through the real broker to a real Celery worker process,
which checks real servers on 127.0.0.1, records status, history and notifications, and sends emails (Django's
file-based backend, so the test reads the messages the worker really sent).

Time passing is simulated by moving timestamps back in the database, never by sleeping.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from email import message_from_string, policy
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Notification, ProjectAccess
from connections.credentials import open_secret
from connections.models import Connection, ConnectionCheck, ConnectionHealth, HealthSweep
from connections.tasks import health_check, health_sweep
from recipes.design import design_time_errors
from recipes.models import ConnectionBinding, Recipe, Step
from tests.conftest import TaskEvents, celery_worker

# The worker is another process: it must see what the tests write (transaction=True).
pytestmark = pytest.mark.django_db(transaction=True)

Status, Reason = Connection.Status, Connection.ErrorReason
DEADLINE = 60
task_events: TaskEvents  # set by the health_worker fixture
WORKER_HTTP_TIMEOUT = "1"  # seconds: a hanging app times out quickly in the worker


@pytest.fixture(scope="module")
def health_worker(django_db_setup, tmp_path_factory):
    """A worker on a private queue, configured like a deployment could be: health tasks on their own queue, no
    jitter, a short HTTP timeout, and emails written to files; it says when each task ends. Yields (queue,
    mail folder)."""
    global task_events
    queue = f"splice-health-{uuid.uuid4().hex[:8]}"
    mail_dir = tmp_path_factory.mktemp("mail")
    task_events = TaskEvents(tmp_path_factory.mktemp("events"))
    try:
        with celery_worker(
            queue, pool="threads", concurrency=4, SPLICE_HEALTH_QUEUE=queue, SPLICE_HEALTH_JITTER="0",
            SPLICE_HTTP_TIMEOUT=WORKER_HTTP_TIMEOUT, SPLICE_EMAIL_FILE_PATH=str(mail_dir),
            SPLICE_EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            SPLICE_TEST_TASK_EVENTS=task_events.path,
        ):
            yield queue, mail_dir
    finally:
        task_events.close()


@pytest.fixture
def worker(health_worker, settings):
    """The health worker, with this process enqueueing onto its queue and an empty mailbox."""
    queue, mail_dir = health_worker
    settings.SPLICE_HEALTH_QUEUE = queue
    for old in mail_dir.iterdir():
        old.unlink()
    return queue


@pytest.fixture
def mailbox(health_worker):
    return Mailbox(health_worker[1])


class Mailbox:
    """The messages the worker's file-based email backend wrote."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def messages(self):
        found = []
        for path in sorted(self.folder.iterdir()):
            for chunk in path.read_text().split("-" * 79 + "\n"):
                if chunk.strip():
                    found.append(message_from_string(chunk, policy=policy.default))
        return found

    def to(self, email: str):
        return [message for message in self.messages() if message["To"] == email]

    def text(self) -> str:
        return "\n".join(f"{message['Subject']}\n{message.get_content()}" for message in self.messages())


def wait_for(condition, what: str, deadline: float = DEADLINE):
    """`condition()`'s value once the worker's tasks have made it true (checked as each one ends)."""
    return task_events.wait_for(condition, what, deadline)


def sweep(queue: str, *, notices: int | None = None) -> HealthSweep:
    """Send the sweep task through the broker, wait for the worker to plan it and finish every check, and for the
    emails its notifications started. People are told once the checks are committed, one connection after
    another, while the first emails may already be leaving: `notices` waits for that many notifications."""
    sweep_id = health_sweep.apply_async(queue=queue).get(timeout=DEADLINE)
    assert sweep_id is not None, "a previous sweep was still running"
    done = wait_for(lambda: HealthSweep.objects.filter(pk=sweep_id, finished_at__isnull=False).first(),
                    f"sweep {sweep_id} to finish")
    if notices is not None:
        wait_for(lambda: Notification.objects.count() >= notices, f"{notices} notifications")
    wait_for(lambda: not Notification.objects.filter(emailed_at__isnull=True).exists(), "notification emails")
    return done


def status(connection: Connection) -> tuple[str, str]:
    connection.refresh_from_db()
    return connection.status, connection.error_reason


def notices(connection: Connection, kind: str | None = None):
    found = Notification.objects.about(connection)
    return found.filter(kind=kind) if kind else found


def move_back(connection: Connection, seconds: float) -> None:
    """As if `seconds` passed: the failure started earlier, and any backoff or Retry-After is over."""
    connection.refresh_from_db()
    Connection.objects.filter(pk=connection.pk).update(
        failing_since=connection.failing_since - timedelta(seconds=seconds))
    ConnectionHealth.objects.filter(pk=connection.pk).update(next_check_at=None, retry_after_until=None)


# --- broken credentials and permissions ---------------------------------------------------------


def test_revoked_changed_and_unpermitted_connections_are_found_by_the_next_sweep(
        worker, mailbox, project, builder, make_user, oauth2_connection, authorize_oauth2, oauth2_server,
        credential_connection, api_server, oauth1_connection, authorize_oauth1, oauth1_server):  # noqa: F811
    manager, member = make_user("Builder"), make_user("Viewer")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.MANAGE, user=manager)
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.VIEW, user=member)
    revoked, _ = authorize_oauth2(oauth2_connection("Revoked grant"))
    unpermitted, _ = authorize_oauth2(oauth2_connection("Lost permission"), email="bob@example.com")
    basic, _ = credential_connection("basic")
    api_key, _ = credential_connection("bearer", {"api_key": api_server.api_key})
    oauth1, _ = authorize_oauth1(oauth1_connection("HMAC-SHA1"))
    never_authorized = oauth2_connection("Never authorized")
    disconnected, _ = credential_connection("query_key", {"api_key": api_server.api_key})
    Connection.objects.filter(pk=disconnected.pk).update(status=Status.DISCONNECTED)
    secrets = _secrets_of([revoked, unpermitted, basic, api_key, oauth1]) + [
        api_server.password, api_server.api_key, oauth2_server.client_secret, "n3w-Passw0rd-after-change",
        oauth1_server.client("HMAC-SHA1").client_secret]
    recipe = Recipe.objects.create(project=project, name="Sync leads", running=True, created_by=builder)
    Step.objects.create(recipe=recipe, position=1, is_trigger=True, connector_key="loopback",
                        operation_key="new_item")
    ConnectionBinding.objects.create(recipe=recipe, connector_key="loopback", connection=revoked)
    assert design_time_errors(recipe) == []

    # In the apps: a grant revoked, a password changed, an OAuth 1.0a token revoked, a permission removed.
    oauth2_server.revoke(user="ada@example.com")
    api_server.set_credentials({"username": api_server.username, "password": "n3w-Passw0rd-after-change"},
                               {"api_key": api_server.api_key})
    oauth1_server.revoke(client_key=oauth1_server.client("HMAC-SHA1").client_key)
    oauth2_server.set_scope("write", user="bob@example.com")

    done = sweep(worker, notices=8)

    assert status(revoked) == (Status.ERROR, Reason.CREDENTIALS_INVALID)
    assert status(basic) == (Status.ERROR, Reason.CREDENTIALS_INVALID)
    assert status(oauth1) == (Status.ERROR, Reason.CREDENTIALS_INVALID)
    assert status(unpermitted) == (Status.ERROR, Reason.INSUFFICIENT_PERMISSIONS)
    assert status(api_key) == (Status.CONNECTED, "")
    assert (done.planned, done.done, done.ok, done.failed, done.changed) == (5, 5, 1, 4, 4)
    assert not ConnectionCheck.objects.filter(connection__in=[never_authorized, disconnected], source="sweep").exists()
    check = ConnectionCheck.objects.get(connection=basic, source="sweep")
    assert (check.source, check.kind, check.status_code, check.sweep_id) == ("sweep", "credentials_invalid", 401,
                                                                           done.pk)
    assert (check.status_before, check.status_after, check.reason_after) == ("connected", "error",
                                                                            "credentials_invalid")

    # The recipe using the revoked connection shows it as a design-time error, with the fix.
    errors = design_time_errors(recipe)
    assert [error.code for error in errors] == ["connection_error"]
    assert errors[0].fix_label == "Re-authorize"

    # The owner and the project's manager each get one notification and one email per broken connection;
    # a member who only views the project gets none.
    broken = [revoked, basic, oauth1, unpermitted]
    for person in (builder, manager):
        for connection in broken:
            assert notices(connection).filter(recipient=person, kind="broke").count() == 1
        emails = mailbox.to(person.email)
        assert sorted(message["Subject"] for message in emails) == sorted(
            f"[Splice] “{c.name}” needs attention: {c.get_error_reason_display()}" for c in broken)
    assert not Notification.objects.filter(recipient=member).exists()
    assert len(mailbox.messages()) == 8

    email = next(m for m in mailbox.to(builder.email) if "Revoked grant" in m["Subject"])
    body = email.get_content()
    assert "What happened: The app refused the token request (invalid_grant)" in body
    assert "Re-authorize the connection" in body  # the seed's recommendations, fitted to an OAuth connection
    assert "double-check" not in body.lower()
    assert "- Sync leads (running)" in body  # the recipes affected
    assert f"{django_settings.SPLICE_BASE_URL}/connections/{revoked.pk}/authorize/" in body
    permission_mail = next(m for m in mailbox.to(builder.email) if "Lost permission" in m["Subject"])
    assert "Verify the authorizing user's permissions" in permission_mail.get_content()

    # The next sweep finds them still broken: no second message.
    sweep(worker)
    assert Notification.objects.filter(kind="broke").count() == 8
    assert len(mailbox.messages()) == 8

    # No secret in notifications, emails, check history or audit summaries.
    stored = "\n".join(
        [f"{n.title}\n{n.body}\n{n.link}" for n in Notification.objects.all()]
        + [f"{c.message}|{c.kind}" for c in ConnectionCheck.objects.all()]
    ) + mailbox.text()
    assert secrets and not [secret for secret in secrets if secret in stored]


def _secrets_of(connections) -> list[str]:
    found = []
    for connection in connections:
        connection.refresh_from_db()
        for field in ("access_token", "refresh_token", "token_secret", "password", "api_key"):
            secret = open_secret(connection, field)
            if secret:
                found.append(secret.reveal())
    return found


# --- transient failures -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "429", "hang"])
def test_transient_failures_become_unreachable_only_after_the_window_then_recover_once(
        worker, mailbox, fault, credential_connection, api_server, builder):
    connection, _ = credential_connection("basic")
    api_server.reset()
    api_server.set_fault(fault, path="/api/me", retry_after=120, hang_seconds=float(WORKER_HTTP_TIMEOUT) + 2)

    def requests_seen() -> int:
        return api_server.stats()["by_path"].get("/api/me", 0)

    sweep(worker)
    assert status(connection) == (Status.CONNECTED, "")
    connection.refresh_from_db()
    assert connection.failing_since is not None and connection.consecutive_failures == 1
    check = ConnectionCheck.objects.get(connection=connection, source="sweep")
    assert (check.ok, check.kind) == (False, "transient")
    health = ConnectionHealth.objects.get(pk=connection.pk)
    if fault == "429":
        # Retry-After: 120 — not checked again before then.
        assert health.retry_after_until - timezone.now() > timedelta(seconds=100)
        sweep(worker)
        assert requests_seen() == 1
    else:
        # The second failure in a row backs off: the next sweep skips it.
        assert health.next_check_at is None
        sweep(worker)
        assert requests_seen() == 2
        assert ConnectionHealth.objects.get(pk=connection.pk).next_check_at > timezone.now()
        sweep(worker)
        assert requests_seen() == 2
    assert status(connection) == (Status.CONNECTED, "")
    assert not notices(connection).exists()

    # The unreachable window passes while it keeps failing.
    move_back(connection, django_settings.SPLICE_UNREACHABLE_AFTER + 60)
    sweep(worker, notices=1)
    assert status(connection) == (Status.ERROR, Reason.UNREACHABLE)
    assert notices(connection, "broke").filter(recipient=builder, reason="unreachable").count() == 1

    # The app recovers: connected again, and one recovery notice (sweeps after it send nothing more).
    api_server.clear_fault("/api/me")
    move_back(connection, 0)
    sweep(worker, notices=2)
    assert status(connection) == (Status.CONNECTED, "")
    sweep(worker)
    assert notices(connection, "recovered").count() == 1
    assert notices(connection).count() == 2
    assert sorted(message["Subject"] for message in mailbox.to(builder.email)) == [
        f"[Splice] “{connection.name}” is working again",
        f"[Splice] “{connection.name}” needs attention: App unreachable",
    ]


# --- no overlap ---------------------------------------------------------------------------------


def test_a_second_sweep_and_redelivered_tasks_never_check_a_connection_twice(worker, credential_connection,
                                                                           api_server):
    connections = [credential_connection("basic", name=f"Slow app {i}")[0] for i in range(6)]
    api_server.reset()
    api_server.set_fault("hang", path="/api/me", hang_seconds=0.4)  # slow answers, still 200

    first_id = health_sweep.apply_async(queue=worker).get(timeout=DEADLINE)
    api_server.wait_for_requests("/api/me")  # the first checks have started
    # Due again while the first still runs: the second sweep does not start.
    assert health_sweep.apply_async(queue=worker).get(timeout=DEADLINE) is None
    # The same checks delivered again (a broker redelivery, a duplicate enqueue) while the first ones run.
    duplicates = [health_check.apply_async(args=[[c.pk], first_id, None], queue=worker, ignore_result=False)
                  for c in connections]

    assert [result.get(timeout=DEADLINE) for result in duplicates] == [{"duplicate": 1}] * len(connections)
    first = wait_for(lambda: HealthSweep.objects.filter(pk=first_id, finished_at__isnull=False).first(),
                     "the first sweep to finish")
    assert (first.planned, first.done, first.ok) == (6, 6, 6)
    assert api_server.stats()["by_path"]["/api/me"] == 6
    for connection in connections:
        assert ConnectionCheck.objects.filter(connection=connection, source="sweep").count() == 1


# --- what tasks carry -----------------------------------------------------------------------------


def test_task_messages_carry_ids_only(worker, credential_connection, api_server, monkeypatch, project, builder):
    """The sweep runs here (not in the worker) with the broker call captured: every argument is an id."""
    from connections import health

    connection, _ = credential_connection("basic")
    sent = []
    monkeypatch.setattr(health_check, "apply_async", lambda args=None, **options: sent.append((args, options)))

    health.health_sweep_start()
    health.project_check_all(project=project, acting_user=builder)

    assert [args for args, _ in sent][0][0] == [connection.pk]
    assert len(sent) == 2
    for args, options in sent:
        ids, *others = args
        assert all(isinstance(value, int) for value in ids), args
        assert all(value is None or isinstance(value, int) for value in others), args
        assert options["queue"] == worker

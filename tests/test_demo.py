"""Demo CRM, the app `make run` serves so a new user can try Splice offline: a connection to it works through the
real client and classification, breaks when an admin changes the demo account's credentials, and recovers."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from connections import services
from connections.models import Connection
from connections.problems import Kind
from demo.views import DEMO_ACCOUNT, demo_credentials, demo_reset
from tests.permissions import ANONYMOUS, NO_PRIVILEGE, Endpoint, assert_access

pytestmark = pytest.mark.django_db
Status = Connection.Status


@pytest.fixture(autouse=True)
def fresh_demo_account():
    demo_reset()
    yield
    demo_reset()


def demo_connection(project, builder, live_server, auth_method: str = "basic") -> Connection:
    return services.connection_create(project=project, connector_key="demo_crm", name=f"Demo CRM ({auth_method})",
                                      acting_user=builder, auth_method=auth_method,
                                      settings_values={"base_url": f"{live_server.url}/demo-crm/api"})


@pytest.mark.django_db(transaction=True)
def test_a_demo_connection_connects_breaks_when_the_password_changes_and_recovers(
        project, builder, admin_user, client_for, live_server):
    connection = demo_connection(project, builder, live_server)
    outcome = services.connection_set_credentials(
        connection=connection, acting_user=builder,
        credentials={"username": DEMO_ACCOUNT["email"], "password": "not-the-password"})
    assert not outcome.ok and outcome.verdict.kind == Kind.CREDENTIALS_INVALID

    outcome = services.connection_set_credentials(
        connection=connection, acting_user=builder,
        credentials={"username": DEMO_ACCOUNT["email"], "password": DEMO_ACCOUNT["password"]})
    assert outcome.ok, outcome.message
    connection.refresh_from_db()
    assert (connection.status, connection.identity) == (Status.CONNECTED, DEMO_ACCOUNT["email"])

    page = client_for(admin_user).post(reverse("demo_crm_account"), {"understood": "on"}).text
    assert "The password and API key were changed" in page
    assert demo_credentials()["password"] in page  # shown once, on this answer
    assert demo_credentials()["password"] not in client_for(admin_user).get(reverse("demo_crm_account")).text
    assert not services.connection_test(connection=connection).ok
    connection.refresh_from_db()
    assert (connection.status, connection.error_reason) == (Status.ERROR, Connection.ErrorReason.CREDENTIALS_INVALID)

    outcome = services.connection_set_credentials(
        connection=connection, acting_user=builder,
        credentials={"username": DEMO_ACCOUNT["email"], "password": demo_credentials()["password"]})
    assert outcome.ok
    connection.refresh_from_db()
    assert connection.status == Status.CONNECTED


@pytest.mark.django_db(transaction=True)
def test_an_api_key_connection_works_too(project, builder, live_server):
    connection = demo_connection(project, builder, live_server, auth_method="api_key")
    outcome = services.connection_set_credentials(connection=connection, acting_user=builder,
                                                  credentials={"api_key": DEMO_ACCOUNT["api_key"]})
    assert outcome.ok, outcome.message


def test_only_an_admin_changes_the_demo_account_and_only_once_confirmed(client, client_for, builder, admin_user):
    url = reverse("demo_crm_account")
    assert_access(client, Endpoint(url), ANONYMOUS)

    page = client_for(builder).get(url).text
    assert DEMO_ACCOUNT["email"] in page
    assert DEMO_ACCOUNT["password"] not in page and DEMO_ACCOUNT["api_key"] not in page
    assert "Change password and API key" not in page
    assert_access(client_for(builder), Endpoint(url, "post", data={"understood": "on"}), NO_PRIVILEGE)  # staff only

    unconfirmed = client_for(admin_user).post(url, {})
    assert unconfirmed.status_code == 400
    assert "Tick the box to confirm" in unconfirmed.text
    assert demo_credentials() == DEMO_ACCOUNT


def test_the_api_checks_credentials_and_input(client):
    def auth(email: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()

    me = reverse("demo_crm_api_me")
    assert client.get(me).status_code == 401
    assert client.get(me, headers={"Authorization": "Basic !!not-base64"}).status_code == 401
    assert client.get(me, headers={"Authorization": auth(DEMO_ACCOUNT["email"], "wrong")}).status_code == 401
    assert client.get(me, headers={"Authorization": auth(DEMO_ACCOUNT["email"], DEMO_ACCOUNT["password"])}).json() \
        == {"email": DEMO_ACCOUNT["email"], "name": "Demo sales team"}

    contacts, bearer = reverse("demo_crm_api_contacts"), {"Authorization": f"Bearer {DEMO_ACCOUNT['api_key']}"}
    assert client.post(contacts, "{}", content_type="application/json", headers=bearer).json()["message"] == \
        "name is required."
    assert client.post(contacts, "[", content_type="application/json", headers=bearer).status_code == 400
    for name in ("Ada", "Grace"):
        assert client.post(contacts, {"name": name}, content_type="application/json", headers=bearer).status_code \
            == 201
    assert [c["name"] for c in client.get(contacts, headers=bearer).json()] == ["Grace", "Ada"]


def test_a_deployment_serves_no_demo_unless_it_is_on(client, client_for, admin_user, settings):
    settings.SPLICE_DEMO_APP = False
    assert client.get(reverse("demo_crm_api_me")).status_code == 404
    assert client_for(admin_user).get(reverse("demo_crm_account")).status_code == 404


def test_load_demo_makes_the_demo_crm_connection_once(builtin_roles, capsys):
    call_command("load_demo")
    call_command("load_demo")

    demo = Connection.objects.get(connector_key="demo_crm")
    assert (demo.status, demo.project.name, demo.auth_method) == (Status.NOT_CONNECTED, "Sales operations", "basic")
    assert demo.settings["base_url"].endswith("/demo-crm/api")
    assert f"{DEMO_ACCOUNT['email']} / {DEMO_ACCOUNT['password']}" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_the_demo_recipes_start_once_the_server_answers_and_make_jobs(builtin_roles, live_server, settings):
    """What `make run` shows a new user: the demo connection signs in by itself, a lead arrives every minute and
    each new contact gets a follow-up task, as jobs."""
    from accounts.models import User
    from demo.services import demo_recipes_start
    from recipes.models import Job, Recipe
    from recipes.runtime.polling import poll_run
    from recipes.runtime.runner import job_run
    from recipes.runtime.triggers import schedule_fire

    settings.SPLICE_BASE_URL = live_server.url
    call_command("load_demo", stdout=io.StringIO())
    connection = Connection.objects.get(connector_key="demo_crm")
    builder = User.objects.get(email="builder@example.com")
    account = {"username": DEMO_ACCOUNT["email"], "password": DEMO_ACCOUNT["password"]}
    assert demo_recipes_start(connection=connection, credentials=account, builder=builder)
    connection.refresh_from_db()
    assert connection.status == Status.CONNECTED
    follow_up = Recipe.objects.get(name="Follow up on new contacts")
    leads = Recipe.objects.get(name="A new demo lead every minute")
    assert follow_up.running and leads.running

    poll_run(follow_up.pk)  # from now: the contacts listed at the start are not new
    job_run(schedule_fire(leads.pk).pk)
    assert poll_run(follow_up.pk).jobs == 1
    job = Job.objects.get(recipe=follow_up)
    job_run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.steps.get().output["title"].startswith("Call Lead of ")

    assert DEMO_ACCOUNT["password"] not in str(list(Job.objects.values("trigger_data", "steps__input",
                                                                         "steps__output")))
    assert demo_recipes_start(connection=connection, credentials=account, builder=builder)  # twice: no change
    assert Recipe.objects.filter(running=True).count() == 2

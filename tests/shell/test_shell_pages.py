"""The shell's pages without a browser: the home page's parts, the project page after a share error, Splice's own
404 for a project someone cannot access (debug too), one log line for a 403, and what `load_demo` prints."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Notification
from accounts.services import notification_send, notifications_resolve
from connections.models import Connection

pytestmark = pytest.mark.django_db


def test_a_share_error_keeps_the_projects_create_buttons(client_for, builder, project):
    page = client_for(builder).post(reverse("project_share", args=[project.pk]), {"level": "view_project"})
    assert page.status_code == 400
    assert "Enter a person&#x27;s email or choose a role" in page.text
    assert "Create connection" in page.text and "Create recipe" in page.text


def test_a_refused_share_keeps_the_projects_create_buttons(client_for, builder, project):
    page = client_for(builder).post(reverse("project_share", args=[project.pk]),
                                    {"email": builder.email, "level": "view_project"})
    assert page.status_code == 400
    assert "The project’s creator always manages it." in page.text or "creator always manages" in page.text
    assert "Create connection" in page.text and "Create recipe" in page.text


def test_a_resolved_notification_says_so_and_offers_no_action(client_for, builder, project):
    connection = Connection.objects.create(name="Sales CRM", connector_key="loopback", project=project,
                                           created_by=builder, auth_method="basic", status=Connection.Status.ERROR)
    other = Connection.objects.create(name="Ops CRM", connector_key="loopback", project=project,
                                      created_by=builder, auth_method="basic", status=Connection.Status.ERROR)
    for subject in (connection, other):
        notification_send(recipients=[builder], kind="broke", subject=subject,
                          title=f"“{subject.name}” needs attention", body="It stopped working.",
                          link=reverse("connection_authorize", args=[subject.pk]),
                          link_label=f"Re-authorize “{subject.name}”")
    notification_send(recipients=[builder], kind="recovered", subject=connection, title="“Sales CRM” is working again",
                      body="Connected again.", link=connection.get_absolute_url(), link_label="Open “Sales CRM”")

    assert notifications_resolve(subject=connection, kinds=["broke"]) == 1
    assert notifications_resolve(subject=connection, kinds=["broke"]) == 0  # already resolved
    assert Notification.objects.filter(resolved_at__isnull=False).get().subject_id == connection.pk

    page = client_for(builder).get(reverse("notification_list")).text
    assert "Resolved" in page
    assert "Re-authorize “Sales CRM”" not in page  # resolved: its action is gone
    assert "Re-authorize “Ops CRM”" in page and "Open “Sales CRM”" in page  # the others keep theirs


def test_load_demo_prints_the_sign_in_address_from_splice_base_url(builtin_roles, settings):
    settings.SPLICE_BASE_URL = "https://splice.example.org"
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert "sign in at https://splice.example.org/accounts/login/" in out.getvalue()
    assert "127.0.0.1:8000" not in out.getvalue()


def test_a_403_is_logged_as_one_line(client_for, viewer, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")
    client = client_for(viewer)
    assert client.get(reverse("project_create")).status_code == 403
    (record,) = [record for record in caplog.records if record.name == "django.request"]
    assert record.exc_info is None and "Traceback" not in caplog.text
    assert record.getMessage() == ("Forbidden (Permission denied): /projects/new/ "
                                   "(You need the “Create projects” privilege.)")


def test_in_debug_a_project_someone_cannot_access_gets_splices_own_404(client_for, make_user, project, settings):
    settings.DEBUG = True
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "accounts.middleware.SpliceNotFoundMiddleware"]
    client = client_for(make_user())
    client.raise_request_exception = False
    page = client.get(reverse("project_detail", args=[project.pk]))
    assert page.status_code == 404
    assert "Page not found" in page.text and "This page doesn't exist, or you don't have access to it." in page.text
    assert "URLconf" not in page.text and "admin/" not in page.text  # not Django's list of every URL


def test_home_leads_a_new_user_to_a_first_connection(client_for, make_user):
    page = client_for(make_user()).get(reverse("home")).text
    assert "Start here" in page and "Create your first connection" in page
    assert "Try the demo" not in page  # no demo loaded


def test_home_shows_connections_needing_attention_with_the_fix_and_recent_recipes(client_for, builder, project):
    from recipes import services as recipe_services

    broken = Connection.objects.create(name="Billing API", connector_key="loopback", project=project,
                                       created_by=builder, auth_method="basic", status=Connection.Status.ERROR)
    recipe_services.recipe_create(project=project, name="Forward leads", kind="standard", acting_user=builder)
    page = client_for(builder).get(reverse("home")).text
    assert "1 connection needs attention" in page and "Billing API" in page
    assert reverse("connection_authorize", args=[broken.pk]) in page
    assert "Forward leads" in page and "Stopped" in page and "No jobs yet" in page
    assert "Start here" not in page


def test_sign_in_and_project_forms_use_splices_label_style(client, client_for, builder):
    page = client.get(reverse("account_login")).text
    assert "<h1>Sign in</h1>" in page and ">Sign in</button>" in page
    assert ":</label>" not in page
    page = client_for(builder).get(reverse("project_create")).text
    assert ">Name</label>" in page and ":</label>" not in page

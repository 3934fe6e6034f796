"""A person connects their own (runtime user) account through a job's connect link, with OAuth 2.0 against the
suite's authorization server in Chromium, and is brought back to a page that offers to re-run the job."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts import services as account_services
from accounts.models import ProjectAccess
from connections import runtime_users, services
from connections.models import Connection
from recipes import services as recipe_services
from recipes.models import Recipe
from recipes.runtime.models import Job


def test_a_person_connects_their_own_oauth_account_through_their_link(browser_as, builder, project, make_user,
                                                                     oauth2_server, splice):
    services.oauth_profile_create(connector_key="loopback", name="Loopback", client_id=oauth2_server.client_id,
                                  client_secret=oauth2_server.client_secret, acting_user=builder, is_default=True,
                                  endpoints=oauth2_server.endpoints)
    oauth2_server.add_redirect_uri(f"{splice}/connections/oauth/callback/")
    parent = services.connection_create(
        project=project, connector_key="loopback", name="Team OAuth", acting_user=builder, auth_method="oauth2",
        settings_values={"base_url": oauth2_server.base_url, "authorize_url": oauth2_server.authorize_url,
                         "token_url": oauth2_server.token_url})
    person = make_user("Operator")
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=person)
    recipe = recipe_services.recipe_create(project=project, name="Create a lead as me", acting_user=builder,
                                           kind=Recipe.Kind.CALLABLE)
    job = Job.objects.create(recipe=recipe, trigger_kind=Job.Trigger.CALL, run_as=person, status=Job.Status.FAILED,
                             error="Connect your Loopback account to run this recipe.")
    link = runtime_users.connect_link_path(person=person, parent=parent, recipe_id=recipe.pk, job_id=job.pk)

    page = browser_as(person)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Connect your Loopback account")
    page.get_by_role("button", name="Connect to Loopback").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("ada-pass-123")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Authorize").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(splice)}/my/connections/\d+/connected/\?job={job.pk}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your Loopback account is connected")
    expect(page.get_by_role("button", name=f"Re-run job {job.pk}")).to_be_visible()
    child = Connection.objects.get(parent=parent)
    assert (child.owner, child.status, child.authorized_by) == (person, Connection.Status.CONNECTED, person)
    parent.refresh_from_db()
    assert (parent.status, parent.authorized_at) == (Connection.Status.NOT_CONNECTED, None)  # untouched
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")

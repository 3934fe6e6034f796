"""What the API hands a person to finish in the browser: the authorization URL of an OAuth connection created
through the API leads through the suite's authorization server (its sign-in and consent pages) and back, connected;
and the API's docs render under Splice's Content Security Policy."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from connections import services
from connections.models import Connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_oauth_connection_made_by_the_api_is_authorized_at_its_url(browser_as, builder, project, oauth2_server,
                                                                       splice, client):
    services.oauth_profile_create(connector_key="loopback", name="Loopback", client_id=oauth2_server.client_id,
                                  client_secret=oauth2_server.client_secret, acting_user=builder, is_default=True,
                                  endpoints=oauth2_server.endpoints)
    oauth2_server.add_redirect_uri(f"{splice}/connections/oauth/callback/")
    token = account_services.api_token_create(user=builder, name="Onboarding script")[1]
    body = {"app": "loopback", "name": "Made by a script", "project_id": project.pk, "auth_method": "oauth2",
            "settings": {"base_url": oauth2_server.base_url, "authorize_url": oauth2_server.authorize_url,
                         "token_url": oauth2_server.token_url}}
    response = client.post("/api/v1/connections", json.dumps(body), content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["authorization_status"] == "not_connected"

    page = browser_as(builder)
    page.goto(made["authorization_url"])
    page.get_by_role("button", name="Connect to Loopback").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("ada-pass-123")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Authorize").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(splice)}/connections/{made['id']}/$"))
    expect(page.get_by_role("status").first).to_contain_text(re.compile("connected as ada@example.com", re.I))
    assert Connection.objects.get(pk=made["id"]).status == "connected"
    shown = client.get(f"/api/v1/connections/{made['id']}", headers={"Authorization": f"Bearer {token}"}).json()
    assert shown["authorization_status"] == "connected" and shown["connected_as"] == "ada@example.com"


def test_the_api_docs_render_from_local_files_within_the_csp(browser_as, builder):
    page = browser_as(builder)
    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name=re.compile("Splice API"))).to_be_visible()
    expect(page.get_by_text("/api/v1/connections/{connection_id}/disconnect").first).to_be_visible()

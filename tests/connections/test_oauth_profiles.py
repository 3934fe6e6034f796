"""OAuth profiles in admin (the client secret is write-only and sealed) and from the environment
(SPLICE_OAUTH_<KEY>_CLIENT_ID/SECRET, idempotent); admin never shows a connection's sealed columns."""

from __future__ import annotations

import html
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from connections.catalog import registry
from connections.credentials import open_secret, seal_secret
from connections.models import Connection, OAuthProfile
from connections.oauth_profiles import ENV_PROFILE_NAME, oauth_profiles_sync_from_env
from connections.secrets import Secret

SECRET = "shh-this-is-the-client-secret-1234"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def add_profile(client, **overrides):
    data = {"name": "Production app", "connector_key": "github", "client_id": "Iv1.abc", "new_client_secret": SECRET,
            "make_default": "on", **overrides}
    return client.post(reverse("admin:connections_oauthprofile_add"), data)


def test_admin_seals_the_secret_and_never_shows_it(client_for, admin_user):
    client = client_for(admin_user)
    form = client.get(reverse("admin:connections_oauthprofile_add"))
    assert form.status_code == 200
    assert list(form.context["adminform"].form.fields["connector_key"].choices)[1:] == [
        (spec.key, f"{spec.name} ({spec.key})") for spec in registry().all() if spec.has_oauth]
    response = add_profile(client)
    assert response.status_code == 302, response.context["adminform"].form.errors
    profile = OAuthProfile.objects.get()
    assert profile.is_default and profile.created_by == admin_user
    assert profile.client_secret.startswith("v1:") and SECRET not in profile.client_secret
    assert open_secret(profile, "client_secret") == Secret(SECRET)

    change = page_text(client.get(reverse("admin:connections_oauthprofile_change", args=[profile.pk])))
    assert SECRET not in change and profile.client_secret not in change
    assert "A secret is stored (encrypted, never shown)" in change
    assert 'type="password"' in change


def test_a_blank_secret_keeps_the_current_one_and_a_new_one_replaces_it(client_for, admin_user):
    client = client_for(admin_user)
    add_profile(client)
    profile = OAuthProfile.objects.get()
    url = reverse("admin:connections_oauthprofile_change", args=[profile.pk])
    data = {"name": "Production app", "client_id": "Iv1.new", "new_client_secret": "", "make_default": "on"}
    assert client.post(url, data).status_code == 302
    profile.refresh_from_db()
    assert profile.client_id == "Iv1.new" and open_secret(profile, "client_secret") == Secret(SECRET)

    assert client.post(url, {**data, "new_client_secret": "rotated-secret"}).status_code == 302
    profile.refresh_from_db()
    assert open_secret(profile, "client_secret") == Secret("rotated-secret")


def test_the_list_shows_the_secret_is_set_and_how_many_connections_use_each_profile(
        client_for, admin_user, builder, project):
    from connections.services import connection_create, oauth_profile_create

    used = oauth_profile_create(connector_key="github", name="Used", client_id="a", client_secret="s",
                                acting_user=admin_user)
    oauth_profile_create(connector_key="github", name="Unused", client_id="b", client_secret="",
                         acting_user=admin_user)
    for name in ("One", "Two"):
        connection_create(project=project, connector_key="github", name=name, acting_user=builder,
                          oauth_profile=used)
    response = client_for(admin_user).get(reverse("admin:connections_oauthprofile_changelist"))
    rows = {obj.name: obj for obj in response.context["cl"].result_list}
    assert rows["Used"].connection_count == 2 and rows["Unused"].connection_count == 0
    body = page_text(response)
    assert "•••• set" in body and "not set" in body


def test_making_a_profile_the_default_takes_that_role_from_the_previous_one(client_for, admin_user):
    client = client_for(admin_user)
    add_profile(client, name="First")
    add_profile(client, name="Second", client_id="Iv1.second")
    assert list(OAuthProfile.objects.filter(is_default=True).values_list("name", flat=True)) == ["Second"]


def test_only_oauth_apps_can_have_a_profile(client_for, admin_user):
    response = add_profile(client_for(admin_user), connector_key="stripe")
    assert response.status_code == 200
    assert "connector_key" in response.context["adminform"].form.errors
    assert not OAuthProfile.objects.exists()


def test_a_builder_cannot_open_oauth_profiles_in_admin(client_for, builder):
    response = client_for(builder).get(reverse("admin:connections_oauthprofile_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_connection_admin_shows_no_sealed_column(client_for, admin_user, builder, project):
    from connections.services import connection_create

    connection = connection_create(project=project, connector_key="stripe", name="Stripe", acting_user=builder)
    seal_secret(connection, "api_key", "sk_live_very_secret")
    connection.save()
    sealed = Connection.objects.get(pk=connection.pk).api_key
    client = client_for(admin_user)
    for url in (reverse("admin:connections_connection_changelist"),
                reverse("admin:connections_connection_change", args=[connection.pk])):
        body = page_text(client.get(url))
        assert "sk_live_very_secret" not in body and sealed not in body and "v1:" not in body
    change = client.get(reverse("admin:connections_connection_change", args=[connection.pk]))
    assert set(change.context["adminform"].form.fields) == {"name", "description", "tags"}


# --- from the environment ---------------------------------------------------------------------------------


def test_env_sync_creates_a_default_profile_and_is_idempotent(db):
    environ = {"SPLICE_OAUTH_SLACK_CLIENT_ID": "123.456", "SPLICE_OAUTH_SLACK_CLIENT_SECRET": SECRET,
               "SPLICE_OAUTH_GOOGLE_SHEETS_CLIENT_ID": "g-id", "SPLICE_OAUTH_GOOGLE_SHEETS_CLIENT_SECRET": "g-secret",
               "PATH": "/usr/bin"}
    report = oauth_profiles_sync_from_env(environ)
    assert report.created == ["google_sheets", "slack"] and report.warnings == []
    profile = OAuthProfile.objects.get(connector_key="slack")
    assert (profile.name, profile.client_id, profile.is_default, profile.from_environment) == (
        ENV_PROFILE_NAME, "123.456", True, True)
    assert profile.client_secret.startswith("v1:") and SECRET not in profile.client_secret
    assert open_secret(profile, "client_secret") == Secret(SECRET)

    again = oauth_profiles_sync_from_env(environ)
    assert again.unchanged == ["google_sheets", "slack"] and again.created == again.updated == []
    assert OAuthProfile.objects.count() == 2
    assert OAuthProfile.objects.get(pk=profile.pk).updated_at == profile.updated_at

    rotated = oauth_profiles_sync_from_env({**environ, "SPLICE_OAUTH_SLACK_CLIENT_SECRET": "rotated"})
    assert rotated.updated == ["slack"]
    assert open_secret(OAuthProfile.objects.get(pk=profile.pk), "client_secret") == Secret("rotated")


def test_env_sync_warns_about_what_it_cannot_use_and_goes_on(db):
    report = oauth_profiles_sync_from_env({
        "SPLICE_OAUTH_NOPE_CLIENT_ID": "x", "SPLICE_OAUTH_NOPE_CLIENT_SECRET": "y",
        "SPLICE_OAUTH_STRIPE_CLIENT_ID": "x", "SPLICE_OAUTH_STRIPE_CLIENT_SECRET": "y",
        "SPLICE_OAUTH_GITHUB_CLIENT_ID": "only-the-id",
        "SPLICE_OAUTH_SALESFORCE_SECONDARY_CLIENT_ID": "x", "SPLICE_OAUTH_SALESFORCE_SECONDARY_CLIENT_SECRET": "y",
        "SPLICE_OAUTH_HUBSPOT_CLIENT_ID": "h", "SPLICE_OAUTH_HUBSPOT_CLIENT_SECRET": "h-secret",
    })
    assert report.created == ["hubspot"]
    assert report.warnings == [
        "SPLICE_OAUTH_GITHUB_CLIENT_ID is set but SPLICE_OAUTH_GITHUB_CLIENT_SECRET is not; both are needed. Ignored.",
        "SPLICE_OAUTH_NOPE_CLIENT_ID/SECRET: there is no connector 'nope' in the catalog. Ignored.",
        "SPLICE_OAUTH_SALESFORCE_SECONDARY_CLIENT_ID/SECRET: Salesforce (secondary) uses the OAuth profiles of "
        "'salesforce'; set SPLICE_OAUTH_SALESFORCE_CLIENT_ID/SECRET instead. Ignored.",
        "SPLICE_OAUTH_STRIPE_CLIENT_ID/SECRET: Stripe does not use OAuth. Ignored.",
    ]


def test_an_env_profile_keeps_an_admins_later_choice_of_default(admin_user):
    from connections.services import oauth_profile_create

    environ = {"SPLICE_OAUTH_SLACK_CLIENT_ID": "id", "SPLICE_OAUTH_SLACK_CLIENT_SECRET": "secret"}
    oauth_profiles_sync_from_env(environ)
    oauth_profile_create(connector_key="slack", name="Mine", client_id="m", client_secret="s",
                         acting_user=admin_user, is_default=True)
    oauth_profiles_sync_from_env(environ)
    assert OAuthProfile.objects.get(is_default=True).name == "Mine"


def test_env_profiles_are_read_only_in_admin(client_for, admin_user):
    oauth_profiles_sync_from_env({"SPLICE_OAUTH_SLACK_CLIENT_ID": "id", "SPLICE_OAUTH_SLACK_CLIENT_SECRET": "s"})
    profile = OAuthProfile.objects.get()
    url = reverse("admin:connections_oauthprofile_change", args=[profile.pk])
    response = client_for(admin_user).post(url, {"name": "Hacked", "client_id": "other", "new_client_secret": "x",
                                                 "make_default": "on"})
    assert response.status_code == 302
    profile.refresh_from_db()
    assert (profile.name, profile.client_id) == (ENV_PROFILE_NAME, "id")
    assert open_secret(profile, "client_secret") == Secret("s")


def test_the_sync_oauth_profiles_command(db, monkeypatch):
    monkeypatch.setenv("SPLICE_OAUTH_GITHUB_CLIENT_ID", "Iv1.env")
    monkeypatch.setenv("SPLICE_OAUTH_GITHUB_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("SPLICE_OAUTH_UNKNOWN_APP_CLIENT_ID", "x")
    monkeypatch.setenv("SPLICE_OAUTH_UNKNOWN_APP_CLIENT_SECRET", "y")
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_oauth_profiles", stdout=out, stderr=err)
    assert out.getvalue() == f"github: created the default OAuth profile “{ENV_PROFILE_NAME}”\n"
    assert "there is no connector 'unknown_app'" in err.getvalue()
    assert SECRET not in out.getvalue() + err.getvalue()
    call_command("sync_oauth_profiles", stdout=(out := io.StringIO()), stderr=io.StringIO())
    assert "is up to date" in out.getvalue()


@pytest.mark.parametrize("key", ["github", "GITHUB"])
def test_env_variable_names_are_upper_case(db, key):
    report = oauth_profiles_sync_from_env({f"SPLICE_OAUTH_{key}_CLIENT_ID": "x",
                                           f"SPLICE_OAUTH_{key}_CLIENT_SECRET": "y"})
    assert report.created == (["github"] if key == "GITHUB" else [])


def test_a_profile_is_bound_to_its_apps_endpoints_and_admins_say_which(client_for, admin_user):
    """A new profile is registered for the endpoints its app's spec fixes; an admin may name others (an app on
    a custom domain), and an address that is not an https URL is refused on the form, nothing saved."""
    client = client_for(admin_user)
    assert add_profile(client).status_code == 302
    profile = OAuthProfile.objects.get()
    assert profile.endpoints == ["https://github.com/login/oauth/authorize",
                                 "https://github.com/login/oauth/access_token"]
    change = reverse("admin:connections_oauthprofile_change", args=[profile.pk])
    page = client.get(change)
    assert "https://github.com/login/oauth/access_token" in page_text(page)

    data = {"name": profile.name, "client_id": profile.client_id, "make_default": "on",
            "endpoint_lines": "https://github.example.com/login/oauth/access_token\njavascript:alert(1)"}
    refused = client.post(change, data)
    assert refused.status_code == 200 and "is not an https URL" in page_text(refused)
    profile.refresh_from_db()
    assert profile.endpoints[1] == "https://github.com/login/oauth/access_token"

    data["endpoint_lines"] = ("https://github.example.com/login/oauth/authorize\n"
                              "https://github.example.com/login/oauth/access_token")
    assert client.post(change, data).status_code == 302
    profile.refresh_from_db()
    assert profile.endpoints == ["https://github.example.com/login/oauth/authorize",
                                 "https://github.example.com/login/oauth/access_token"]

"""Personal API tokens: made on the profile page and shown once, kept only as a SHA-256, revocable, marked used (at
most once a minute); a program that presents one acts as its owner, with the owner's privileges and project access
as they are at that moment; a missing, unknown or revoked token is a JSON 401; the token is never logged.

The API answers are asked of GET /api/v1/jobs/<id> (recipes.api), the simplest view behind a token."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken, ProjectAccess
from recipes.runtime.models import Job
from tests.permissions import page_text
from tests.recipes.conftest import make_recipe  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(make_recipe):  # noqa: F811 (the fixture imported above)
    recipe = make_recipe("Look up a customer", kind="callable")
    return Job.objects.create(recipe=recipe, trigger_kind=Job.Trigger.CALL, status=Job.Status.SUCCEEDED,
                              result={"customer": "Ada"})


def api_get(path: str, token: str | None = None, **headers) -> object:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return Client().get(path, headers=headers)


def job_url(job: Job) -> str:
    return reverse("api_job", args=[job.pk])


def create_on_profile(client, name: str):
    return client.post(reverse("api_token_create"), {"name": name})


# --- making, showing once, keeping only the hash --------------------------------------------------------------


def test_a_new_token_is_shown_once_and_only_its_hash_is_kept(client_for, builder):
    client = client_for(builder)
    response = create_on_profile(client, "Billing sync")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=builder)
    text = page_text(response)
    plaintext = _shown_token(response)
    assert plaintext.startswith("spl_") and len(plaintext) >= 40
    assert "Copy it now" in text and "only this once" in text

    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext.startswith(token.prefix) and len(token.prefix) < 12
    stored = [str(value) for value in ApiToken.objects.filter(pk=token.pk).values().get().values()]
    assert not [value for value in stored if plaintext in value or plaintext[len(token.prefix):] in value]

    listed = client.get(reverse("profile"))
    assert plaintext not in listed.text
    assert "Billing sync" in listed.text and f"{token.prefix}…" in page_text(listed)
    assert api_get(job_url_for_nothing(), plaintext).status_code == 404  # it works: the id is simply unknown


def _shown_token(response) -> str:
    """The value of the page's read-only "Your new token" field."""
    from html.parser import HTMLParser

    values = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            if tag == "input" and attributes.get("id") == "new-api-token":
                values.append(attributes["value"])

    Finder().feed(response.content.decode())
    assert len(values) == 1, "the new token is shown in one field"
    return values[0]


def job_url_for_nothing() -> str:
    return reverse("api_job", args=[987654321])


def test_each_token_is_different_and_the_list_shows_name_prefix_created_and_last_used(client_for, builder):
    first, first_plaintext = services.api_token_create(user=builder, name="Nightly export")
    second, second_plaintext = services.api_token_create(user=builder, name="CRM sync")
    assert first_plaintext != second_plaintext and first.token_hash != second.token_hash
    services.api_token_user(first_plaintext)

    text = page_text(client_for(builder).get(reverse("profile")))
    assert "Nightly export" in text and "CRM sync" in text
    assert f"{first.prefix}…" in text and f"{second.prefix}…" in text
    assert "Never" in text  # the second was never used; the first has a time


def test_a_token_needs_a_name_of_its_own(client_for, builder):
    client = client_for(builder)
    response = create_on_profile(client, "   ")
    assert "Name the token" in page_text(response)
    assert not ApiToken.objects.exists()
    assert 'for="api-token-name"' in response.text  # the input is labelled

    create_on_profile(client, "Billing sync")
    again = create_on_profile(client, "billing  SYNC")
    assert "already have a token named" in page_text(again)
    assert ApiToken.objects.count() == 1

    too_long = create_on_profile(client, "x" * 101)
    assert "at most 100 characters" in page_text(too_long)

    services.api_token_revoke(token=ApiToken.objects.get(), acting_user=builder)
    assert create_on_profile(client, "Billing sync").status_code == 200
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1


def test_the_profile_says_when_there_are_no_tokens(client_for, builder):
    text = page_text(client_for(builder).get(reverse("profile")))
    assert "Personal API tokens" in text and "You have no API tokens." in text


# --- revoking ------------------------------------------------------------------------------------------------


def test_revoking_asks_first_then_the_token_gets_401(client_for, builder, job):
    token, plaintext = services.api_token_create(user=builder, name="Old script")
    assert api_get(job_url(job), plaintext).status_code == 200
    client = client_for(builder)
    url = reverse("api_token_revoke", args=[token.pk])

    confirm = client.get(url)
    assert confirm.status_code == 200 and "Revoke the API token “Old script”?" in page_text(confirm)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None  # asking revokes nothing

    done = client.post(url)
    assert done.status_code == 302 and done["Location"] == reverse("profile")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert url not in client.get(reverse("profile")).text  # no longer listed

    refused = api_get(job_url(job), plaintext)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token" and refused.json()["message"]
    assert client.get(url).status_code == 404  # a revoked token cannot be revoked again


def test_nobody_else_can_see_or_revoke_a_persons_token(client, client_for, builder, make_user):
    token, plaintext = services.api_token_create(user=builder, name="Builder's script")
    url = reverse("api_token_revoke", args=[token.pk])

    anonymous = client.get(url)
    assert anonymous.status_code == 302 and reverse("account_login") in anonymous["Location"]
    assert client.post(reverse("api_token_create"), {"name": "Sneaky"}).status_code == 302
    assert client.get(reverse("profile")).status_code == 302

    other = client_for(make_user("Admin"))
    assert other.get(url).status_code == 404
    assert other.post(url).status_code == 404
    assert "Builder's script" not in other.get(reverse("profile")).text
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert ApiToken.objects.filter(name="Sneaky").count() == 0

    with pytest.raises(PermissionDenied):
        services.api_token_revoke(token=token, acting_user=make_user("Builder"))
    assert services.api_token_user(plaintext) == builder


# --- authenticating ------------------------------------------------------------------------------------------


def test_only_a_live_token_of_an_active_person_authenticates(builder):
    token, plaintext = services.api_token_create(user=builder, name="Script")
    assert services.api_token_user(plaintext) == builder
    for wrong in ("", "spl_", plaintext[:-1], plaintext + "x", plaintext.upper(), token.token_hash,
                  "spl_" + "a" * 200, "Bearer " + plaintext):
        assert services.api_token_user(wrong) is None, wrong

    builder.is_active = False
    builder.save(update_fields=["is_active"])
    assert services.api_token_user(plaintext) is None
    builder.is_active = True
    builder.save(update_fields=["is_active"])

    services.api_token_revoke(token=token, acting_user=builder)
    assert services.api_token_user(plaintext) is None


def test_last_used_is_written_at_most_once_a_minute(builder):
    token, plaintext = services.api_token_create(user=builder, name="Busy caller")
    assert token.last_used_at is None
    services.api_token_user(plaintext)
    first_use = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first_use is not None and timezone.now() - first_use < timedelta(seconds=5)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert services.api_token_user(plaintext) == builder
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first_use

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(seconds=61))
    services.api_token_user(plaintext)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first_use


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_token"),
    ({"Authorization": "Basic YWRhOnB3"}, "missing_token"),
    ({"Authorization": "Bearer "}, "missing_token"),
    ({"Authorization": "Bearer spl_not-a-token-anyone-has-0000000000000000000"}, "invalid_token"),
])
def test_a_missing_or_unknown_token_is_a_json_401_with_a_challenge(job, headers, code):
    response = api_get(job_url(job), **headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"  # RFC 9457, like every API error
    assert response.json()["error"] == code and "profile page" in response.json()["message"]
    assert response["WWW-Authenticate"].startswith('Bearer realm="Splice API"')
    assert ('error="invalid_token"' in response["WWW-Authenticate"]) == (code == "invalid_token")
    assert "First item" not in response.text and "Ada" not in response.text


def test_the_scheme_is_case_insensitive_and_a_session_cookie_is_no_credential(client_for, builder, job):
    _token, plaintext = services.api_token_create(user=builder, name="Script")
    assert api_get(job_url(job), Authorization=f"bearer {plaintext}").status_code == 200
    signed_in = client_for(builder)  # the browser session of the token's owner
    assert signed_in.get(job_url(job)).status_code == 401


# --- the owner's privileges and project access ---------------------------------------------------------------


def test_a_token_acts_with_its_owners_privileges_and_project_access_as_they_are_now(job, builder, make_user,
                                                                                     project):
    person = make_user("Viewer")
    _token, plaintext = services.api_token_create(user=person, name="Reader")

    hidden = api_get(job_url(job), plaintext)
    assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"  # not their project
    assert "Look up a customer" not in hidden.text and "Ada" not in hidden.text

    services.project_share(project=project, acting_user=builder, level=ProjectAccess.VIEW, user=person)
    allowed = api_get(job_url(job), plaintext)
    assert allowed.status_code == 200 and allowed.json()["result"] == {"customer": "Ada"}

    person.groups.remove(Group.objects.get(name="Viewer"))  # the role goes: so does what the token may do
    refused = api_get(job_url(job), plaintext)
    assert refused.status_code == 403 and refused.json()["error"] == "missing_privilege"
    assert "View recipes" in refused.json()["message"]


# --- never in a log, an error report or an error page --------------------------------------------------------


def test_the_token_never_reaches_a_log_an_error_email_or_the_debug_page(builder, job, caplog, settings,
                                                                       monkeypatch):
    from recipes import api

    _token, plaintext = services.api_token_create(user=builder, name="Script")
    unknown = "spl_" + "Q" * 43
    settings.ADMINS = ["ops@example.com"]  # Django mails 500s to them: the mail must not hold it
    caplog.set_level(logging.DEBUG)

    assert api_get(job_url(job), unknown).status_code == 401
    assert api_get(job_url(job), plaintext).status_code == 200

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(api, "jobs_for_user", broken)
    client = Client(raise_request_exception=False)
    assert client.get(job_url(job), headers={"Authorization": f"Bearer {plaintext}"}).status_code == 500
    settings.DEBUG = True  # a deployment that forgot to turn it off shows the technical 500 page
    debug_page = client.get(job_url(job), headers={"Authorization": f"Bearer {plaintext}"})
    assert debug_page.status_code == 500 and "the database went away" in debug_page.text

    logged = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    assert "Unauthorized" in logged and "Internal Server Error" in logged  # the 401 and the 500 were logged
    assert mail.outbox and "the database went away" in mail.outbox[0].body  # and the error report was mailed
    secret_part = plaintext[len("spl_") + 6:]  # what the prefix shown in lists does not already say
    for where, text in [("logs", logged), ("error email", "".join(m.body for m in mail.outbox)),
                        ("debug page", debug_page.text)]:
        assert secret_part not in text, where
        assert unknown[10:] not in text, where


# --- admin ---------------------------------------------------------------------------------------------------


def test_admin_lists_tokens_read_only_without_their_hash(client_for, admin_user, builder):
    token, plaintext = services.api_token_create(user=builder, name="Warehouse feed")
    client = client_for(admin_user)
    listing = client.get(reverse("admin:accounts_apitoken_changelist"))
    assert listing.status_code == 200
    assert "Warehouse feed" in listing.text and "builder@example.com" in listing.text
    assert f"{token.prefix}…" in listing.text
    detail = client.get(reverse("admin:accounts_apitoken_change", args=[token.pk]))
    assert detail.status_code == 200
    for page in (listing, detail):
        assert token.token_hash not in page.text and plaintext[10:] not in page.text
    assert client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    assert client.post(reverse("admin:accounts_apitoken_change", args=[token.pk]),
                       {"name": "Renamed"}).status_code == 403
    assert ApiToken.objects.get(pk=token.pk).name == "Warehouse feed"

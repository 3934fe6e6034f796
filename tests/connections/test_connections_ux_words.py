"""Words that mean one thing (issue 16): a first authorization's failure vs a later one, unreadable credentials,
advice that fits the auth method, the missing scope named, relative times, no "Connected as" beside an error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import strip_tags

from connections.catalog import registry
from connections.models import Connection
from connections.problems import RECOMMENDATIONS, Kind, recommendations_for
from connections.status import (
    classify_answer,
    classify_exception,
    first_authorization_verdict,
    fitted_verdict,
    missing_scope,
    relative_time,
)

NOW = timezone.now()


def _method(app: str, key: str):
    return registry().get(app).auth_method(key)


def test_a_first_authorization_with_wrong_credentials_says_they_are_incorrect():
    later = classify_answer(401, app="Loopback")
    first = first_authorization_verdict(later, method=_method("loopback", "basic"), app="Loopback")
    assert later.message == "Credentials were changed or revoked in the app."  # a connection that used to work
    assert first.message == "The username or password is incorrect."
    assert "changed or revoked" not in first.message
    assert first.recommendations == ["Check the username and password and try again."]


def test_the_message_uses_the_methods_own_labels():
    basic = _method("demo_crm", "basic")  # the suite's catalog holds Demo CRM (its Email and Password fields)
    first = first_authorization_verdict(classify_answer(401), method=basic)
    labels = [f.label.lower() for f in basic.credential_fields]
    assert first.message == f"The {labels[0]} or {labels[1]} is incorrect."


def test_a_transient_failure_of_a_first_authorization_offers_to_try_again_without_promising_retries():
    import requests

    verdict = classify_exception(requests.ConnectionError("refused"), app="Loopback")
    assert any("Splice keeps retrying" in tip for tip in verdict.recommendations)  # right for a working connection
    first = first_authorization_verdict(verdict, method=_method("loopback", "basic"))
    assert first.message == "Loopback could not be reached (connection failed)."
    assert all("keeps retrying" not in tip for tip in first.recommendations)
    assert first.recommendations[0].startswith("Try again in a moment")


def test_an_oauth_connection_is_told_to_reauthorize_not_to_check_a_password():
    oauth = _method("loopback", "oauth2")
    revoked = fitted_verdict(classify_answer(401), method=oauth)
    assert all("password" not in tip for tip in revoked.recommendations)
    assert revoked.recommendations[0].startswith("Re-authorize the connection")
    basic = fitted_verdict(classify_answer(401), method=_method("loopback", "basic"))
    assert "double-check the username and password" in basic.recommendations[0]
    # Advice written for one failure is kept as it is.
    own = fitted_verdict(classify_exception(requests_egress_refused()), method=oauth)
    assert own.recommendations == RECOMMENDATIONS[Kind.ADDRESS_REFUSED]


def requests_egress_refused():
    from connections.egress import EgressRefused

    return EgressRefused("refused", "127.0.0.1")


def test_advice_per_reason_fits_the_method():
    assert all("password" not in tip for reason in ("credentials_invalid", "insufficient_permissions",
                                                   "unreachable", "other")
               for tip in recommendations_for(reason, auth_type="oauth2"))
    assert "API key" in recommendations_for("credentials_invalid", auth_type="api_key", credentials="API key")[0]


def test_insufficient_scope_is_named_from_the_challenge_or_the_body():
    challenge = {"WWW-Authenticate": 'Bearer realm="x", error="insufficient_scope", scope="items:write"'}
    assert missing_scope(challenge) == "items:write"
    verdict = classify_answer(403, headers=challenge, app="Loopback")
    assert verdict.kind == Kind.INSUFFICIENT_PERMISSIONS and "“items:write”" in verdict.message
    body = b'{"error": "insufficient_scope", "scope": ["repo", "admin:org"]}'
    assert "“repo admin:org”" in classify_answer(403, body=body, app="GitHub").message
    plain = classify_answer(403, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    assert plain.message == "The user who authorized this connection lacks permission."


def test_unreadable_credentials_are_their_own_reason():
    from connections.client import _unreadable_credentials
    from connections.vault import VaultError

    verdict = _unreadable_credentials(VaultError("row connections.connection:1234 key k-abc is not configured"))
    assert verdict.kind == Kind.CREDENTIALS_UNREADABLE
    assert verdict.message == "Splice cannot open the stored credentials."
    assert "1234" not in verdict.message and "k-abc" not in verdict.message  # vault internals are for admins
    assert "SPLICE_CREDENTIAL_KEYS" in verdict.recommendations[0]
    assert Connection.ErrorReason("credentials_unreadable").label == "Splice cannot open the stored credentials"


@pytest.mark.parametrize(("seconds", "words"), [(0, "just now"), (59, "just now"), (60, "1 minute ago"),
                                                (3 * 3600 + 120, "3 hours ago"), (2 * 86400, "2 days ago")])
def test_relative_times_never_say_zero_minutes(seconds, words):
    # Django's timesince joins number and unit with a no-break space: "3 hours" never breaks across lines.
    assert relative_time(NOW - timedelta(seconds=seconds), now=NOW).replace("\xa0", " ") == words


def _panel(**fields) -> str:
    connection = Connection(name="Ops", connector_key="loopback", identity="ada@example.com", **fields)
    connection.pk = 1
    html = render_to_string("connections/_status_panel.html", {"connection": connection})
    return " ".join(strip_tags(html).split())  # the words a person reads


def test_a_broken_connection_never_says_connected_as_beside_its_error():
    broken = _panel(status="error", error_reason="credentials_invalid", error_message="Credentials were changed.")
    assert "Connected as" not in broken.replace("Last connected as", "")
    assert "Last connected as ada@example.com" in broken
    working = _panel(status="connected")
    assert "Connected as ada@example.com" in working and "Connected Connected" not in working

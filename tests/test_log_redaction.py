"""Capability addresses (a webhook's token, a runtime user connect link) never reach a log line."""

import logging

import pytest

from config.logs import redact_capabilities

TOKEN = "k3JpZ0FmZ2hvc3QtdG9rZW4tdmFsdWU"


@pytest.mark.django_db
def test_a_refused_webhook_delivery_is_logged_without_its_token(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.post(f"/hooks/{TOKEN}/", b"{}", content_type="application/json")
    assert response.status_code == 404
    logged = [record.getMessage() for record in caplog.records if record.name == "django.request"]
    assert logged == ["Not Found: /hooks/[redacted]/"]
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(("line", "expected"), [
    (f'"POST /hooks/{TOKEN}/ HTTP/1.1" 401 52', '"POST /hooks/[redacted]/ HTTP/1.1" 401 52'),
    (f"Not Found: /connect/{TOKEN}/", "Not Found: /connect/[redacted]/"),
    (f"GET /connect/{TOKEN}?next=/x", "GET /connect/[redacted]?next=/x"),
    ("Not Found: /connections/12/", "Not Found: /connections/12/"),
])
def test_only_the_secret_part_of_a_capability_address_is_redacted(line, expected):
    assert redact_capabilities(line) == expected

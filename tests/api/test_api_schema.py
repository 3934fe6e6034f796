"""schemathesis against the schema the API serves (/api/v1/openapi.json), inside pytest: every operation, a bounded
number of generated requests each (hypothesis), authenticated with a real token, on PostgreSQL, with a connection,
a recipe and a job to find. No answer is a server error, and every answer matches the schema."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = pytest.mark.django_db


@pytest.fixture
def _wsgi_keeps_the_test_connection():
    """As Django's test client does: the WSGI handler would close the database connection after each request,
    the test's transaction with it."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _served_schema():
    """The schema /api/v1/openapi.json serves (the same call its view makes; test_the_schema_is_served checks the
    served one is this), to be called through the WSGI application. Collection may not use the database, which a
    request through the middleware does."""
    from api.main import api

    loaded = schemathesis.openapi.from_dict(json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1/"))))
    loaded.app = get_wsgi_application()
    return loaded


schema = _served_schema()


@pytest.fixture(autouse=True)
def _localhost(settings, _wsgi_keeps_the_test_connection):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]  # schemathesis' WSGI client's Host
    settings.SPLICE_API_RATE_LIMIT = 0  # hundreds of requests in a minute from one token: fuzzing, not abuse


@pytest.fixture
def objects(credential_connection, running_recipe, builder):
    """A connection, a recipe using it and a failed job of it, so that generated ids sometimes find something."""
    from recipes.runtime.models import Job

    recipe = running_recipe([("loopback", "new_item", {}), ("loopback", "create_item", {"name": "{{trigger.name}}"})],
                            start=False)
    Job.objects.create(recipe=recipe, trigger_kind=Job.Trigger.POLL, status=Job.Status.FAILED, error="It failed.")
    return recipe


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case, token, objects):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                           checks=[not_a_server_error, response_schema_conformance])


def test_the_schema_is_served_as_openapi_3_1(client):
    served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200
    assert served.json() == schema.raw_schema
    assert served.json()["openapi"].startswith("3.1")

"""The REST API driven as a program drives it: Django's test client (the whole middleware stack) with a personal
API token, on PostgreSQL, against the suite's loopback servers; connections and recipes made with the services."""

from __future__ import annotations

import json

import pytest

from tests.connections.conftest import authorize_oauth2, credential_connection, oauth2_connection  # noqa: F401
from tests.recipes.conftest import make_recipe  # noqa: F401
from tests.recipes.runtime.conftest import running_recipe  # noqa: F401


class Api:
    """api.get("/connections", token=...) -> the response; paths are under /api/v1."""

    def __init__(self, client, token: str | None):
        self.client, self.token = client, token

    def request(self, method: str, path: str, body=None, *, token: str | None | bool = True, **headers):
        token = self.token if token is True else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body) if body is not None else None
        kwargs = {"content_type": "application/json"} if data is not None else {}
        return getattr(self.client, method)(f"/api/v1{path}", data, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("get", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("post", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("patch", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("delete", path, **kw)


@pytest.fixture
def make_token():
    """make_token(user, name="Deploy pipeline") -> the plaintext of a new personal API token."""
    from accounts import services

    def make(user, name: str = "Deploy pipeline") -> str:
        return services.api_token_create(user=user, name=name)[1]

    return make


@pytest.fixture
def token(builder, make_token) -> str:
    return make_token(builder)


@pytest.fixture
def api(client, token) -> Api:
    return Api(client, token)


def problem(response, status: int, error: str | None = None) -> dict:
    """The RFC 9457 problem the response is, checked: its status and, if given, its code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("urn:")
    if error:
        assert body["error"] == error, body
    return body

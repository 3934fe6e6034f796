"""No secret in any API answer: connections of every auth method are created through the API (Basic, API keys in a
header, in the query, a key and secret in headers) and one authorized with OAuth 2.0 for real, then every endpoint's
answers, their refusals included, are searched for every secret used, and for a masked placeholder of one."""

from __future__ import annotations

import pytest

from connections.credentials import open_secret
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db

HEADER_KEY, HEADER_SECRET = "hdr-key-api-77f0c1", "hdr-secret-api-2b9e4d"


def test_no_answer_holds_a_secret(client, builder, token, project, api_server, oauth2_connection, authorize_oauth2,
                                  oauth2_server, running_recipe):
    from recipes.runtime.models import Job

    api = Api(client, token)
    api_server.set_credentials({"username": api_server.username, "password": api_server.password},
                               {"api_key": api_server.api_key}, {"api_key": HEADER_KEY, "api_secret": HEADER_SECRET})
    secrets = {"password": api_server.password, "api key": api_server.api_key, "header key": HEADER_KEY,
               "header secret": HEADER_SECRET, "OAuth client secret": oauth2_server.client_secret}
    answers = []
    made = {}
    for method, credentials in (
            ("basic", {"username": api_server.username, "password": api_server.password}),
            ("bearer", {"api_key": api_server.api_key}), ("query_key", {"api_key": api_server.api_key}),
            ("header_key", {"api_key": HEADER_KEY, "api_secret": HEADER_SECRET})):
        body = {"app": "loopback", "name": f"Via {method}", "project_id": project.pk, "auth_method": method,
                "settings": {"base_url": api_server.base_url}, "credentials": credentials}
        response = api.post("/connections", body)
        assert response.status_code == 201, response.content
        answers.append(response)
        made[method] = response.json()["id"]
        wrong = {name: value + "-wrong" for name, value in credentials.items() if name != "username"}
        answers.append(api.post("/connections", body | {"name": f"Wrong {method}", "credentials": {
            **credentials, **wrong}}))
        answers.append(api.patch(f"/connections/{made[method]}", {"credentials": wrong}))
    oauth = oauth2_connection("Via OAuth")
    oauth, outcome = authorize_oauth2(oauth)
    assert outcome.ok
    secrets["access token"] = open_secret(oauth, "access_token").reveal()
    secrets["refresh token"] = open_secret(oauth, "refresh_token").reveal()
    recipe = running_recipe([("loopback", "new_item", {})], start=False)
    Job.objects.create(recipe=recipe, trigger_kind=Job.Trigger.POLL, status=Job.Status.FAILED)

    for pk in [*made.values(), oauth.pk]:
        answers += [api.get(f"/connections/{pk}"), api.post(f"/connections/{pk}/test"),
                    api.get(f"/connections/{pk}/authorization_url"),
                    api.patch(f"/connections/{pk}", {"description": "Checked"})]
    answers += [api.get("/connections"), api.get("/connections?include_runtime_connections=true"),
                api.get("/recipes"), api.get(f"/recipes/{recipe.pk}"), api.get(f"/recipes/{recipe.pk}/jobs"),
                api.get("/runtime_user_connections"),
                api.post("/runtime_user_connections", {"parent_id": made["basic"]}),
                api.post(f"/connections/{made['bearer']}/disconnect"), api.delete(f"/connections/{made['bearer']}"),
                api.post(f"/connections/{oauth.pk}/disconnect")]
    for job in recipe.jobs.all():
        answers.append(api.get(f"/recipes/{recipe.pk}/jobs/{job.pk}"))
    assert all(answer.status_code < 500 for answer in answers)
    for answer in answers:
        text = answer.content.decode()
        found = [name for name, value in secrets.items() if value and value in text]
        assert not found, (answer.request["PATH_INFO"], found)
        assert "••••" not in text  # not even a placeholder

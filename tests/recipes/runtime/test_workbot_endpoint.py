"""Workbot's chat-command endpoint (POST /workbot/slack/commands) as Slack calls it, through Django's test client:
the signature, linking a chat account with a one-time code, the answers to unlinked people, unknown commands and
missing arguments; and the Workbot trigger's design-time errors. No worker here: these answers start no job, or
the test looks only at the job row (tests/recipes/runtime/test_workbot_commands.py runs them)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ProjectAccess
from recipes.design import design_time_errors
from recipes.models import ChatCommand, ChatLinkCode, ChatUser, Recipe
from recipes.runtime.models import Job
from recipes.workbot import services as workbot

pytestmark = pytest.mark.django_db

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM, SLACK_USER = "T0001TEAM", "U0001ADA"
ENDPOINT = "/workbot/slack/commands"
COMMAND_STEPS = [
    ("workbot", "new_command", {"command": "/item", "arguments": "id [note]"}),
    ("workbot", "return_result", {"text": "Item {{trigger.id}} for {{trigger.person.email}}"}),
]


def signed(body: bytes, *, secret: str = SECRET, stamp: int | None = None) -> dict:
    stamp = int(time.time()) if stamp is None else stamp
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": f"v0={digest}"}


_TRIGGER_IDS = itertools.count(1)


def command_body(text: str = "", *, command: str = "/item", user_id: str = SLACK_USER,
                 response_url: str = "https://hooks.slack.example/commands/T0001/1/secret-token") -> bytes:
    """A slash command's form as Slack posts it: each with a trigger_id of its own."""
    return urlencode({"token": "deprecated", "team_id": TEAM, "team_domain": "acme", "channel_id": "C1",
                      "user_id": user_id, "user_name": "ada", "command": command, "text": text,
                      "response_url": response_url, "trigger_id": f"{next(_TRIGGER_IDS)}.2.3"}).encode()


def post(client, body: bytes, headers: dict | None = None):
    return client.post(ENDPOINT, body, content_type="application/x-www-form-urlencoded",
                       headers=signed(body) if headers is None else headers)


def ephemeral_text(response) -> str:
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    return answer["text"]


@pytest.fixture(autouse=True)
def signing_secret(settings):
    settings.SPLICE_SLACK_SIGNING_SECRET = SECRET
    settings.SPLICE_BASE_URL = "https://splice.example"


@pytest.fixture
def workbot_recipe(make_recipe, builder):
    from recipes import services

    def make(steps=COMMAND_STEPS, *, start: bool = True, name: str = "Look up an item"):
        recipe = make_recipe(name, kind=Recipe.Kind.WORKBOT, steps=steps)
        if start:
            services.recipe_start(recipe=recipe, acting_user=builder)
        recipe.refresh_from_db()
        return recipe

    return make


@pytest.fixture
def linked(builder):
    return workbot.chat_user_link(provider="slack", team_id=TEAM, chat_user_id=SLACK_USER, user=builder,
                                  acting_user=builder)


# --- the signature --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    pytest.param(lambda body: signed(body, secret="another-secret"), id="wrong secret"),
    pytest.param(lambda body: {**signed(body), "X-Slack-Signature": "v0=" + "0" * 64}, id="wrong digest"),
    pytest.param(lambda body: {**signed(body), "X-Slack-Signature": "v1=" + signed(body)["X-Slack-Signature"][3:]},
                 id="wrong version"),
    pytest.param(lambda body: {**signed(body), "X-Slack-Signature": "v0=not-hex"}, id="not hex"),
    pytest.param(lambda body: signed(body, stamp=int(time.time()) - 301), id="stale"),
    # int() drops up to a second, which would bring 301 seconds ahead within the five minutes.
    pytest.param(lambda body: signed(body, stamp=int(time.time()) + 302), id="from the future"),
    pytest.param(lambda body: {"X-Slack-Signature": signed(body)["X-Slack-Signature"]}, id="no timestamp"),
    pytest.param(lambda body: {}, id="no headers"),
])
def test_a_bad_stale_or_missing_signature_is_a_401_and_starts_no_job(client, workbot_recipe, linked, headers):
    workbot_recipe()
    body = command_body("1")
    response = post(client, body, headers(body))
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert Job.objects.count() == 0 and ChatCommand.objects.count() == 0


def test_a_signature_over_another_body_is_refused(client, workbot_recipe, linked):
    workbot_recipe()
    response = post(client, command_body("2"), signed(command_body("1")))
    assert response.status_code == 401 and Job.objects.count() == 0


def test_a_timestamp_within_five_minutes_is_accepted(client, workbot_recipe, linked):
    workbot_recipe()
    body = command_body("1")
    response = post(client, body, signed(body, stamp=int(time.time()) - 290))
    assert "Running “Look up an item”" in ephemeral_text(response)


def test_a_signed_request_sent_again_within_its_five_minutes_starts_nothing_more(client, workbot_recipe, linked):
    workbot_recipe()
    body = command_body("1")
    headers = signed(body, stamp=int(time.time()) - 60)
    assert "Running “Look up an item”" in ephemeral_text(post(client, body, headers))
    replayed = ephemeral_text(post(client, body, headers))
    assert "already received this very request" in replayed
    assert Job.objects.count() == 1 and ChatCommand.objects.count() == 1


def test_the_same_command_posted_twice_runs_twice(client, workbot_recipe, linked):
    workbot_recipe()
    for _ in range(2):
        assert "Running “Look up an item”" in ephemeral_text(post(client, command_body("1")))
    assert Job.objects.count() == 2 and ChatCommand.objects.count() == 2


def test_without_a_signing_secret_the_endpoint_does_not_exist(client, settings, workbot_recipe, linked):
    workbot_recipe()
    settings.SPLICE_SLACK_SIGNING_SECRET = ""
    assert post(client, command_body("1")).status_code == 404
    assert Job.objects.count() == 0


def test_only_post_is_answered(client):
    response = client.get(ENDPOINT)
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_a_signed_body_that_is_not_a_command_is_a_400(client):
    body = b"text=hello"
    response = post(client, body)
    assert response.status_code == 400 and response.json()["error"] == "malformed_command"


def test_a_body_too_large_is_refused_unread(client):
    body = command_body("x" * 20000)
    assert post(client, body).status_code == 413


# --- who is asking -------------------------------------------------------------------------------------------


def test_an_unlinked_chat_user_is_told_how_to_link_their_account(client, workbot_recipe):
    workbot_recipe()
    text = ephemeral_text(post(client, command_body("1")))
    assert "not linked to a Splice account" in text
    assert "<https://splice.example/workbot/link/|Link your chat account>" in text
    assert "`/item link <code>`" in text
    assert Job.objects.count() == 0


def test_a_one_time_code_links_the_chat_account_once(client, workbot_recipe, make_user):
    workbot_recipe()
    rep = make_user("Operator", email="rep@example.com")
    code, expires_at = workbot.link_code_create(user=rep)
    assert re.fullmatch(r"[A-Z2-9]{8}", code)
    assert expires_at - timezone.now() <= timedelta(minutes=10)
    stored = ChatLinkCode.objects.get(user=rep)
    assert code not in stored.code_hash and stored.code_hash != hashlib.sha256(code.encode()).hexdigest()

    text = ephemeral_text(post(client, command_body(f"link {code.lower()}", user_id="U0002REP")))
    assert text == "Linked: your commands now run as rep@example.com in Splice."
    chat_user = ChatUser.objects.get(team_id=TEAM, chat_user_id="U0002REP")
    assert chat_user.user == rep and chat_user.linked_by == rep

    again = ephemeral_text(post(client, command_body(f"link {code}", user_id="U0003EVE")))
    assert "That code does not work" in again
    assert not ChatUser.objects.filter(chat_user_id="U0003EVE").exists()
    assert Job.objects.count() == 0


def test_an_expired_or_replaced_code_links_nothing(client, make_user):
    rep = make_user("Operator", email="rep@example.com")
    old, _ = workbot.link_code_create(user=rep)
    code, _ = workbot.link_code_create(user=rep)  # the newer code replaces the older
    assert "does not work" in ephemeral_text(post(client, command_body(f"link {old}", command="/splice")))
    ChatLinkCode.objects.filter(user=rep).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "does not work" in ephemeral_text(post(client, command_body(f"link {code}", command="/splice")))
    assert ChatUser.objects.count() == 0


def test_a_linked_chat_user_runs_as_the_person_linked_to(client, workbot_recipe, linked, builder):
    recipe = workbot_recipe()
    body = command_body('7 "for the Q3 review"')
    text = ephemeral_text(post(client, body))
    assert text == "Running “Look up an item” as builder@example.com… You will get its answer here."
    job = Job.objects.get()
    assert job.recipe == recipe and job.run_as == builder and job.trigger_kind == Job.Trigger.WORKBOT
    assert job.trigger_data == {"id": "7", "note": "for the Q3 review", "chat_user_id": SLACK_USER, "team_id": TEAM,
                                "person": {"email": "builder@example.com", "name": "builder@example.com"}}
    command = ChatCommand.objects.get(job=job)
    assert command.reply == ChatCommand.Reply.PENDING and command.chat_user == linked
    assert "secret-token" not in str(job.trigger_data)


def test_the_last_argument_takes_the_rest_of_the_line(client, workbot_recipe, linked):
    workbot_recipe()
    ephemeral_text(post(client, command_body("7 call Ada's team back")))
    assert Job.objects.get().trigger_data["note"] == "call Ada's team back"


def test_missing_arguments_get_the_usage_and_start_no_job(client, workbot_recipe, linked):
    workbot_recipe()
    text = ephemeral_text(post(client, command_body("")))
    assert text == "/item needs id. Usage: `/item <id> [note]`"
    assert Job.objects.count() == 0


def test_an_unknown_command_lists_the_commands_the_person_can_use(client, workbot_recipe, linked):
    workbot_recipe()
    text = ephemeral_text(post(client, command_body("1", command="/nothing")))
    assert text == "/nothing is not a Splice command you can use. Commands you can use: /item."
    assert Job.objects.count() == 0


def test_a_command_of_a_project_the_person_cannot_use_is_unknown_to_them(client, workbot_recipe, make_user,
                                                                         builder, project):
    workbot_recipe()
    rep = make_user("Operator", email="rep@example.com")
    workbot.chat_user_link(provider="slack", team_id=TEAM, chat_user_id="U0002REP", user=rep, acting_user=builder)
    text = ephemeral_text(post(client, command_body("1", user_id="U0002REP")))
    assert text == "/item is not a Splice command you can use. No Workbot recipe you can use is running."
    assert Job.objects.count() == 0
    account_services.project_share(project=project, acting_user=builder, level=ProjectAccess.USE, user=rep)
    assert "Running" in ephemeral_text(post(client, command_body("1", user_id="U0002REP")))
    assert Job.objects.get().run_as == rep


def test_a_stopped_recipe_does_not_answer_its_command(client, workbot_recipe, linked):
    workbot_recipe(start=False)
    assert "No Workbot recipe you can use is running" in ephemeral_text(post(client, command_body("1")))
    assert Job.objects.count() == 0


def test_mentions_in_a_recipe_name_are_shown_as_text(client, workbot_recipe, linked):
    workbot_recipe(name="<!channel> look-up")
    assert "“&lt;!channel&gt; look-up”" in ephemeral_text(post(client, command_body("1")))


# --- the trigger's design-time errors --------------------------------------------------------------------------


def _codes(recipe) -> list[str]:
    return [error.code for error in design_time_errors(recipe)]


@pytest.mark.parametrize("inputs, message", [
    ({"command": "opportunity"}, "“opportunity” is not a slash command"),
    ({"command": "/Opportunity"}, "is not a slash command"),
    ({"command": "/opp", "arguments": "account [stage] amount"}, "“amount” is required but follows an optional"),
    ({"command": "/opp", "arguments": "account account"}, "“account” is declared twice"),
    ({"command": "/opp", "arguments": "account-name"}, "“account-name” is not an argument name"),
    ({"command": "/opp", "arguments": "person"}, "“person” is a data pill every command offers already"),
    ({"command": "/opp", "arguments": "api_key"}, "“api_key” is named like a secret"),
])
def test_a_malformed_command_is_a_design_time_error(workbot_recipe, inputs, message):
    recipe = workbot_recipe([("workbot", "new_command", inputs), COMMAND_STEPS[1]], start=False)
    errors = [e for e in design_time_errors(recipe) if e.code == "command_invalid"]
    assert len(errors) == 1 and message in errors[0].message and errors[0].steps == (1,)


def test_a_missing_command_is_a_design_time_error(workbot_recipe):
    recipe = workbot_recipe([("workbot", "new_command", {}), ("workbot", "return_result", {"text": "Done"})],
                            start=False)
    assert _codes(recipe) == ["required_input"]
    assert "“Command” is required" in design_time_errors(recipe)[0].message


def test_a_well_made_workbot_recipe_has_no_errors_and_offers_its_pills(workbot_recipe):
    from recipes.builtins import operation_for

    recipe = workbot_recipe(start=False)
    assert _codes(recipe) == []
    trigger = recipe.steps.get(is_trigger=True)
    assert [o.name for o in operation_for(recipe, trigger).output] == [
        "id", "note", "person.email", "person.name", "chat_user_id", "team_id"]


def test_workbot_steps_belong_in_workbot_recipes(make_recipe):
    recipe = make_recipe("Standard", steps=[("scheduler", "every", {"minutes": 5}), COMMAND_STEPS[1]])
    assert "workbot_only" in _codes(recipe)


def test_a_workbot_recipe_starts_with_a_command(workbot_recipe):
    recipe = workbot_recipe([("scheduler", "every", {"minutes": 5}), COMMAND_STEPS[1]], start=False)
    assert "workbot_without_command_trigger" in _codes(recipe)


def test_a_second_recipe_answering_a_running_command_cannot_start(workbot_recipe, builder):
    from recipes import services
    from recipes.runtime.triggers import trigger_kind, trigger_step

    first = workbot_recipe()
    assert trigger_kind(first, trigger_step(first)) == "command"
    second = workbot_recipe(start=False, name="Another look-up")
    with pytest.raises(services.RecipeHasErrors) as refused:
        services.recipe_start(recipe=second, acting_user=builder)
    assert [e.message for e in refused.value.errors] == [
        "Another running recipe, “Look up an item”, answers /item: stop it, or give this recipe another command."]
    second.refresh_from_db()
    assert not second.running
    services.recipe_stop(recipe=first, acting_user=builder)
    services.recipe_start(recipe=second, acting_user=builder)
    second.refresh_from_db()
    assert second.running

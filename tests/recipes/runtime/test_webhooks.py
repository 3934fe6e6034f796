"""Webhook triggers: a running recipe's address takes deliveries, checks the signature its trigger declares over the
raw body, and starts a job that a worker runs; every refusal has its status and message and starts no job.

The endpoint is driven through Django's test client (the whole middleware stack, real PostgreSQL); the end-to-end
test sends a signed delivery and waits for a real Celery worker to run the job against the API test server.
The signature checks are also held to the published examples of GitHub and Standard Webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import time
import uuid

import pytest
from django.urls import reverse

from connections.catalog import WebhookSignature, registry
from connections.secrets import Secret
from recipes.runtime.models import Job
from recipes.runtime.signatures import SignatureRefused, signature_verify
from tests.conftest import TaskEvents, celery_worker

pytestmark = pytest.mark.django_db

# A Standard Webhooks secret (whsec_ + base64): the loopback connector's one secret for every signed trigger.
SECRET = "whsec_" + base64.b64encode(b"loopback-webhook-signing-key-32b").decode()
BODY = {"id": "item-7", "name": "Delivered by webhook", "nested": {"list": [1, 2.5, True, None]}}


# --- signing, as each app does it ----------------------------------------------------------------------------


def hmac_headers(body: bytes, secret: str = SECRET) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Loopback-Signature": f"sha256={digest}"}


def stripe_headers(body: bytes, secret: str = SECRET, at: int | None = None) -> dict:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={digest}"}


def standard_headers(body: bytes, secret: str = SECRET, at: int | None = None, delivery_id: str | None = None) -> dict:
    at = int(time.time()) if at is None else at
    delivery_id = delivery_id or f"msg_{uuid.uuid4().hex}"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = base64.b64encode(hmac.new(key, f"{delivery_id}.{at}.".encode() + body, hashlib.sha256).digest())
    return {"webhook-id": delivery_id, "webhook-timestamp": str(at), "webhook-signature": f"v1,{digest.decode()}"}


SIGNERS = {"hook_hmac": hmac_headers, "hook_stripe": stripe_headers, "hook_standard": standard_headers,
           "hook_plain": lambda body, secret=SECRET: {}}
SIGNED = ["hook_hmac", "hook_stripe", "hook_standard"]


def encode(payload) -> bytes:
    return json.dumps(payload).encode()


# --- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture
def hooked_connection(project, builder, api_server):
    """A Basic-auth loopback connection to the API server whose webhook signing secret is SECRET (or none)."""
    from connections import services

    def make(secret: str | None = SECRET, name: str = "Loopback with hooks"):
        connection = services.connection_create(
            project=project, connector_key="loopback", name=name, acting_user=builder, auth_method="basic",
            settings_values={"base_url": api_server.base_url},
            secret_settings={"webhook_secret": secret} if secret else None)
        outcome = services.connection_set_credentials(
            connection=connection, acting_user=builder,
            credentials={"username": api_server.username, "password": api_server.password})
        assert outcome.ok, outcome
        connection.refresh_from_db()
        return connection

    return make


@pytest.fixture
def hook_recipe(running_recipe, hooked_connection):
    """hook_recipe(trigger) -> a started recipe: that loopback webhook trigger, then "Create item" named from
    the delivery."""

    def make(trigger: str = "hook_standard", *, secret: str | None = SECRET):
        return running_recipe([("loopback", trigger, {}),
                               ("loopback", "create_item", {"name": "{{trigger.name}}"})],
                              connection=hooked_connection(secret=secret), name=f"Recipe on {trigger}")

    return make


def deliver(client, recipe_or_token, body: bytes, headers: dict | None = None, **extra):
    token = getattr(recipe_or_token, "webhook_token", recipe_or_token)
    return client.post(f"/hooks/{token}/", body, content_type="application/json", headers=headers or {}, **extra)


def refused(response, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    answer = response.json()
    assert answer["error"] == code
    assert answer["message"]
    assert Job.objects.count() == 0
    return answer["message"]


# --- deliveries that start a job -----------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", [*SIGNED, "hook_plain"])
def test_a_delivery_signed_as_its_trigger_says_starts_a_job_with_its_body(client, hook_recipe, settings, trigger):
    recipe = hook_recipe(trigger)
    body = encode(BODY)
    headers = SIGNERS[trigger](body)
    response = deliver(client, recipe, body, headers)
    assert response.status_code == 202, response.content
    answer = response.json()
    job = Job.objects.get()
    assert answer == {"job": job.pk, "status_url": settings.SPLICE_BASE_URL + reverse("job_detail", args=[job.pk])}
    assert (job.recipe, job.trigger_kind, job.status) == (recipe, Job.Trigger.WEBHOOK, Job.Status.PENDING)
    assert job.trigger_data == BODY
    assert job.dedup_key == headers.get("webhook-id")  # Standard Webhooks only: one job per delivery id


def test_the_address_is_absolute_and_regenerating_it_retires_the_old_one(client, hook_recipe, settings):
    from recipes.runtime.triggers import webhook_token_regenerate
    from recipes.webhooks import webhook_url

    settings.SPLICE_BASE_URL = "https://splice.example.com"
    recipe = hook_recipe("hook_plain")
    old = recipe.webhook_token
    assert webhook_url(recipe) == f"https://splice.example.com/hooks/{old}/"
    webhook_token_regenerate(recipe)
    assert recipe.webhook_token != old and len(recipe.webhook_token) >= 40
    refused(deliver(client, old, encode(BODY)), 404, "not_found")
    assert deliver(client, recipe, encode(BODY)).status_code == 202
    assert webhook_url(recipe) == f"https://splice.example.com/hooks/{recipe.webhook_token}/"


def test_a_body_of_exactly_the_limit_is_taken(client, hook_recipe, settings):
    settings.SPLICE_WEBHOOK_MAX_BYTES = 500
    recipe = hook_recipe("hook_hmac")
    body = encode({"name": "x" * (500 - len(encode({"name": ""})))})
    assert len(body) == 500
    assert deliver(client, recipe, body, hmac_headers(body)).status_code == 202


def test_an_array_and_the_http_connectors_whole_body_pill_arrive_under_body(client, hook_recipe):
    from recipes.webhooks import trigger_data

    recipe = hook_recipe("hook_plain")
    assert deliver(client, recipe, b'[{"id": 1}, {"id": 2}]').status_code == 202
    assert Job.objects.get().trigger_data == {"body": [{"id": 1}, {"id": 2}]}
    # The HTTP connector's webhook trigger offers one pill, {{trigger.body}}: the whole delivery.
    http_hook = registry().get("http").operation("webhook")
    assert [out.name for out in http_hook.output] == ["body"]
    assert trigger_data(http_hook, {"order": 12}) == {"body": {"order": 12}}
    assert trigger_data(registry().get("github").operation("new_push"), {"ref": "main"}) == {"ref": "main"}


# --- refusals: each with its status and message, and no job -------------------------------------------------


@pytest.mark.parametrize("trigger", SIGNED)
def test_a_forged_or_tampered_delivery_is_refused_with_401(client, hook_recipe, trigger):
    recipe = hook_recipe(trigger)
    body = encode(BODY)
    sign = SIGNERS[trigger]
    forged = sign(body, secret="whsec_" + base64.b64encode(b"somebody-else's-key-of-32-bytes!").decode())
    refused(deliver(client, recipe, body, forged), 401, "bad_signature")
    tampered = encode({**BODY, "name": "Changed on the way"})
    message = refused(deliver(client, recipe, tampered, sign(body)), 401, "bad_signature")
    assert "does not match" in message
    refused(deliver(client, recipe, body), 401, "bad_signature")  # not signed at all


def test_a_signed_trigger_whose_connection_has_no_secret_takes_nothing(client, hook_recipe):
    recipe = hook_recipe("hook_hmac", secret=None)
    body = encode(BODY)
    message = refused(deliver(client, recipe, body, hmac_headers(body)), 401, "bad_signature")
    assert "no webhook signing secret" in message


def test_the_signature_is_checked_before_the_body_is_read_as_json(client, hook_recipe):
    recipe = hook_recipe("hook_hmac")
    refused(deliver(client, recipe, b"{not json"), 401, "bad_signature")
    refused(deliver(client, recipe, b"{not json", hmac_headers(b"{not json")), 400, "malformed_body")


def test_an_unknown_address_is_404(client, hook_recipe):
    hook_recipe("hook_plain")
    for token in ("x" * 43, "short", "a" * 300, "..%2f..%2fadmin", "a/b", "%F0%9F%99%82" * 10):
        refused(deliver(client, token, encode(BODY)), 404, "not_found")
    refused(client.post("/hooks/", encode(BODY), content_type="application/json"), 404, "not_found")


def test_the_address_without_its_slash_is_taken_too(client, hook_recipe):
    recipe = hook_recipe("hook_plain")
    response = client.post(f"/hooks/{recipe.webhook_token}", encode(BODY), content_type="application/json")
    assert response.status_code == 202, response.content
    assert Job.objects.get().trigger_data == BODY


def test_a_stopped_recipe_is_404(client, hook_recipe, builder):
    from recipes.services import recipe_stop

    recipe = hook_recipe("hook_standard")
    recipe_stop(recipe=recipe, acting_user=builder)
    body = encode(BODY)
    message = refused(deliver(client, recipe, body, standard_headers(body)), 404, "not_found")
    assert "No running recipe" in message


def test_a_recipe_whose_trigger_is_no_webhook_is_404(client, running_recipe):
    from recipes.runtime.triggers import webhook_token_regenerate

    recipe = running_recipe([("scheduler", "every", {"minutes": "5"}),
                             ("loopback", "create_item", {"name": "tick"})])
    webhook_token_regenerate(recipe)  # an address left over from when its trigger was a webhook
    refused(deliver(client, recipe, encode(BODY)), 404, "not_found")


def test_only_post_is_taken(client, hook_recipe):
    recipe = hook_recipe("hook_plain")
    for method in ("get", "put", "delete", "patch"):
        response = getattr(client, method)(f"/hooks/{recipe.webhook_token}/")
        assert response.status_code == 405 and response["Allow"] == "POST"
        assert response.json()["error"] == "method_not_allowed"
    assert Job.objects.count() == 0


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("body, says", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"{not json", "not valid JSON"),
    (b'{"a": 1', "not valid JSON"),
    (b'"just a string"', "object or array"),
    (b"42", "object or array"),
    (b"null", "object or array"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"a": NaN}', "not JSON Splice can keep"),
    (b'{"a": -Infinity}', "not JSON Splice can keep"),
    (b'{"a": 1e999}', "too large"),
    (b'{"a": ' + b"9" * 5000 + b"}", "not JSON Splice can keep"),
    (b'{"a": "nul \\u0000 inside"}', "NUL"),
    (b'{"key \\u0000": 1}', "NUL"),
    (b'{"a": "\\ud800"}', "surrogate"),
    (b"[" * 65 + b"]" * 65, "nested"),
    (DEEP, "nested"),
    (b"payload=%7B%22a%22%3A1%7D", "not valid JSON"),  # GitHub's form content type
])
def test_a_body_that_is_not_a_json_object_or_array_is_400_with_a_message(client, hook_recipe, body, says):
    recipe = hook_recipe("hook_plain")
    message = refused(deliver(client, recipe, body), 400, "malformed_body")
    assert says in message


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it the server read."""

    def read(self, size=-1):
        data = super().read(size)
        self.taken = getattr(self, "taken", 0) + len(data)
        return data


def test_a_declared_length_over_the_limit_is_413_unread(client, hook_recipe, settings):
    settings.SPLICE_WEBHOOK_MAX_BYTES = 1000
    recipe = hook_recipe("hook_plain")
    refused(deliver(client, recipe, encode({"name": "x" * 1000})), 413, "too_large")
    stream = CountingStream(b"x" * 5000)
    response = client.generic("POST", f"/hooks/{recipe.webhook_token}/", b"", CONTENT_TYPE="application/json",
                              CONTENT_LENGTH="5000", **{"wsgi.input": stream})
    assert "1000 bytes" in refused(response, 413, "too_large")
    assert getattr(stream, "taken", 0) == 0


def test_a_chunked_body_over_the_limit_is_413_after_reading_one_byte_more(client, hook_recipe, settings):
    settings.SPLICE_WEBHOOK_MAX_BYTES = 1000
    recipe = hook_recipe("hook_plain")
    # No Content-Length, and a server that ends the stream (gunicorn's wsgi.input_terminated): a chunked request.
    chunked = {"CONTENT_TYPE": "application/json", "wsgi.input_terminated": True}
    stream = CountingStream(encode({"name": "y" * 200_000}))
    response = client.generic("POST", f"/hooks/{recipe.webhook_token}/", b"", **chunked, **{"wsgi.input": stream})
    refused(response, 413, "too_large")
    assert stream.taken == 1001
    small = CountingStream(encode(BODY))
    response = client.generic("POST", f"/hooks/{recipe.webhook_token}/", b"", **chunked, **{"wsgi.input": small})
    assert response.status_code == 202, response.content
    assert Job.objects.get().trigger_data == BODY


def test_a_length_that_lies_low_reads_no_further_than_it_says(client, hook_recipe, settings):
    settings.SPLICE_WEBHOOK_MAX_BYTES = 1000
    recipe = hook_recipe("hook_plain")
    stream = CountingStream(b'{"name": "' + b"z" * 100_000 + b'"}')
    response = client.generic("POST", f"/hooks/{recipe.webhook_token}/", b"", CONTENT_TYPE="application/json",
                              CONTENT_LENGTH="20", **{"wsgi.input": stream})
    refused(response, 400, "malformed_body")  # the 20 bytes it declared are not a whole JSON document
    assert stream.taken == 20


# --- Standard Webhooks: one job per webhook-id, and no replays ----------------------------------------------


def test_a_repeated_webhook_id_starts_no_second_job(client, hook_recipe):
    recipe = hook_recipe("hook_standard")
    body = encode(BODY)
    headers = standard_headers(body, delivery_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
    first = deliver(client, recipe, body, headers)
    assert first.status_code == 202
    again = deliver(client, recipe, body, headers)  # the app retried: it never saw the first answer
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert Job.objects.get().dedup_key == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    assert deliver(client, recipe, body, standard_headers(body)).status_code == 202  # another delivery
    assert Job.objects.count() == 2


@pytest.mark.parametrize("trigger, sign", [("hook_standard", standard_headers), ("hook_stripe", stripe_headers)])
@pytest.mark.parametrize("offset", [-330, 330, -86_400 * 365])  # a margin over 300 s: the clock moves on
def test_a_timestamp_beyond_the_tolerance_is_refused_as_a_replay(client, hook_recipe, trigger, sign, offset):
    recipe = hook_recipe(trigger)
    body = encode(BODY)
    message = refused(deliver(client, recipe, body, sign(body, at=int(time.time()) + offset)), 401, "bad_signature")
    assert "300 seconds" in message
    assert deliver(client, recipe, body, sign(body, at=int(time.time()) - 200)).status_code == 202


# --- secrets stay in the vault -------------------------------------------------------------------------------


def test_the_secret_appears_in_no_job_answer_or_log(client, hook_recipe, caplog):
    caplog.set_level(logging.DEBUG)
    recipe = hook_recipe("hook_hmac")
    body = encode({"name": SECRET, "note": f"the key: {SECRET}!", "id": "1"})
    response = deliver(client, recipe, body, hmac_headers(body))
    assert response.status_code == 202
    stored = json.dumps(Job.objects.get().trigger_data, ensure_ascii=False)
    assert SECRET not in stored and "the key: ••••••!" in stored
    forged = deliver(client, recipe, body, hmac_headers(body, secret="wrong"))
    assert forged.status_code == 401
    expected_digest = hmac_headers(body)["X-Loopback-Signature"].removeprefix("sha256=")
    for text in (response.content.decode(), forged.content.decode(), caplog.text):
        assert SECRET not in text and expected_digest not in text and "the key:" not in text  # nor the body


# --- the signature schemes, against the apps' published examples --------------------------------------------


def verify(scheme: str, secret: str, body: bytes, headers: dict, now: float | None = None, **options):
    signature = WebhookSignature(scheme=scheme, secret="webhook_secret", **options)
    return signature_verify(signature=signature, secret=Secret(secret), body=body, headers=headers, now=now)


def test_github_published_example():
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    github = {"header": "X-Hub-Signature-256", "prefix": "sha256="}
    verify("hmac_sha256", "It's a Secret to Everybody", b"Hello, World!", {"X-Hub-Signature-256": good}, **github)
    verify("hmac_sha256", "It's a Secret to Everybody", b"Hello, World!",
           {"X-Hub-Signature-256": good.upper().replace("SHA256=", "sha256=")}, **github)  # hex in capitals
    for wrong in (good[:-1] + "0", good.removeprefix("sha256="), "sha256=", "sha256=zz", "sha1=" + good[7:]):
        with pytest.raises(SignatureRefused):
            verify("hmac_sha256", "It's a Secret to Everybody", b"Hello, World!", {"X-Hub-Signature-256": wrong},
                   **github)


def test_shopify_style_base64():
    body = b'{"id": 820982911946154508}'
    digest = base64.b64encode(hmac.new(b"shpss_client_secret", body, hashlib.sha256).digest()).decode()
    shopify = {"header": "X-Shopify-Hmac-Sha256", "encoding": "base64"}
    verify("hmac_sha256", "shpss_client_secret", body, {"X-Shopify-Hmac-Sha256": digest}, **shopify)
    with pytest.raises(SignatureRefused):  # the hex of the same digest is not what Shopify sends
        verify("hmac_sha256", "shpss_client_secret", body,
               {"X-Shopify-Hmac-Sha256": base64.b64decode(digest).hex()}, **shopify)


def test_standard_webhooks_published_example():
    # The Standard Webhooks reference libraries' test vector (https://github.com/standard-webhooks/standard-webhooks)
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    secret, body = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", b'{"test": 2432232314}'
    verified = verify("standard_webhooks", secret, body, headers, now=1614265330)
    assert verified.delivery_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    # While a secret is rotated the sender signs with both: one matching signature is enough.
    rotated = {**headers, "webhook-signature": "v1,bm90IHRoaXMgb25l v1a,ignored " + headers["webhook-signature"]}
    verify("standard_webhooks", secret, body, rotated, now=1614265330 + 299)
    refusals = [
        ({**headers, "webhook-signature": "v1a," + headers["webhook-signature"][3:]}, 1614265330),  # not v1
        (headers, 1614265330 + 301),  # stale
        (headers, 1614265330 - 301),  # from the future
        ({**headers, "webhook-id": "msg_other"}, 1614265330),  # the id is signed too
        ({**headers, "webhook-timestamp": "1614265331"}, 1614265331),  # and the time
        ({k: v for k, v in headers.items() if k != "webhook-id"}, 1614265330),
        ({**headers, "webhook-id": "x" * 201}, 1614265330),
    ]
    for bad, now in refusals:
        with pytest.raises(SignatureRefused):
            verify("standard_webhooks", secret, body, bad, now=now)
    with pytest.raises(SignatureRefused, match="not a Standard Webhooks secret"):
        verify("standard_webhooks", "whsec_not base64!", body, headers, now=1614265330)


def test_stripe_style_header():
    body, secret, at = b'{"id": "evt_1", "type": "charge.succeeded"}', "whsec_stripe_endpoint_secret", 1_700_000_000
    good = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    verify("stripe", secret, body, {"Stripe-Signature": f"t={at},v1={good}"}, now=at)
    # Several v1 (a rolled secret) and a v0 the scheme ignores; spaces after commas are tolerated.
    verify("stripe", secret, body, {"Stripe-Signature": f"t={at}, v1={'0' * 64}, v1={good}, v0={'1' * 64}"}, now=at)
    for header, now in [(f"t={at},v0={good}", at), (f"v1={good}", at), (f"t={at},t={at},v1={good}", at),
                        (f"t=soon,v1={good}", at), (f"t={at},v1={good}", at + 301), (f"t={at + 1},v1={good}", at)]:
        with pytest.raises(SignatureRefused):
            verify("stripe", secret, body, {"Stripe-Signature": header}, now=now)


# --- end to end: a real worker runs the job a delivery started ----------------------------------------------

task_events: TaskEvents


@pytest.fixture(scope="module")
def jobs_worker(django_db_setup, tmp_path_factory):
    """A worker consuming a private jobs queue (the jobs and their retries go there); it says as each task ends."""
    global task_events
    queue = f"splice-hooks-{uuid.uuid4().hex[:8]}"
    task_events = TaskEvents(tmp_path_factory.mktemp("events"))
    try:
        with celery_worker(queue, SPLICE_JOBS_QUEUE=queue, SPLICE_TEST_TASK_EVENTS=task_events.path):
            yield queue
    finally:
        task_events.close()


@pytest.mark.django_db(transaction=True)
def test_a_signed_delivery_runs_to_succeeded_on_a_worker(client, hook_recipe, jobs_worker, settings, api_server):
    settings.SPLICE_JOBS_QUEUE = jobs_worker
    recipe = hook_recipe("hook_standard")
    body = encode({"id": "order-1", "name": "Follow up on order 1"})
    started = time.monotonic()
    response = deliver(client, recipe, body, standard_headers(body))
    assert response.status_code == 202 and time.monotonic() - started < 5  # answered before the job runs
    job_id = response.json()["job"]
    job = task_events.wait_for(
        lambda: Job.objects.filter(pk=job_id, status__in=Job.FINISHED).first(), "the job to finish")
    assert job.status == Job.Status.SUCCEEDED, (job.error, list(job.steps.values("status", "error")))
    step = job.steps.get()
    assert step.input == {"name": "Follow up on order 1"} and step.output["name"] == "Follow up on order 1"
    assert json.loads(api_server.last_request()["body"]) == {"name": "Follow up on order 1"}

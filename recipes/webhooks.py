"""Webhook triggers: an app POSTs to a running recipe's unguessable address (/hooks/<token>/) and the body starts a
job, which a worker runs; the answer (202 and the job's id) goes back at once.

The address is the only credential a sender needs unless the trigger declares a signature, which is then checked
over the raw body (recipes.runtime.signatures) before anything is parsed. Every refusal is a JSON answer with a
message, and starts no job: unknown or stopped recipe 404, body too large 413, bad signature 401, not a JSON object
or array 400. Neither the body nor a secret is ever logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from connections.catalog import Trigger
from connections.credentials import connection_secret_values, open_secret_setting
from connections.models import Connection
from recipes.builtins import operation_for
from recipes.models import Recipe, Step
from recipes.runtime.bodies import BodyRefused, json_body
from recipes.runtime.jobs import job_create
from recipes.runtime.masking import Masker
from recipes.runtime.models import Job
from recipes.runtime.signatures import SignatureRefused, signature_verify
from recipes.runtime.triggers import trigger_step

__all__ = ["Delivery", "Listener", "WebhookRefused", "recipe_webhook", "trigger_data", "webhook_deliver",
           "webhook_listener", "webhook_url"]

logger = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")  # what webhook_token_regenerate makes, with room to spare
_READ_CHUNK = 64 * 1024


class WebhookRefused(Exception):
    """A delivery Splice does not take: the HTTP status, a short code and a message for the sender."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_NOT_LISTENING = ("not_found", "No running recipe listens at this address. Check the address in the recipe, "
                  "and that the recipe is started.")


@dataclass(frozen=True)
class Listener:
    """A running recipe whose trigger is a webhook: its trigger step, the trigger, and the trigger's connection."""

    recipe: Recipe
    step: Step
    trigger: Trigger
    connection: Connection | None


@dataclass(frozen=True)
class Delivery:
    """The job a delivery started, or (`duplicate`) the one an earlier delivery of the same webhook-id started."""

    job: Job
    duplicate: bool = False


# --- services --------------------------------------------------------------------------------------------------


def webhook_url(recipe: Recipe) -> str:
    """The absolute address the app posts to; "" until the recipe has one (it gets one when it first starts with a
    webhook trigger, and a new one from recipes.runtime.triggers.webhook_token_regenerate)."""
    if not recipe.webhook_token:
        return ""
    return settings.SPLICE_BASE_URL + reverse("recipe_webhook", args=[recipe.webhook_token])


def webhook_listener(token: str) -> Listener:
    """The running webhook recipe at this address; raises WebhookRefused (404) for any other token. The lookup is
    one unique index probe: the time it takes does not depend on how much of a token is right."""
    recipe = None
    if _TOKEN_RE.match(token):
        recipe = Recipe.objects.filter(webhook_token=token, running=True).select_related("project").first()
    step = trigger_step(recipe) if recipe is not None else None
    trigger = operation_for(recipe, step) if step is not None else None
    if not isinstance(trigger, Trigger) or trigger.kind != "webhook":
        raise WebhookRefused(404, *_NOT_LISTENING)
    binding = recipe.bindings.filter(**step.app_slot.lookup()).select_related("connection").first()
    return Listener(recipe=recipe, step=step, trigger=trigger, connection=binding.connection if binding else None)


def webhook_deliver(*, listener: Listener, body: bytes, headers: Mapping[str, str]) -> Delivery:
    """Verify the delivery (where the trigger declares a signature), read its JSON and start a job with it. A
    Standard Webhooks delivery whose webhook-id has a job already starts no second one. Raises WebhookRefused."""
    recipe, trigger, connection = listener.recipe, listener.trigger, listener.connection
    dedup_key = None
    if trigger.signature is not None:
        secret = open_secret_setting(connection, trigger.signature.secret) if connection is not None else None
        try:
            dedup_key = signature_verify(signature=trigger.signature, secret=secret, body=body,
                                         headers=headers).delivery_id
        except SignatureRefused as refused:
            logger.info("Webhook delivery to recipe %s refused: %s", recipe.pk, refused.message)
            raise WebhookRefused(401, "bad_signature", refused.message) from None
    payload = _parse(body)
    data = trigger_data(trigger, payload)
    if connection is not None:
        data = Masker(connection_secret_values(connection))(data)
    job = job_create(recipe=recipe, trigger_kind=Job.Trigger.WEBHOOK, trigger_data=data, dedup_key=dedup_key)
    if job is None:
        return Delivery(job=Job.objects.get(recipe=recipe, dedup_key=dedup_key), duplicate=True)
    return Delivery(job=job)


def trigger_data(trigger: Trigger, payload: dict | list) -> dict:
    """What the job's data pills read. The body itself when the trigger's outputs are its fields (GitHub's `ref`,
    `pusher.name`); under `body` when the trigger offers the whole body as one pill (the HTTP connector's
    `body`), and for a JSON array, which has no fields to name."""
    whole_body = [out.name for out in trigger.output] == ["body"]
    if isinstance(payload, dict) and not whole_body:
        return payload
    return {"body": payload}


def _parse(body: bytes):
    """The body as a JSON object or array; raises WebhookRefused (400) saying what is wrong with it."""
    if not body.strip():
        raise _malformed("The body is empty: send a JSON object or array.")
    try:
        payload = json_body(body)
    except BodyRefused as exc:
        raise _malformed(str(exc)) from None
    if not isinstance(payload, dict | list):
        raise _malformed("The body must be a JSON object or array.")
    return payload


def _malformed(message: str) -> WebhookRefused:
    return WebhookRefused(400, "malformed_body", message)


# --- the view --------------------------------------------------------------------------------------------------


@csrf_exempt
def recipe_webhook(request: HttpRequest, token: str) -> JsonResponse:
    """POST /hooks/<token>/ from the app; no sign-in: the address (and the signature, where declared) is the
    credential, checked by webhook_listener and webhook_deliver."""
    if request.method != "POST":
        response = _refusal(WebhookRefused(405, "method_not_allowed", "Send deliveries with POST."))
        response["Allow"] = "POST"
        return response
    try:
        listener = webhook_listener(token)
        body = _read_body(request)
        delivery = webhook_deliver(listener=listener, body=body, headers=request.headers)
    except WebhookRefused as refused:
        return _refusal(refused)
    job = delivery.job
    answer = {"job": job.pk, "status_url": settings.SPLICE_BASE_URL + job.get_absolute_url()}
    if delivery.duplicate:
        return JsonResponse({**answer, "duplicate": True}, status=200)
    return JsonResponse(answer, status=202)


def _read_body(request: HttpRequest) -> bytes:
    """The raw body, at most SPLICE_WEBHOOK_MAX_BYTES; raises WebhookRefused (413) for more. A declared length over
    the limit is refused unread; whatever the length says (a chunked body has none), no more than the limit and
    one byte is read."""
    limit = settings.SPLICE_WEBHOOK_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    stream = request
    if not declared.strip() and request.META.get("wsgi.input_terminated"):
        # A chunked body: Django reads nothing without a length, but the server ends the stream (PEP 3333's
        # wsgi.input_terminated, set by gunicorn), so it can be read up to the limit.
        stream = request.META["wsgi.input"]
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise _too_large(limit)
    return b"".join(chunks)


def _too_large(limit: int) -> WebhookRefused:
    return WebhookRefused(413, "too_large", f"The body is larger than {limit} bytes, the most Splice accepts.")


def _refusal(refused: WebhookRefused) -> JsonResponse:
    return JsonResponse({"error": refused.code, "message": refused.message}, status=refused.status)

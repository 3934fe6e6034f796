"""The chat-command endpoint Slack posts to, and the page where a person links their chat account.

POST /workbot/slack/commands needs no sign-in: Slack's signature is the credential (recipes.workbot.slack), checked
over the raw body before anything is read; without a signing secret configured the address does not exist (404).
Refusals start nothing: bad, stale or missing signature 401, body too large 413, not a command 400. Every accepted
command is answered within Slack's 3 seconds with a message only its poster sees; the job runs on a worker.

/workbot/link/ is every signed-in person's: their linked chat accounts and a one-time code to link another. People
who manage users (the "accounts.change_user" permission: Splice's Admin role) also link any chat account to any
person there, and unlink any; Django admin offers the same to them.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from accounts.access import MissingPrivilege
from config.converters import parse_id
from recipes.models import ChatUser
from recipes.workbot import services
from recipes.workbot.forms import ChatUserMapForm
from recipes.workbot.slack import MAX_BODY_BYTES, FormRefused, SignatureRefused, slack_form, slack_signature_verify

__all__ = ["MAP_PRIVILEGE", "link_page", "slack_commands"]

logger = logging.getLogger(__name__)

# Deciding which person a chat account acts as is managing that person's identity: the admin privilege of managing
# users (Admin role) is the closest Splice has.
MAP_PRIVILEGE = "accounts.change_user"
_READ_CHUNK = 4096


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


@csrf_exempt  # Slack posts here; the signature is the credential
def slack_commands(request: HttpRequest) -> JsonResponse:
    """Slack's slash command request: verified, then answered by recipes.workbot.services.command_receive."""
    secret = settings.SPLICE_SLACK_SIGNING_SECRET
    if not secret:
        return _refusal(404, "not_found", "Workbot is not set up here: an admin sets SPLICE_SLACK_SIGNING_SECRET.")
    if request.method != "POST":
        response = _refusal(405, "method_not_allowed", "Slack posts commands here with POST.")
        response["Allow"] = "POST"
        return response
    body = _read_body(request)
    if body is None:
        return _refusal(413, "too_large", f"A command's body is at most {MAX_BODY_BYTES} bytes.")
    try:
        delivery_key = slack_signature_verify(secret=secret, body=body, headers=request.headers)
    except SignatureRefused as refused:
        logger.info("Slack command refused: %s", refused.message)
        return _refusal(401, "bad_signature", refused.message)
    try:
        form = slack_form(body)
    except FormRefused as exc:
        return _refusal(400, "malformed_command", str(exc))
    return JsonResponse(services.command_receive(form, delivery_key=delivery_key).payload)


def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is larger than MAX_BODY_BYTES (a declared length over it is not read)."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.strip().isascii() and declared.strip().isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    while size <= MAX_BODY_BYTES:
        chunk = request.read(min(_READ_CHUNK, MAX_BODY_BYTES + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > MAX_BODY_BYTES else b"".join(chunks)


@login_required
def link_page(request: HttpRequest):
    """GET: the person's chat accounts (and, for admins, everyone's). POST `action`: `code` (a new one-time code,
    shown on this answer only), `unlink` (one's own; an admin's: anyone's), `map` (admins: link a chat account to
    a person)."""
    may_map = request.user.has_perm(MAP_PRIVILEGE)
    form = ChatUserMapForm() if may_map else None
    context = {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "code":
            code, expires_at = services.link_code_create(user=request.user)
            context = {"new_code": code, "code_expires_at": expires_at}
        elif action == "unlink":
            mine = ChatUser.objects.all() if may_map else ChatUser.objects.filter(user=request.user)
            chat_user = get_object_or_404(mine, pk=_id(request.POST.get("chat_user")))
            services.chat_user_unlink(chat_user=chat_user, acting_user=request.user)
            messages.success(request, f"Unlinked the Slack account {chat_user.chat_user_id}: its commands no longer "
                                      "run as anyone.")
            return redirect("workbot_link")
        elif action == "map":
            if not may_map:
                raise MissingPrivilege(MAP_PRIVILEGE)
            form = ChatUserMapForm(request.POST)
            if form.is_valid():
                try:
                    chat_user = services.chat_user_link(
                        provider=ChatUser.Provider.SLACK, team_id=form.cleaned_data["team_id"],
                        chat_user_id=form.cleaned_data["chat_user_id"], user=form.cleaned_data["person"],
                        acting_user=request.user)
                except ValidationError as exc:
                    form.add_error(None, exc)
                else:
                    messages.success(request, f"Commands from the Slack account {chat_user.chat_user_id} now run as "
                                              f"{chat_user.user.email}.")
                    return redirect("workbot_link")
        else:
            raise PermissionDenied("Unknown action.")
    return _page(request, form=form, may_map=may_map, **context)


def _page(request: HttpRequest, *, form, may_map: bool, **context):
    mine = ChatUser.objects.filter(user=request.user).order_by("team_id", "chat_user_id")
    everyone = None
    if may_map:
        everyone = Paginator(ChatUser.objects.select_related("user", "linked_by").order_by("user__email", "pk"),
                             50).get_page(request.GET.get("page"))
    commands = services.commands_for_user(request.user)
    response = render(request, "recipes/workbot/link.html", {
        "chat_users": mine, "everyone": everyone, "page": everyone, "form": form, "may_map": may_map,
        "commands": commands, "example_command": commands[0] if commands else "/splice",
        "endpoint": settings.SPLICE_BASE_URL + reverse("workbot_slack_commands"),
        "code_minutes": services.link_code_minutes(), **context,
    })
    if "new_code" in context:
        response["Cache-Control"] = "no-store"  # the code is shown once and kept nowhere
    return response


def _id(value) -> int:
    return parse_id(value) or 0

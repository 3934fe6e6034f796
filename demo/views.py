"""Demo CRM: the app the demo connection talks to, served by Splice itself so `make run` works offline.

It stands for an app on the internet: its API checks its own credentials (Basic auth with an email and
password, or a bearer API key) and answers as such an app does (401 for wrong credentials). `make run` prints
the demo account's first credentials; its page lets a staff user change them, which breaks every connection
still using the old ones: the next health check finds it. State lives in the cache; it is a demo, not a store.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

DEMO_ACCOUNT = {"email": "sales@demo-crm.example", "password": "demo-crm-password", "api_key": "demo-crm-api-key"}
_CREDENTIALS = "splice:demo-crm:credentials"
_CONTACTS = "splice:demo-crm:contacts"
_TASKS = "splice:demo-crm:tasks"
MAX_CONTACTS = 200
MAX_TASKS = 200


def demo_credentials() -> dict[str, str]:
    """The demo account's current credentials (the defaults until someone changes them)."""
    return cache.get(_CREDENTIALS) or dict(DEMO_ACCOUNT)


def demo_credentials_change() -> dict[str, str]:
    """New password and API key for the demo account: connections using the old ones stop working."""
    changed = {**demo_credentials(), "password": f"demo-{secrets.token_urlsafe(9)}",
               "api_key": f"demo-key-{secrets.token_urlsafe(12)}"}
    cache.set(_CREDENTIALS, changed, timeout=None)
    return changed


def demo_reset() -> None:
    """Back to the demo account's first credentials, no contacts and no tasks."""
    cache.delete_many([_CREDENTIALS, _CONTACTS, _TASKS])


def _authenticated(request: HttpRequest) -> bool:
    account = demo_credentials()
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), account["api_key"].encode())
    if scheme.lower() == "basic":
        try:
            email, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (hmac.compare_digest(email.encode(), account["email"].encode())
                & hmac.compare_digest(password.encode(), account["password"].encode()))
    return False


def demo_only(view):
    """404 unless SPLICE_DEMO_APP is on: a deployment serves no demo by default."""
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.SPLICE_DEMO_APP:
            raise Http404("The demo app is off (SPLICE_DEMO_APP).")
        return view(request, *args, **kwargs)
    return wrapper


def _unauthorized() -> JsonResponse:
    response = JsonResponse({"error": "invalid_credentials", "message": "Wrong email, password or API key."},
                            status=401)
    response["WWW-Authenticate"] = 'Basic realm="Demo CRM"'
    return response


@demo_only
@csrf_exempt  # an API for programs, authenticated by its own credentials, not a browser session
@require_GET
def api_me(request: HttpRequest) -> JsonResponse:
    if not _authenticated(request):
        return _unauthorized()
    return JsonResponse({"email": demo_credentials()["email"], "name": "Demo sales team"})


@demo_only
@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_contacts(request: HttpRequest) -> JsonResponse:
    if not _authenticated(request):
        return _unauthorized()
    contacts = cache.get(_CONTACTS) or []
    if request.method == "GET":
        return JsonResponse(contacts[::-1], safe=False)  # newest first
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "invalid_json", "message": "The body must be a JSON object."}, status=400)
    name = str(body.get("name") or "").strip() if isinstance(body, dict) else ""
    if not name:
        return JsonResponse({"error": "invalid_input", "message": "name is required."}, status=400)
    contact = {"id": (contacts[-1]["id"] + 1) if contacts else 1, "name": name[:200],
               "email": str(body.get("email") or "")[:254]}
    cache.set(_CONTACTS, [*contacts, contact][-MAX_CONTACTS:], timeout=None)
    return JsonResponse(contact, status=201)


@demo_only
@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_tasks(request: HttpRequest) -> JsonResponse:
    """Follow-up tasks (what the demo recipe creates for each new contact), newest first."""
    if not _authenticated(request):
        return _unauthorized()
    tasks = cache.get(_TASKS) or []
    if request.method == "GET":
        return JsonResponse(tasks[::-1], safe=False)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "invalid_json", "message": "The body must be a JSON object."}, status=400)
    title = str(body.get("title") or "").strip() if isinstance(body, dict) else ""
    if not title:
        return JsonResponse({"error": "invalid_input", "message": "title is required."}, status=400)
    task = {"id": (tasks[-1]["id"] + 1) if tasks else 1, "title": title[:200],
            "contact_id": str(body.get("contact_id") or "")[:20], "done": False}
    cache.set(_TASKS, [*tasks, task][-MAX_TASKS:], timeout=None)
    return JsonResponse(task, status=201)


def demo_page_url() -> str:
    """The demo CRM's page, from SPLICE_BASE_URL (never from a request)."""
    return f"{settings.SPLICE_BASE_URL.rstrip('/')}{reverse('demo_crm_account')}"


def demo_api_url() -> str:
    """The address connections use for the demo CRM's API."""
    return f"{demo_page_url()}api"


@demo_only
@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """The demo account's page: where its API answers and as whom. A staff user may change its password and
    API key (once they tick that connections using the old ones will stop working); the new ones are shown
    on that answer only, as apps show a new key once, and never on a page anyone can reload."""
    error, new_credentials = "", None
    if request.method == "POST":
        if not request.user.is_staff:
            raise PermissionDenied("Only an admin can change the demo account's credentials.")
        if request.POST.get("understood") == "on":
            new_credentials = demo_credentials_change()
        else:
            error = "Tick the box to confirm that connections using the current credentials will stop working."
    return render(request, "demo/account.html", {
        "email": demo_credentials()["email"], "api_url": demo_api_url(), "new_credentials": new_credentials,
        "error": error,
    }, status=400 if error else 200)

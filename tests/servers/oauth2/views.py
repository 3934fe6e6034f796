"""Views of the test authorization server: DOT endpoints with counters, APIs and /_control/."""

import json
from datetime import timedelta

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.views import AuthorizationView, TokenView

from tests.servers.oauth2 import state
from tests.servers.oauth2.seed import CONFIDENTIAL_CLIENT_ID, identity_of

REALM = "splice-test-oauth2"


class CountingAuthorizationView(AuthorizationView):
    """DOT's consent view (template overridden for accessible labels) with a request counter."""

    def dispatch(self, request, *args, **kwargs):
        state.count("authorize", request.method)
        return super().dispatch(request, *args, **kwargs)


class CountingTokenView(TokenView):
    """DOT's token endpoint, counted per grant type, optionally slowed, and serialized."""

    def post(self, request, *args, **kwargs):
        grant_type = request.POST.get("grant_type", "unknown")
        state.token_request_started(grant_type)
        status = 500
        try:
            state.token_delay()  # outside TOKEN_LOCK, so concurrent requests overlap during the delay
            with state.TOKEN_LOCK:
                response = super().post(request, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            state.token_request_finished(grant_type, status)


def _bearer_challenge(error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
    params = [f'realm="{REALM}"']
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{description}"')
    if scope:
        params.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(params)


def _authorize(request: HttpRequest, scope: str):
    """Return (access_token, None) for a valid token with ``scope``, else (None, error response)."""
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        response = JsonResponse({"error": "invalid_request", "error_description": "Missing bearer token"}, status=401)
        response["WWW-Authenticate"] = _bearer_challenge()
        return None, response
    valid, oauthlib_request = get_oauthlib_core().verify_request(request, scopes=[scope])
    if valid:
        return oauthlib_request.access_token, None
    error = dict(getattr(oauthlib_request, "oauth2_error", None) or {"error": "invalid_token"})
    if error.get("error") == "insufficient_scope":
        response = JsonResponse({**error, "scope": scope}, status=403)
        response["WWW-Authenticate"] = _bearer_challenge("insufficient_scope", scope=scope)
    else:
        response = JsonResponse(error, status=401)
        response["WWW-Authenticate"] = _bearer_challenge("invalid_token", str(error.get("error_description", "")))
    return None, response


def _counted(view):
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        state.count("api", f"{request.method} {request.path} {response.status_code}")
        return response

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@csrf_exempt
@require_GET
@_counted
def api_me(request: HttpRequest) -> HttpResponse:
    """The token owner's identity; a client-credentials token is identified by its application."""
    token, error = _authorize(request, "read")
    if error:
        return error
    return JsonResponse(identity_of(token))


@csrf_exempt
@require_http_methods(["GET", "POST"])
@_counted
def api_items(request: HttpRequest) -> HttpResponse:
    """GET lists items (scope read); POST echoes a created item (scope write)."""
    token, error = _authorize(request, "read" if request.method == "GET" else "write")
    if error:
        return error
    owner = identity_of(token)
    if request.method == "GET":
        items = [{"id": 1, "name": "First item"}, {"id": 2, "name": "Second item"}]
        return JsonResponse({"owner": owner, "items": items})
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "invalid_json"}, status=400)
    return JsonResponse({"id": 3, "owner": owner, **payload}, status=201)


def _selection(request: HttpRequest, model):
    """Rows of ``model`` selected by ``?user=<email>`` and/or ``?client_id=``."""
    user, client_id = request.GET.get("user"), request.GET.get("client_id")
    rows = model.objects.all()
    if user:
        rows = rows.filter(user__email=user)
    if client_id:
        rows = rows.filter(application__client_id=client_id)
    return rows


def _needs_selector(request: HttpRequest) -> JsonResponse | None:
    if request.GET.get("user") or request.GET.get("client_id"):
        return None
    return JsonResponse({"error": "give ?user=<email> or ?client_id="}, status=400)


@require_GET
def control_health(request):
    return JsonResponse({"ok": True})


@require_GET
def control_stats(request):
    return JsonResponse(state.snapshot())


@csrf_exempt
@require_POST
def control_reset(request):
    """Zero counters, remove the token delay, restore the token lifetime (tokens and URIs stay)."""
    state.reset()
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def control_revoke(request):
    """Revoke every access token, refresh token and grant of a user (or client)."""
    if error := _needs_selector(request):
        return error
    with state.TOKEN_LOCK:
        access_tokens = _selection(request, get_access_token_model())
        revoked_access = access_tokens.count()
        refresh_tokens = list(_selection(request, get_refresh_token_model()).filter(revoked__isnull=True))
        for refresh_token in refresh_tokens:
            refresh_token.revoke()
        access_tokens.delete()
        deleted_grants, _ = _selection(request, get_grant_model()).delete()
    return JsonResponse(
        {"access_tokens": revoked_access, "refresh_tokens": len(refresh_tokens), "grants": deleted_grants}
    )


@csrf_exempt
@require_POST
def control_scope(request):
    """Replace the scope of the selected current access tokens (e.g. drop ``read`` to get 403s)."""
    if error := _needs_selector(request):
        return error
    tokens = _selection(request, get_access_token_model()).filter(expires__gt=timezone.now())
    return JsonResponse({"updated": tokens.update(scope=request.GET.get("scope", ""))})


@csrf_exempt
@require_POST
def control_expire(request):
    """Expire the selected access tokens now; their refresh tokens stay usable."""
    if error := _needs_selector(request):
        return error
    tokens = _selection(request, get_access_token_model())
    return JsonResponse({"updated": tokens.update(expires=timezone.now() - timedelta(seconds=1))})


@csrf_exempt
@require_POST
def control_token_delay(request):
    state.set_knob("token_delay_ms", int(request.GET.get("ms", "0")))
    return JsonResponse({"token_delay_ms": state.knob("token_delay_ms")})


@csrf_exempt
@require_POST
def control_token_lifetime(request):
    """Lifetime in seconds of access tokens issued from now on."""
    state.set_knob("access_token_seconds", int(request.GET["seconds"]))
    return JsonResponse({"access_token_seconds": state.knob("access_token_seconds")})


@csrf_exempt
@require_POST
def control_redirect_uri(request):
    """Set the confidential client's redirect URIs (``uri`` may repeat); ``add=1`` appends."""
    uris = request.GET.getlist("uri")
    client_id = request.GET.get("client_id", CONFIDENTIAL_CLIENT_ID)
    application = get_application_model().objects.get(client_id=client_id)
    if request.GET.get("add"):
        uris = [*application.redirect_uris.split(), *uris]
    application.redirect_uris = " ".join(dict.fromkeys(uris))
    application.save(update_fields=["redirect_uris", "updated"])
    return JsonResponse({"client_id": client_id, "redirect_uris": application.redirect_uris.split()})


@require_GET
def authorization_server_metadata(request):
    """RFC 8414 metadata; whether it says the authorization response carries `iss` (RFC 9207) is a knob."""
    issuer = request.build_absolute_uri("/").rstrip("/")
    return JsonResponse({
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/o/authorize/",
        "token_endpoint": f"{issuer}/o/token/",
        "revocation_endpoint": f"{issuer}/o/revoke_token/",
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": state.knob("iss_supported"),
    })


@csrf_exempt
@require_POST
def control_iss_supported(request):
    """Whether the metadata says authorization responses carry `iss` (reset: no)."""
    state.set_knob("iss_supported", request.GET.get("on") == "1")
    return JsonResponse({"iss_supported": state.knob("iss_supported")})

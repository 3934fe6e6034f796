"""Runtime user connection pages: the connect link a job gives its person, and "My connections" (a person's own
connections of the apps recipes run as them: re-authorize, test, disconnect, delete).

Every signed-in person may use these pages for their own connections; nothing else is needed, because a
connection made here is theirs alone and usable only through the recipe that asked for it. Seeing and acting on
other people's needs "Manage runtime user connections" (connections.manage_runtime_connections); anyone else's
connection, or link, is a 404. Re-authorizing is the owner's alone: the credentials become whoever authorizes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.models import User
from config.converters import parse_id
from connections import runtime_users, services
from connections.auth import auth_for
from connections.catalog import origin_of, registry
from connections.client import resolved_auth
from connections.forms import CredentialsForm
from connections.models import Connection
from connections.oauth import connection_authorize_begin
from connections.problems import ConnectionProblem
from connections.runtime_users import LinkRefused, LinkSpent, MyConnectionFilters
from connections.status import CheckOutcome

PAGE_SIZE = 50


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _spec_or_404(connection: Connection):
    spec = connection.app_slot.spec_or_none
    if spec is None:
        raise Http404("No such app")
    return spec


def _connected_url(child: Connection, job_id: int | None) -> str:
    url = reverse("my_connection_connected", args=[child.pk])
    return f"{url}?job={job_id}" if job_id else url


def _allow_form_redirect_to_app(response, connection: Connection) -> None:
    """The Connect button's POST answers with a redirect to the app's authorization server, which the Content
    Security Policy's form-action must name on this page (as connections.views does for its wizard)."""
    try:
        authorize_url = resolved_auth(connection).authorize_url
    except ConnectionProblem:
        return
    response._csp_config = {**settings.SECURE_CSP,
                            "form-action": [*settings.SECURE_CSP.get("form-action", []), origin_of(authorize_url)]}


def _authorize(request, *, parent: Connection, child: Connection | None, person: User, job_id: int | None,
               link=None):
    """The app's wizard for a child: the credentials form (Basic, API key) or the OAuth redirect. The child is made
    on the first submit (`child` None); `link`, when given, is spent once the person is connected (or sent to
    the app's consent page)."""
    spec = _spec_or_404(parent)
    method = spec.auth_method(parent.auth_method)
    auth = auth_for(method.type)
    form = outcome = None
    if auth.uses_credentials_form:
        form = CredentialsForm(request.POST or None, spec=spec, method_key=method.key,
                               initial={"username": child.username if child else ""})
    if request.method == "POST" and (form is None or form.is_valid()) and (form is not None or auth.redirects(method)):
        if child is None:
            child = runtime_users.child_for_link(link=link, person=person, ip=_ip(request))
        runtime_users.child_prepare_authorize(child)
        if form is not None:
            outcome = services.connection_set_credentials(
                connection=child, acting_user=person, credentials=form.credentials(),
                secret_settings=form.secret_values(), ip=_ip(request))
            if outcome.ok:
                _spend(link)
                messages.success(request, f"Your {parent.app_slot.label} account is connected. {outcome.message}.")
                return redirect(_connected_url(child, job_id))
        else:
            if not request.session.session_key:
                request.session.save()
            request.session["connection_next"] = _connected_url(child, job_id)
            try:
                url = connection_authorize_begin(connection=child, acting_user=person,
                                                 session_key=request.session.session_key)
            except ConnectionProblem as problem:
                outcome = CheckOutcome(ok=False, verdict=problem.verdict)
            else:
                _spend(link)
                return redirect(url)
    context = {"parent": parent, "child": child, "spec": spec, "method": method, "form": form, "outcome": outcome,
               "redirects": auth.redirects(method), "usable": form is not None or auth.redirects(method),
               "job_id": job_id}
    response = render(request, "connections/runtime/connect.html", context, status=400 if outcome else 200)
    if auth.redirects(method):
        _allow_form_redirect_to_app(response, child or parent)
    return response


def _spend(link) -> None:
    if link is not None:
        try:
            runtime_users.connect_link_use(link)
        except LinkSpent:
            pass  # two submits at once: the person is connected either way


# --- the connect link --------------------------------------------------------------------------


@login_required
@sensitive_post_parameters()
def runtime_connect(request, token: str):
    """A job's link for exactly one person: connect (or re-authorize) their own account of the recipe's app."""
    try:
        link = runtime_users.connect_link_read(token=token, user=request.user)
    except LinkRefused:
        raise Http404("No such link") from None
    except LinkSpent as spent:
        return render(request, "connections/runtime/link_spent.html", {"reason": str(spent)}, status=410)
    child = runtime_users.child_connection_for(request.user, link.parent)
    return _authorize(request, parent=link.parent, child=child, person=request.user, job_id=link.job_id, link=link)


# --- my connections ------------------------------------------------------------------------------


@login_required
def my_connections(request):
    """The person's runtime user connections; everyone's, filterable by person and app, for those who manage them."""
    manages = runtime_users.may_manage_others(request.user)
    filters = MyConnectionFilters.from_query(request.GET)
    page = Paginator(runtime_users.my_connections_for_user(request.user, filters), PAGE_SIZE).get_page(
        request.GET.get("page"))
    recipes = runtime_users.recipes_of_parents(list({c.parent_id for c in page.object_list}))
    rows = [(child, recipes.get(child.parent_id, [])) for child in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {"page": page, "rows": rows, "filters": filters, "manages": manages, "page_query": query.urlencode(),
               "apps": registry().apps() if manages else []}
    return render(request, "connections/runtime/my_connections.html", context)


@login_required
def my_connection_detail(request, pk: int):
    child = runtime_users.child_for_user_or_404(request.user, pk)
    recipes = runtime_users.recipes_of_parents([child.parent_id]).get(child.parent_id, [])
    context = {"child": child, "spec": _spec_or_404(child), "recipes": recipes,
               "mine": child.owner_id == request.user.pk, "events": child.audit_events.select_related("actor")[:10]}
    return render(request, "connections/runtime/my_connection_detail.html", context)


@login_required
def my_connection_connected(request, pk: int):
    """Where connecting brings the person back: they may re-run the job that asked them to connect."""
    child = runtime_users.child_for_user_or_404(request.user, pk, own_only=True)
    context = {"child": child, "job_id": parse_id(request.GET.get("job", "")),
               "connected": child.status == Connection.Status.CONNECTED}
    return render(request, "connections/runtime/connected.html", context)


@login_required
@sensitive_post_parameters()
def my_connection_reauthorize(request, pk: int):
    child = runtime_users.child_for_user_or_404(request.user, pk, own_only=True)
    return _authorize(request, parent=child.parent, child=child, person=request.user, job_id=None)


@login_required
@require_POST
def my_connection_test(request, pk: int):
    child = runtime_users.child_for_user_or_404(request.user, pk)
    outcome = services.connection_test(connection=child, acting_user=request.user, ip=_ip(request))
    (messages.success if outcome.ok else messages.error)(request, f"Test: {outcome.message}")
    return redirect("my_connection_detail", pk=child.pk)


@login_required
def my_connection_disconnect(request, pk: int):
    """Erase the credentials (asks to confirm first): jobs that run as this person stop until they connect again."""
    child = runtime_users.child_for_user_or_404(request.user, pk)
    if request.method == "POST":
        services.connection_disconnect(connection=child, acting_user=request.user, ip=_ip(request))
        messages.success(request, f"“{child.name}” is disconnected; its credentials were erased.")
        return redirect("my_connection_detail", pk=child.pk)
    return render(request, "connections/runtime/confirm.html", {"child": child, "action": "disconnect"})


@login_required
def my_connection_delete(request, pk: int):
    """Delete a disconnected child (asks to confirm first)."""
    child = runtime_users.child_for_user_or_404(request.user, pk)
    error = ""
    if request.method == "POST":
        try:
            services.connection_delete(connection=child, acting_user=request.user, ip=_ip(request))
        except ValidationError as exc:
            error = exc.messages[0]
        else:
            messages.success(request, f"“{child.name}” was deleted.")
            return redirect("my_connections")
    return render(request, "connections/runtime/confirm.html", {"child": child, "action": "delete", "error": error},
                  status=400 if error else 200)

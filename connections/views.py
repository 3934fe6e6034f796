"""Connection pages and the OAuth callback.

Each view checks a privilege (accounts.access) and narrows to the projects the user may access
(connections.selectors), so another project's connection is a 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render

from accounts.access import privilege_required
from connections.oauth import AuthorizationRefused, connection_authorize_complete
from connections.selectors import connections_for_user


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


@privilege_required("connections.view_connection")
def connection_list(request):
    connections = connections_for_user(request.user).select_related("project")
    page = Paginator(connections, 50).get_page(request.GET.get("page"))
    return render(request, "connections/connection_list.html", {"page": page})


@privilege_required("connections.view_connection")
def connection_detail(request, pk: int):
    connection = get_object_or_404(connections_for_user(request.user).select_related("project"), pk=pk)
    return render(request, "connections/connection_detail.html", {"connection": connection})


@login_required
def oauth_callback(request):
    """Where apps send the browser back. Only the user and session that began the flow can finish it."""
    try:
        connection, outcome = connection_authorize_complete(
            params=request.GET.dict(), acting_user=request.user, session_key=request.session.session_key,
            ip=client_ip(request),
        )
    except AuthorizationRefused as refused:
        return render(request, "connections/oauth_refused.html", {"message": str(refused)}, status=400)
    if outcome.ok:
        messages.success(request, f"“{connection.name}” is connected. {outcome.message}.")
    else:
        messages.error(request, f"“{connection.name}” could not be connected: {outcome.message}")
    return redirect(connection)

"""Connection pages."""

from django.core.paginator import Paginator
from django.shortcuts import render

from accounts.access import privilege_required
from connections.selectors import connections_for_user


@privilege_required("connections.view_connection")
def connection_list(request):
    connections = connections_for_user(request.user).select_related("project")
    page = Paginator(connections, 50).get_page(request.GET.get("page"))
    return render(request, "connections/connection_list.html", {"page": page})

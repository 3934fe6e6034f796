"""Health pages: the summary (counts, oldest failures, the sweep's schedule) and "Check all" on a project (a
person's notifications are accounts' pages, accounts.views).

Privileges and project access as everywhere (connections.views): the summary needs "View connections" and
counts only connections in projects the user can see; "Check all" needs "Test connections" and use access
to the project (else 404).
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import privilege_required
from accounts.models import ProjectAccess
from accounts.selectors import project_for_user_or_404
from connections import health
from connections.selectors import health_summary_for_user


@privilege_required("connections.view_connection")
def health_summary(request):
    return render(request, "connections/health.html", {"summary": health_summary_for_user(request.user)})


@privilege_required("connections.test_connection")
@require_POST
def project_check_all(request, project_pk: int):
    project = project_for_user_or_404(request.user, project_pk, ProjectAccess.USE)
    count = health.project_check_all(project=project, acting_user=request.user)
    if count:
        messages.success(request, f"Checking {count} connection{'s' if count != 1 else ''} in the background; "
                                  "their status updates here when each check is done.")
    else:
        messages.info(request, "No connection in this project is connected or failing: nothing to check.")
    return redirect(project)

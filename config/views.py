"""The pages that compose every app, so they sit above accounts, connections and recipes (none of which imports
another app above it): the home page, and a project's page with its connections, those needing attention, its
recipes and who can access it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import services as account_services
from accounts.forms import ShareProjectForm
from accounts.models import Project, ProjectAccess
from accounts.selectors import project_for_user_or_404, project_members, projects_for_user
from connections.selectors import connections_needing_attention


def home(request):
    """Signed-in people land in their default project; everyone else at sign-in."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    project = request.user.default_project
    if project is not None and projects_for_user(request.user).filter(pk=project.pk).exists():
        return redirect(project)
    return redirect("project_list")


@login_required
def project_detail(request, pk: int):
    """Project access only (a project the user cannot view is a 404); what each section offers to do is gated
    by the privileges the template checks and, again, by the views those links lead to."""
    project = project_for_user_or_404(request.user, pk)
    return _project_page(request, project, share_form=ShareProjectForm())


@login_required
@require_POST
def project_share(request, pk: int):
    """Manage access to the project (a 404 without it); no privilege beyond that."""
    project = project_for_user_or_404(request.user, pk, ProjectAccess.MANAGE)
    form = ShareProjectForm(request.POST)
    if form.is_valid():
        email, role, level = form.cleaned_data["email"], form.cleaned_data["role"], form.cleaned_data["level"]
        try:
            if email:
                # The same answer whether or not an account has this email: the sharer must not learn which do.
                account_services.project_share_with_email(project=project, acting_user=request.user, email=email,
                                                          level=level)
            else:
                account_services.project_share(project=project, acting_user=request.user, level=level, group=role)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if email:
                messages.success(request, f"Shared “{project.name}” with {email.lower()}. Someone without a Splice "
                                          "account gets this access once they sign up and verify that address.")
            else:
                messages.success(request, f"Shared “{project.name}” with the {role.name} role.")
            return redirect(project)
    return _project_page(request, project, share_form=form, status=400)


def _project_page(request, project: Project, *, share_form: ShareProjectForm, status: int = 200):
    can_manage = request.user.has_perm(f"accounts.{ProjectAccess.MANAGE.value}", project)
    context = {
        "project": project,
        "can_use": request.user.has_perm(f"accounts.{ProjectAccess.USE.value}", project),
        "connections": project.connections.all()[:50],
        "attention": connections_needing_attention(project.connections.all()),
        "recipes": project.recipes.all()[:50],
        "can_manage": can_manage,
        "members": project_members(project) if can_manage else None,
        "share_form": share_form if can_manage else None,
    }
    return render(request, "project_detail.html", context, status=status)

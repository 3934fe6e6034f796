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
from connections.selectors import connections_for_user, connections_needing_attention
from demo.home import demo_card_for_user
from recipes.runtime.selectors import jobs_for_user
from recipes.selectors import recipes_for_user

HOME_ROWS = 5  # of each list on the home page: it leads on, the lists behind it are complete


def home(request):
    """Where signing in lands: what needs attention (broken connections, with the fix), recent recipes and jobs,
    what to do first for someone who has nothing yet, and the demo while it is loaded. Everyone else signs in."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    user = request.user
    projects = list(projects_for_user(user))
    can_view_connections = user.has_perm("connections.view_connection")
    can_view_recipes = user.has_perm("recipes.view_recipe")
    connections = connections_for_user(user, projects=projects)
    attention = list(connections_needing_attention(connections, limit=HOME_ROWS)) if can_view_connections else []
    recipes = (list(recipes_for_user(user).select_related("project").order_by("-updated_at", "-pk")[:HOME_ROWS])
               if can_view_recipes else [])
    jobs = (list(jobs_for_user(user).select_related("recipe").only(
        "id", "status", "created_at", "error", "recipe__name", "recipe__id")[:HOME_ROWS]) if can_view_recipes else [])
    has_connections = can_view_connections and connections.exists()
    default_project = user.default_project if user.default_project_id in {p.pk for p in projects} else None
    return render(request, "home.html", {
        "attention": attention, "recipes": recipes, "jobs": jobs, "has_connections": has_connections,
        "is_new": not has_connections and not recipes, "default_project": default_project,
        "project_count": len(projects), "demo": demo_card_for_user(user),
    })


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

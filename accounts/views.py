"""Projects (list, create, removing access), profile and personal API tokens, a person's notifications and the
error pages. A project's
page, which shows every app's part of it, and the home page are above the apps, in config.views."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest, HttpResponseServerError
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.views.decorators.http import require_POST

from accounts import roles, services
from accounts.access import MissingPrivilege, privilege_name, privilege_required
from accounts.forms import ProfileForm, ProjectForm
from accounts.models import ApiToken, ProjectAccess
from accounts.selectors import notifications_for_user, project_for_user_or_404, projects_for_user
from config.converters import parse_id


@login_required
def project_list(request):
    projects = projects_for_user(request.user).select_related("created_by")
    query = request.GET.get("q", "").strip()
    if query:
        projects = projects.filter(name__icontains=query)
    page = Paginator(projects, 25).get_page(request.GET.get("page"))
    page_query = urlencode({"q": query}) if query else ""
    return render(request, "accounts/project_list.html", {"page": page, "query": query, "page_query": page_query})


@privilege_required("accounts.add_project")
def project_create(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.project_create(
            name=form.cleaned_data["name"], description=form.cleaned_data["description"], acting_user=request.user
        )
        messages.success(request, f"Project “{project.name}” created.")
        return redirect(project)
    return render(request, "accounts/project_form.html", {"form": form})


@login_required
@require_POST
def project_unshare(request, pk: int):
    project = project_for_user_or_404(request.user, pk, ProjectAccess.MANAGE)
    # People by email, never by id: an id would let a manager read any account's email from the answer.
    email = request.POST.get("email", "").strip().lower()
    try:
        if email:
            services.project_unshare_email(project=project, acting_user=request.user, email=email)
            who = email
        elif request.POST.get("group"):
            group_id = parse_id(request.POST["group"])
            if group_id is None:  # not a form Splice rendered: its roles' ids are numbers
                return HttpResponseBadRequest("Choose one of the roles listed.", content_type="text/plain")
            group = get_object_or_404(Group, pk=group_id)
            services.project_unshare(project=project, acting_user=request.user, group=group)
            who = f"the {group.name} role"
        else:
            messages.error(request, "Choose whose access to remove.")
            return redirect(project)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Removed {who} from “{project.name}”.")
    return redirect(project)


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("profile")
    return _profile_page(request, form=form)


def _profile_page(request, *, form: ProfileForm | None = None, **context):
    """The profile page, with the person's API tokens in use (their own only: a token acts as them)."""
    tokens = ApiToken.objects.filter(user=request.user, revoked_at__isnull=True).order_by("-created_at", "-pk")
    return render(request, "accounts/profile.html", {
        "form": form or ProfileForm(instance=request.user), "roles": request.user.groups.order_by("name"),
        "api_tokens": tokens, **context,
    })


# --- personal API tokens: the signed-in person's own; someone else's id is a 404 ---------------------------


@login_required
@require_POST
def api_token_create(request):
    """Make a token and show it on the profile page, this once: the answer is not redirected (a redirect would
    need the plaintext kept somewhere until the next page) and no cache keeps it."""
    name = request.POST.get("name", "")
    try:
        token, plaintext = services.api_token_create(user=request.user, name=name)
    except ValidationError as exc:
        return _profile_page(request, token_name=name[:200], token_error=" ".join(exc.messages))
    response = _profile_page(request, new_token=token, new_token_plaintext=plaintext)
    response["Cache-Control"] = "no-store"
    return response


@login_required
def api_token_revoke(request, pk: int):
    """GET asks to confirm; POST revokes, and programs that send the token get 401 from then on."""
    token = get_object_or_404(ApiToken.objects.filter(user=request.user, revoked_at__isnull=True), pk=pk)
    if request.method == "POST":
        services.api_token_revoke(token=token, acting_user=request.user)
        messages.success(request, f"Revoked “{token.name}”: programs that send it are refused from now on.")
        return redirect("profile")
    return render(request, "accounts/api_token_revoke.html", {"token": token})


# --- notifications: the signed-in person's own; someone else's are neither listed nor touched --------------


@login_required
def notification_list(request):
    page = Paginator(notifications_for_user(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "accounts/notifications.html", {"page": page})


@login_required
@require_POST
def notification_read(request, pk: int):
    """Mark one of the person's notifications read (someone else's id changes nothing)."""
    services.notifications_mark_read(recipient=request.user, ids=[pk])
    return redirect("notification_list")


@login_required
@require_POST
def notification_read_all(request):
    count = services.notifications_mark_read(recipient=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read.")
    return redirect("notification_list")


def error_403(request, exception=None):
    """Names the missing privilege and who grants it by role: never the admins' addresses, which anyone signed in
    could otherwise collect (ask an admin through the deployment's usual channel)."""
    missing = exception.privilege if isinstance(exception, MissingPrivilege) else None
    context = {"missing_privilege": privilege_name(missing) if missing else None, "admin_role": roles.ADMIN}
    return render(request, "403.html", context, status=403)


def error_404(request, exception=None):
    return render(request, "404.html", status=404)


def error_500(request):
    """Rendered without the request: whatever broke must not break the error page too."""
    return HttpResponseServerError(loader.get_template("500.html").render({}))

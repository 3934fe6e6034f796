"""Privilege management in Django admin: users and their roles, roles and their privileges,
projects and who may access them (guardian's object-permission pages); people's API tokens, to look at."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, Permission
from django.db.models import Count
from guardian.admin import GuardedModelAdmin

from accounts import roles
from accounts.models import ApiToken, Project, ProjectInvitation, Role, User


def _permission(dotted: str) -> tuple[str, str]:
    app_label, codename = dotted.split(".", 1)
    return app_label, codename


class PrivilegesField(forms.MultipleChoiceField):
    """Splice's privileges by their readable names, grouped (Projects, Connections, Recipes, Administration): what a
    role can carry, instead of every permission Django makes for every model. Its value is the Permission rows."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Each privilege lets the role do one thing. Project access (which projects a "
                                       "role sees, uses or manages) is given on each project's page.")
        super().__init__(choices=self._choices, **kwargs)

    @staticmethod
    def _choices() -> list[tuple[str, list[tuple[str, str]]]]:
        names = {f"{app_label}.{codename}": name for app_label, codename, name in Permission.objects.filter(
            content_type__app_label__in=["accounts", "connections", "recipes"]).values_list(
            "content_type__app_label", "codename", "name")}
        names[roles.MANAGE_USERS_AND_ROLES] = roles.MANAGE_USERS_AND_ROLES_LABEL
        return [(area, [(key, names[key]) for key in keys if key in names]) for area, keys in roles.PRIVILEGE_GROUPS]

    @staticmethod
    def offered_permissions() -> list[Permission]:
        """Every Permission row the field manages (the privileges, and those behind "Manage users and roles")."""
        dotted = [key for _, keys in roles.PRIVILEGE_GROUPS for key in keys if key != roles.MANAGE_USERS_AND_ROLES]
        return _permissions([*dotted, *roles.USER_ADMIN_PERMISSIONS])

    @staticmethod
    def initial_for(permissions) -> list[str]:
        held = {f"{perm.content_type.app_label}.{perm.codename}" for perm in permissions}
        chosen = [key for _, keys in roles.PRIVILEGE_GROUPS for key in keys if key in held]
        if set(roles.USER_ADMIN_PERMISSIONS) <= held:
            chosen.append(roles.MANAGE_USERS_AND_ROLES)
        return chosen

    @staticmethod
    def permissions_for(chosen: list[str]) -> list[Permission]:
        dotted = [key for key in chosen if key != roles.MANAGE_USERS_AND_ROLES]
        if roles.MANAGE_USERS_AND_ROLES in chosen:
            dotted += roles.USER_ADMIN_PERMISSIONS
        return _permissions(dotted)


def _permissions(dotted: list[str]) -> list[Permission]:
    wanted = {_permission(key) for key in dotted}
    rows = Permission.objects.select_related("content_type").filter(
        content_type__app_label__in={app for app, _ in wanted}, codename__in={code for _, code in wanted})
    return [perm for perm in rows if (perm.content_type.app_label, perm.codename) in wanted]


class RoleForm(forms.ModelForm):
    """A role's name and its privileges. Permissions outside Splice's privileges that a role holds (given by other
    means) are left as they are."""

    privileges = PrivilegesField(label="Privileges")

    class Meta:
        model = Role
        fields = ["name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["privileges"].initial = PrivilegesField.initial_for(
                self.instance.permissions.select_related("content_type"))

    def save_privileges(self, role: Role) -> None:
        offered = {perm.pk for perm in PrivilegesField.offered_permissions()}
        kept = [pk for pk in role.permissions.values_list("pk", flat=True) if pk not in offered]
        chosen = [perm.pk for perm in PrivilegesField.permissions_for(self.cleaned_data["privileges"])]
        role.permissions.set([*kept, *chosen])


admin.site.unregister(Group)


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    """A role is a Django group, listed under Splice's heading; who may manage roles is who holds auth's group
    permissions (the Admin role's "Manage users and roles")."""

    form = RoleForm
    fields = ["name", "privileges"]
    list_display = ["name", "privilege_count", "member_count"]
    search_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self, request):
        # Counted in the list's one query, not once per row.
        return super().get_queryset(request).annotate(
            privileges_held=Count("permissions", distinct=True), members=Count("user", distinct=True))

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        form.save_privileges(form.instance)

    def _may(self, request, action: str) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(f"auth.{action}_group")

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request, "view") or self._may(request, "change")

    def has_add_permission(self, request) -> bool:
        return self._may(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may(request, "change")

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may(request, "delete")

    @admin.display(description="Privileges", ordering="privileges_held")
    def privilege_count(self, obj: Role) -> int:
        return obj.privileges_held

    @admin.display(description="Members", ordering="members")
    def member_count(self, obj: Role) -> int:
        return obj.members


class UserPrivilegesField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Permission) -> str:
        return obj.name


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "roles", "is_staff", "is_active"]
    list_filter = ["groups", "is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "default_project")}),
        ("Roles and privileges", {
            "fields": ("is_active", "is_staff", "is_superuser", "groups", "pending_role", "user_permissions"),
            "description": "Roles carry privileges; give a person roles rather than single privileges.",
        }),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    raw_id_fields = ["default_project"]

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name == "user_permissions":
            return UserPrivilegesField(
                queryset=Permission.objects.filter(pk__in=[perm.pk for perm in _permissions(roles.SPLICE_PRIVILEGES)])
                .select_related("content_type").order_by("content_type__app_label", "name"),
                required=False, label="Extra privileges", widget=forms.CheckboxSelectMultiple,
                help_text="Privileges this person has besides their roles' (prefer giving a role).")
        if db_field.name == "groups":
            kwargs["label"] = "Roles"
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="Roles")
    def roles(self, obj: User) -> str:
        return ", ".join(group.name for group in obj.groups.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")


@admin.register(Project)
class ProjectAdmin(GuardedModelAdmin):
    """Use "Object permissions" on a project to choose who may view, use or manage it."""

    list_display = ["name", "created_by", "is_personal", "created_at"]
    list_filter = ["is_personal"]
    search_fields = ["name", "created_by__email"]
    raw_id_fields = ["created_by"]


@admin.register(ProjectInvitation)
class ProjectInvitationAdmin(admin.ModelAdmin):
    """Access shared with an address no account had; it becomes that access when someone verifies the address."""

    list_display = ["email", "project", "level", "invited_by", "created_at"]
    search_fields = ["email", "project__name"]
    raw_id_fields = ["project", "invited_by"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Who has which API tokens, and whether they are used: read only, and never the hash (what a token is checked
    against). A person revokes their own on their profile page; deactivating a user stops all of theirs at once."""

    list_display = ["name", "user", "shown_prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "user__email", "prefix"]
    list_select_related = ["user"]
    fields = ["name", "user", "shown_prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields

    @admin.display(description="Token")
    def shown_prefix(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…"

    def has_add_permission(self, request) -> bool:
        return False  # a token's plaintext is shown to its owner, once: an admin cannot make one for them

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

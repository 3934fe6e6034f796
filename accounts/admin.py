"""Privilege management in Django admin: users and their roles, roles and their privileges,
projects and who may access them (guardian's object-permission pages); people's API tokens, to look at."""

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, Permission
from guardian.admin import GuardedModelAdmin

from accounts.models import ApiToken, Project, ProjectInvitation, User


class PrivilegeChoiceField(forms.ModelMultipleChoiceField):
    """Shows "Connections: Create connections" instead of "connections | connection | Can add connection"."""

    def label_from_instance(self, obj: Permission) -> str:
        app_label = obj.content_type.app_label
        area = apps.get_app_config(app_label).verbose_name if apps.is_installed(app_label) else app_label
        return f"{area}: {obj.name}"


def _privilege_field(db_field, request, **kwargs):
    queryset = Permission.objects.select_related("content_type").order_by("content_type__app_label", "name")
    return PrivilegeChoiceField(
        queryset=queryset,
        required=False,
        label=kwargs.get("label", "Privileges"),
        widget=admin.widgets.FilteredSelectMultiple("privileges", is_stacked=False),
        help_text="Each privilege lets the role do one thing. Type to filter.",
    )


admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(BaseGroupAdmin):
    """A role is a Django group; its permissions are Splice privileges."""

    list_display = ["name", "privilege_count", "member_count"]

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name == "permissions":
            return _privilege_field(db_field, request, label="Privileges")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="Privileges")
    def privilege_count(self, obj: Group) -> int:
        return obj.permissions.count()

    @admin.display(description="Members")
    def member_count(self, obj: Group) -> int:
        return obj.user_set.count()


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
            return _privilege_field(db_field, request, label="Extra privileges")
        if db_field.name == "groups":
            kwargs["label"] = "Roles"
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

"""The built-in roles and the privileges each carries. A role is a Django Group; a privilege is a
Django permission with a readable name. Admins change both in Django admin."""

from __future__ import annotations

ADMIN = "Admin"
BUILDER = "Builder"
OPERATOR = "Operator"
VIEWER = "Viewer"

# Every privilege a Splice role can carry, as "app_label.codename".
SPLICE_PRIVILEGES = [
    "accounts.add_project",
    "connections.add_connection",
    "connections.view_connection",
    "connections.change_connection",
    "connections.delete_connection",
    "connections.test_connection",
    "connections.manage_connectors",
    "connections.view_auditlog",
    "recipes.add_recipe",
    "recipes.view_recipe",
    "recipes.change_recipe",
    "recipes.delete_recipe",
    "recipes.start_recipe",
]

# Admins also manage users and roles in Django admin.
_USER_ADMIN = [
    "accounts.add_user",
    "accounts.change_user",
    "accounts.delete_user",
    "accounts.view_user",
    "auth.add_group",
    "auth.change_group",
    "auth.delete_group",
    "auth.view_group",
    "auth.view_permission",
]

BUILTIN_ROLES: dict[str, list[str]] = {
    ADMIN: SPLICE_PRIVILEGES + _USER_ADMIN,
    BUILDER: [
        "accounts.add_project",
        "connections.add_connection",
        "connections.view_connection",
        "connections.change_connection",
        "connections.delete_connection",
        "connections.test_connection",
        "recipes.add_recipe",
        "recipes.view_recipe",
        "recipes.change_recipe",
        "recipes.delete_recipe",
        "recipes.start_recipe",
    ],
    OPERATOR: [
        "connections.view_connection",
        "connections.test_connection",
        "connections.view_auditlog",
        "recipes.view_recipe",
        "recipes.start_recipe",
    ],
    VIEWER: [
        "connections.view_connection",
        "recipes.view_recipe",
    ],
}


def sync_builtin_roles(apps) -> None:
    """Create the built-in roles with their privileges (idempotent; used by a data migration)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran; the roles need them now. (create_permissions
    # skips an app without a models module, which historical apps never have; each is put back as it was.)
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, privileges in BUILTIN_ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for dotted in privileges:
            app_label, codename = dotted.split(".")
            perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.add(*perms)

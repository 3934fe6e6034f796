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
    "connections.manage_runtime_connections",
    "recipes.add_recipe",
    "recipes.view_recipe",
    "recipes.change_recipe",
    "recipes.delete_recipe",
    "recipes.start_recipe",
]

# Admins also manage users and roles in Django admin: the Django permissions behind "Manage users and roles".
USER_ADMIN_PERMISSIONS = [
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
    ADMIN: SPLICE_PRIVILEGES + USER_ADMIN_PERMISSIONS,
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


# What a role's admin page offers, grouped as people think of them: each Splice privilege by its readable name
# (its permission's name), and "Manage users and roles" standing for USER_ADMIN_PERMISSIONS together.
MANAGE_USERS_AND_ROLES = "manage_users_and_roles"
PRIVILEGE_GROUPS: list[tuple[str, list[str]]] = [
    ("Projects", ["accounts.add_project"]),
    ("Connections", [
        "connections.view_connection", "connections.add_connection", "connections.change_connection",
        "connections.delete_connection", "connections.test_connection",
    ]),
    ("Recipes", [
        "recipes.view_recipe", "recipes.add_recipe", "recipes.change_recipe", "recipes.delete_recipe",
        "recipes.start_recipe",
    ]),
    ("Administration", [
        "connections.manage_connectors", "connections.view_auditlog", "connections.manage_runtime_connections",
        MANAGE_USERS_AND_ROLES,
    ]),
]
MANAGE_USERS_AND_ROLES_LABEL = "Manage users and roles"


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
            # A privilege added after this app's data migration does not exist yet when that migration runs:
            # the migration that creates it grants it to the roles (connections 0010 for runtime connections).
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.add(*perms)

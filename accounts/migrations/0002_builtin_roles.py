"""The built-in roles: Admin, Builder, Operator, Viewer (accounts.roles says what each carries)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from accounts.roles import sync_builtin_roles

    sync_builtin_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("connections", "0001_initial"),
        ("recipes", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]

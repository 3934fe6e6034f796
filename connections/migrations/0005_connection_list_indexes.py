"""Indexes for the connections page: the list (with the owner, so counting what a user sees needs no table
reads), the navigation's count of connections in error, and the expiring-credentials notice; and for the
recipe editor, an app's connections in the order its lists show them."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_builtin_roles'),
        ('connections', '0004_health_schedule'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='connection',
            name='connection_list_idx',
        ),
        migrations.AddIndex(
            model_name='connection',
            index=models.Index(fields=['project', 'owner', 'name'], name='connection_list_idx'),
        ),
        migrations.RemoveIndex(
            model_name='connection',
            name='connection_app_idx',
        ),
        migrations.AddIndex(
            model_name='connection',
            index=models.Index(fields=['connector_key', 'slot', 'status', 'name', 'id'], name='connection_app_idx'),
        ),
        migrations.AddIndex(
            model_name='connection',
            index=models.Index(fields=['status', 'project', 'owner'], name='connection_attention_idx'),
        ),
        migrations.AddIndex(
            model_name='connection',
            index=models.Index(fields=['status', 'refresh_token_expires_at'], name='connection_expiry_idx'),
        ),
    ]

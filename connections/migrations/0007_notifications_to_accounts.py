"""Notifications belong to people: copy connections' notifications to accounts.Notification (whose subject is
generic), keeping their ids (links and queued email tasks name them), times and read/emailed state, with the
connection as their subject and the words the page and the email showed for them. 0008 drops the old table.
Backwards, the notifications about connections go back to connections_notification."""

from django.core.management.color import no_style
from django.db import migrations

BATCH = 1000

# What connections.notifications writes for each kind today.
KIND_LABELS = {
    "broke": "Connection needs attention",
    "recovered": "Connection working again",
    "expiring": "Credentials expiring soon",
}
WHY_SENT = "You get this because you own this connection or manage its project."


def _link_label(kind: str, connection) -> str:
    if connection is None:
        return ""
    return f"{'Open' if kind == 'recovered' else 'Re-authorize'} “{connection.name}”"


def _reset_sequence(schema_editor, model) -> None:
    """Rows were inserted with their ids: the next new one must not collide with them (PostgreSQL)."""
    with schema_editor.connection.cursor() as cursor:
        for sql in schema_editor.connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(sql)


def _connection_type(apps):
    ContentType = apps.get_model("contenttypes", "ContentType")
    return ContentType.objects.get_or_create(app_label="connections", model="connection")[0]


def to_accounts(apps, schema_editor):
    Old = apps.get_model("connections", "Notification")
    New = apps.get_model("accounts", "Notification")
    if not Old.objects.exists():
        return
    connection_type = _connection_type(apps)
    last = 0
    while rows := list(Old.objects.filter(pk__gt=last).select_related("connection").order_by("pk")[:BATCH]):
        last = rows[-1].pk
        New.objects.bulk_create([
            New(id=row.pk, recipient_id=row.recipient_id, kind=row.kind, kind_label=KIND_LABELS.get(row.kind, ""),
                reason=row.reason, subject_type=connection_type, subject_id=row.connection_id, title=row.title,
                body=row.body, link=row.link, link_label=_link_label(row.kind, row.connection), why_sent=WHY_SENT,
                created_at=row.created_at, read_at=row.read_at, emailed_at=row.emailed_at)
            for row in rows
        ])
    _reset_sequence(schema_editor, New)


def to_connections(apps, schema_editor):
    Old = apps.get_model("connections", "Notification")
    New = apps.get_model("accounts", "Notification")
    Connection = apps.get_model("connections", "Connection")
    about_connections = New.objects.filter(subject_type=_connection_type(apps), kind__in=list(KIND_LABELS))
    last = 0
    while rows := list(about_connections.filter(pk__gt=last).order_by("pk")[:BATCH]):
        last = rows[-1].pk
        existing = set(Connection.objects.filter(pk__in={row.subject_id for row in rows}).values_list("pk", flat=True))
        copies = Old.objects.bulk_create([
            Old(id=row.pk, recipient_id=row.recipient_id, kind=row.kind, reason=row.reason,
                connection_id=row.subject_id if row.subject_id in existing else None, title=row.title, body=row.body,
                link=row.link, read_at=row.read_at, emailed_at=row.emailed_at)
            for row in rows
        ])
        # created_at is auto_now_add there: the insert set it to now.
        for copy, row in zip(copies, rows, strict=True):
            copy.created_at = row.created_at
        Old.objects.bulk_update(copies, ["created_at"])
        New.objects.filter(pk__in=[row.pk for row in rows]).delete()
    _reset_sequence(schema_editor, Old)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_notifications"),
        ("connections", "0006_credential_origins"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(to_accounts, to_connections),
    ]

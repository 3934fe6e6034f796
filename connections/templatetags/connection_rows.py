"""The connections table's rows, formatted in Python: a page holds 50 rows of a dozen lookups each, which took
the template engine twice as long (the markup is the same)."""

from django import template
from django.utils.dateformat import format as format_date
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime

from connections.status import relative_time
from connections.templatetags.splice_ui import app_icon, status_badge

register = template.Library()

_ROW = ('<tr><td class="app-cell" data-label="App">{} {}</td><td data-label="Connection"><a href="{}">{}</a>{}</td>'
        '<td data-label="Project">{}</td><td data-label="Status">{}</td><td data-label="Environment">{}</td>'
        '<td data-label="Used by">{}</td><td data-label="Last checked">{}</td></tr>')
_SANDBOX = mark_safe('<span class="badge warn">Sandbox</span>')
_PRODUCTION = mark_safe('<span class="badge">Production</span>')
_NOT_USED = mark_safe('<span class="muted">Not used yet</span>')
_NEVER = mark_safe('<span class="muted">Never</span>')


@register.simple_tag
def connection_row(connection, spec):
    """App, name and account, project, status (with the error's reason), environment, usage, last check."""
    # A broken connection is no longer signed in as anyone: say whom it was.
    identity = format_html('<div class="muted small email">{} as {}</div>',
                           "Last connected" if connection.status == connection.Status.ERROR else "Connected",
                           connection.identity) if connection.identity else ""
    used = connection.recipe_count
    usage = (f"Used by {used} recipe{'' if used == 1 else 's'} ({connection.running_count} running)" if used
             else _NOT_USED)
    checked = connection.last_checked_at
    last_check = format_html('<time class="nobreak" datetime="{}">{}</time>', format_date(localtime(checked), "c"),
                             relative_time(checked)) if checked else _NEVER
    return format_html(
        _ROW, app_icon(spec), (spec.name if spec else "") or connection.connector_key, connection.get_absolute_url(),
        connection.name, identity, connection.project.name, status_badge(connection),
        _SANDBOX if connection.environment == "sandbox" else _PRODUCTION, usage, last_check,
    )

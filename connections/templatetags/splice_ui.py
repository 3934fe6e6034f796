"""Small pieces of markup that pages repeat for every row (app icons, status badges), built in Python
because a template include per row costs more than the row itself."""

from django import template
from django.templatetags.static import static
from django.utils.dateformat import time_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def app_icon(spec):
    """The app's letter badge (or its image); hidden from screen readers, which read the app's name beside it."""
    if spec is None:
        return mark_safe('<span class="app-icon" aria-hidden="true">?</span>')
    if spec.icon.file:
        return format_html('<img class="app-icon" src="{}" alt="" width="28" height="28">', static(spec.icon.file))
    # An SVG, whose colour is an attribute: the Content Security Policy blocks style="" attributes.
    return format_html('<svg class="app-icon" viewBox="0 0 28 28" aria-hidden="true"><rect width="28" height="28"'
                       ' rx="6" fill="{}"/><text x="14" y="14" fill="currentColor">{}</text></svg>',
                       spec.icon.color, spec.icon.letter)


@register.simple_tag
def status_badge(connection):
    """Connected / the error's reason ("App unreachable since 10:42") / Disconnected / Not connected."""
    status = connection.status
    if status == "connected":
        return mark_safe('<span class="badge ok">Connected</span>')
    if status == "error":
        if connection.error_reason == "unreachable":
            since = f" since {time_format(connection.error_since, 'H:i')}" if connection.error_since else ""
            label = f"App unreachable{since}"
        else:
            label = connection.get_error_reason_display() or "Error"
        return format_html('<span class="badge err">{}</span>', label)
    if status == "disconnected":
        return mark_safe('<span class="badge">Disconnected</span>')
    return mark_safe('<span class="badge warn">Not connected</span>')

"""How the jobs pages show a job's numbers and records: durations a person reads at a glance, records as indented
JSON (escaped by the template like any text), and a status badge whose colour follows the status."""

from __future__ import annotations

import json

from django import template
from django.utils.html import format_html

register = template.Library()

MAX_RECORD_CHARS = 20_000  # of one record on the page; the rest is cut (the record itself is kept whole)
_BADGE_CLASSES = {"succeeded": "ok", "failed": "err", "running": "run", "pending": "wait", "retrying": "warn"}


@register.filter
def duration(milliseconds: int | None) -> str:
    """850 ms, 3.2 s, 4 min 5 s, 2 h 10 min; an em dash when there is none yet."""
    if milliseconds is None:
        return "—"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def pretty_json(value) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_RECORD_CHARS:
        return text[:MAX_RECORD_CHARS] + f"\n… ({len(text) - MAX_RECORD_CHARS:,} more characters not shown)"
    return text


@register.simple_tag
def job_status_badge(record) -> str:
    """The status of a job or a step, as a badge."""
    return format_html('<span class="badge job-status {}">{}</span>', _BADGE_CLASSES.get(record.status, ""),
                       record.get_status_display())

"""Text as Splice writes it, for words that come from elsewhere (allauth's "Sign In", "Remember Me")."""

from __future__ import annotations

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter(is_safe=True)
def sentence_case(value) -> str:
    """"Sign In" → "Sign in": the first letter capital, the rest as lower case; surrounding space dropped."""
    text = str(value).strip()
    if not text:
        return ""
    result = text[0].upper() + text[1:].lower()
    # Changing the case of text that was safe adds no markup to it.
    return mark_safe(result) if isinstance(value, SafeString) else conditional_escape(result)  # noqa: S308

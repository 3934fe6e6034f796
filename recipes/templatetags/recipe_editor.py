"""Markup the recipe editor repeats for every input of every step, every data pill and every connection
offered, built in Python: a recipe of 50 steps has hundreds of inputs, thousands of pill buttons and up to
100 connections per app, and template tags for each cost more than the element itself (the same reason as
connections.templatetags.splice_ui)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

__all__ = ["connection_options", "pill_buttons", "step_input", "step_inputs"]

register = template.Library()

MULTILINE_TYPES = frozenset({"text", "object"})
OPTIONAL = mark_safe(' <span class="muted">(optional)</span>')
SELECTED = mark_safe(" selected")


@register.simple_tag
def step_inputs(position: int, inputs) -> SafeString:
    """The inputs of a step, from its (input field, value) pairs."""
    return format_html_join("\n", "{}", ((step_input(position, field, value),) for field, value in inputs))


def step_input(position: int, field, value) -> SafeString:
    """One input of a step: its label ("(optional)" unless required), a text box or area, and its help."""
    input_id = f"step{position}-{field.name}"
    value = "" if value is None else value
    label = format_html('<label for="{}">{}{}</label>', input_id, field.label, "" if field.required else OPTIONAL)
    if field.type in MULTILINE_TYPES:
        box = format_html('<textarea id="{}" name="input_{}" rows="3">{}</textarea>', input_id, field.name, value)
    else:
        box = format_html('<input type="text" id="{}" name="input_{}" value="{}">', input_id, field.name, value)
    help_text = format_html('\n<span class="help">{}</span>', field.help) if field.help else ""
    return format_html('<div class="field">\n{}\n{}{}\n</div>', label, box, help_text)


@register.simple_tag
def connection_options(candidates, selected) -> SafeString:
    """The options of an app's connection list: "name (project, status)", the `selected` connection chosen."""
    selected_pk = selected.pk if selected is not None else None
    return format_html_join(
        "", '<option value="{}"{}>{} ({}, {})</option>',
        ((c.pk, SELECTED if c.pk == selected_pk else "", c.name, c.project_name, c.status_label.lower())
         for c in candidates))


def pill_buttons(step, operation) -> SafeString:
    """The buttons that insert this step's outputs as data pills into an input of a later step.

    The editor builds them once per step and appends them to those of the steps before: every later step
    offers them all, and rendering each button again for each later step costs the square of the steps.
    """
    return format_html_join(
        "", '<button type="button" class="pill" data-pill="{}" aria-label="Insert {}">{}</button>',
        (("{{" + f"{step.ref}.{output.name}" + "}}", label, label)
         for output in operation.output for label in [f"{step.ref}: {output.label}"]))

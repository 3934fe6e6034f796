"""Markup the recipe editor repeats for every input of every step, every data pill and every connection
offered, built in Python: a recipe of 50 steps has hundreds of inputs, thousands of pill buttons and up to
100 connections per app, and template tags for each cost more than the element itself (the same reason as
connections.templatetags.splice_ui)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

__all__ = ["connection_options", "pill_buttons", "result_fields", "step_input", "step_inputs"]

register = template.Library()

MULTILINE_TYPES = frozenset({"text", "object"})
OPTIONAL = mark_safe(' <span class="muted">(optional)</span>')
SELECTED = mark_safe(" selected")
JSON_PLACEHOLDER = '{"key": "value"}'


@register.simple_tag
def step_inputs(position: int, inputs) -> SafeString:
    """The inputs of a step, from its (input field, value) pairs."""
    return format_html_join("\n", "{}", ((step_input(position, field, value),) for field, value in inputs))


def step_input(position: int, field, value) -> SafeString:
    """One input of a step: its label ("(optional)" unless required), a text box or area (a list for a choice),
    and its help. An object input is JSON text, whose strings may hold data pills."""
    input_id = f"step{position}-{field.name}"
    value = "" if value is None else value
    label = format_html('<label for="{}">{}{}</label>', input_id, field.label, "" if field.required else OPTIONAL)
    help_text = field.help
    if field.type == "select" and field.options:
        box = format_html('<select id="{}" name="input_{}">{}</select>', input_id, field.name, format_html_join(
            "", '<option value="{}"{}>{}</option>',
            ((o.value, SELECTED if str(o.value) == str(value) else "", o.label) for o in field.options)))
    elif field.type in MULTILINE_TYPES:
        placeholder = JSON_PLACEHOLDER if field.type == "object" else ""
        if field.type == "object" and "JSON object" not in help_text:
            help_text = f"A JSON object. {help_text}".strip()
        box = format_html('<textarea id="{}" name="input_{}" rows="3"{}{}>{}</textarea>', input_id, field.name,
                          mark_safe(' class="code"') if field.type == "object" else "",
                          format_html(' placeholder="{}"', placeholder) if placeholder else "", value)
    else:
        box = format_html('<input type="text" id="{}" name="input_{}" value="{}">', input_id, field.name, value)
    help_html = format_html('\n<span class="help">{}</span>', help_text) if help_text else ""
    return format_html('<div class="field">\n{}\n{}{}\n</div>', label, box, help_html)


@register.simple_tag
def result_fields(position: int, fields, new_name: str = "", new_value: str = "") -> SafeString:
    """Return result's fields, named by the person, each with its value (data pills welcome) and a Remove
    button, then a row to add one. Inside the step's form: a remove or an add saves the other fields as typed."""
    rows = format_html_join("\n", '<div class="field result-field"><label for="step{0}-result-{1}">{1}</label>'
                            '<input type="text" id="step{0}-result-{1}" name="input_{1}" value="{2}">'
                            '<button type="submit" name="remove_field" value="{1}" class="linklike danger-link" '
                            'aria-label="Remove field {1}">Remove</button></div>',
                            ((position, name, value) for name, value in fields))
    empty = "" if fields else mark_safe('<p class="muted">No fields yet: the caller gets an empty result.</p>')
    add = format_html(
        '<fieldset class="new-field"><legend>Add a field</legend>'
        '<div class="field"><label for="step{0}-new-name">Field name</label>'
        '<input type="text" id="step{0}-new-name" name="new_field_name" value="{1}" autocomplete="off" '
        'aria-describedby="step{0}-new-name-help"><span class="help" id="step{0}-new-name-help">Letters, digits and '
        '_, starting with a letter: the caller reads the value under this name.</span></div>'
        '<div class="field"><label for="step{0}-new-value">Value</label>'
        '<input type="text" id="step{0}-new-value" name="new_field_value" value="{2}"></div>'
        '<button type="submit" class="button secondary">Add field</button></fieldset>', position, new_name, new_value)
    return format_html("{}{}\n{}", rows, empty, add)


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

"""Rules of the spec format that span several fields, run after the pydantic models accept a spec.

Each check yields ``(path, message)`` pairs with the dotted path of the field to fix, so the
loader can print ``file: auth.0.authorize_url: ...`` just as it does for pydantic's own errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .errors import InvalidValue
from .schema import (
    MAKE_REQUEST,
    Action,
    ApiKeyMethod,
    ConnectorSpec,
    InputField,
    OAuth2Method,
    SettingField,
    Trigger,
)
from .templating import LABEL_RE, parse_path_template, parse_url_template, placeholders

__all__ = ["check_spec"]

Found = Iterator[tuple[str, str]]


def check_spec(spec: ConnectorSpec) -> list[tuple[str, str]]:
    """Every cross-field problem in ``spec``, as ``(dotted.path, message)`` pairs."""
    return [
        *_check_settings(spec),
        *_check_auth(spec),
        *_check_url_templates(spec),
        *_check_environments(spec),
        *_check_test(spec),
        *_check_operations(spec),
    ]


# --- settings --------------------------------------------------------------------------------


def _check_settings(spec: ConnectorSpec) -> Found:
    method_keys = {m.key for m in spec.auth}
    for name, setting in spec.settings.items():
        at = f"settings.{name}"
        if name in spec.secret_fields:
            yield at, f"{name!r} is also declared in secret_fields"
        if setting.type == "select" and not setting.options:
            yield f"{at}.options", "a select setting needs options"
        if setting.type != "select" and setting.options:
            yield f"{at}.options", "only select settings have options"
        if setting.pattern is not None and setting.type not in ("string", "url"):
            yield f"{at}.pattern", "only string and url settings have a pattern"
        for attr in ("default", "example"):
            value = getattr(setting, attr)
            if value is not None:
                try:
                    setting.clean(name, value)
                except InvalidValue as exc:
                    yield f"{at}.{attr}", f"{value!r} is not a valid value: {exc.message}"
        yield from _check_method_refs(f"{at}.auth_methods", setting.auth_methods, method_keys)
    for name, secret in spec.secret_fields.items():
        yield from _check_method_refs(f"secret_fields.{name}.auth_methods", secret.auth_methods, method_keys)


def _check_method_refs(at: str, refs: list[str], method_keys: set[str]) -> Found:
    for ref in refs:
        if ref not in method_keys:
            yield at, f"{ref!r} is not an auth method key (expected one of {', '.join(sorted(method_keys))})"


# --- auth ------------------------------------------------------------------------------------


def _check_auth(spec: ConnectorSpec) -> Found:
    seen: dict[str, int] = {}
    for index, method in enumerate(spec.auth):
        at = f"auth.{index}"
        if method.key in seen:
            yield (
                f"{at}.key",
                f"duplicate auth method key {method.key!r} (also auth.{seen[method.key]});"
                " give each method of the same type its own key",
            )
        seen.setdefault(method.key, index)
        if isinstance(method, OAuth2Method):
            yield from _check_oauth2(spec, method, at)
        elif isinstance(method, ApiKeyMethod):
            yield from _check_api_key(spec, method, at)


def _check_oauth2(spec: ConnectorSpec, method: OAuth2Method, at: str) -> Found:
    if method.grant == "authorization_code" and not method.authorize_url:
        yield f"{at}.authorize_url", "Field required for the authorization_code grant"
    if method.grant == "client_credentials" and method.authorize_url:
        yield f"{at}.authorize_url", "not used by the client_credentials grant; remove it"
    if placeholders(method.token_format) != ("access_token",):
        yield f"{at}.token_format", "must contain {access_token} and no other placeholder"
    setting_name = method.scopes.setting
    if setting_name is not None:
        setting = spec.settings.get(setting_name)
        if setting is None or setting.type != "string":
            yield f"{at}.scopes.setting", f"{setting_name!r} is not a declared string setting"


def _check_api_key(spec: ConnectorSpec, method: ApiKeyMethod, at: str) -> Found:
    if method.in_ in ("header", "query") and not method.name:
        yield f"{at}.name", f"Field required when the key is sent in a {method.in_}"
    if method.in_ == "basic" and method.name:
        yield f"{at}.name", "not used when the key is sent as HTTP Basic; remove it"
    names = placeholders(method.format)
    unknown = sorted(set(names) - {"api_key", "api_secret"})
    if unknown or re.sub(r"\{[^{}]*\}", "", method.format).count("{"):
        yield f"{at}.format", "may only use the placeholders {api_key} and {api_secret}"
    elif "api_key" not in names:
        yield f"{at}.format", "must contain {api_key}"
    elif "api_secret" in names and method.api_secret is None:
        yield f"{at}.format", "uses {api_secret} but the method declares no api_secret"
    if method.secret_name and (method.api_secret is None or method.in_ == "basic"):
        yield f"{at}.secret_name", "only for a declared api_secret sent in a header or query parameter"
    elif method.api_secret is not None and method.in_ != "basic" and "api_secret" not in names \
            and not method.secret_name:
        # Otherwise the secret the person types in would silently never reach the app.
        yield f"{at}.api_secret", "is sent nowhere: use {api_secret} in format, or name its own secret_name"
    if method.name and placeholders(method.name):
        (name, *extra) = placeholders(method.name)
        if extra or method.name != f"{{{name}}}":
            yield f"{at}.name", "a placeholder must be the whole name, like {header_name}"
        else:
            yield from _check_placeholder_setting(spec, f"{at}.name", name, whole_url=False)


# --- URL templates and the placeholder safety rule -------------------------------------------


def _url_templates(spec: ConnectorSpec) -> Iterator[tuple[str, str]]:
    yield "base_url", spec.base_url
    for index, method in enumerate(spec.auth):
        for name, template in method.url_templates().items():
            yield f"auth.{index}.{name}", template
    if spec.environments.sandbox is not None:
        for name, template in spec.environments.sandbox.overrides().items():
            yield f"environments.sandbox.{name}", template
    if spec.test.base_url:
        yield "test.base_url", spec.test.base_url
    for kind, ops in (("triggers", spec.triggers), ("actions", spec.actions)):
        for index, op in enumerate(ops):
            if op.base_url:
                yield f"{kind}.{index}.base_url", op.base_url


def _check_url_templates(spec: ConnectorSpec) -> Found:
    for at, template in _url_templates(spec):
        parsed = parse_url_template(template)
        for name in dict.fromkeys(parsed.names):
            yield from _check_placeholder_setting(spec, at, name, whole_url=parsed.whole is not None)


def _check_placeholder_setting(spec: ConnectorSpec, at: str, name: str, *, whole_url: bool) -> Found:
    """A placeholder must name a declared setting whose values cannot change the URL's shape."""
    setting: SettingField | None = spec.settings.get(name)
    if setting is None:
        if name in spec.secret_fields:
            yield at, f"placeholder {{{name}}} refers to a secret field; URLs may only use settings"
        else:
            yield at, f"placeholder {{{name}}} does not refer to a declared setting"
        return
    if whole_url:
        if setting.type != "url":
            yield at, f"placeholder {{{name}}} stands for a whole URL, so setting {name!r} must have type url"
    elif setting.type == "url":
        yield at, f"setting {name!r} has type url, so {{{name}}} must be the whole URL"
    elif setting.type == "select":
        for option in setting.options:
            if not LABEL_RE.match(option.value):
                yield at, f"option {option.value!r} of setting {name!r} cannot go into a URL"
    elif setting.type != "string":
        yield at, f"placeholder {{{name}}} refers to a {setting.type} setting; use a string with a pattern"
    elif setting.pattern is None:
        yield at, f"placeholder {{{name}}} refers to setting {name!r}, which has no pattern"
    if setting.example is None and setting.default is None:
        yield f"settings.{name}.example", f"needed because {{{name}}} is used in {at}"


def _check_environments(spec: ConnectorSpec) -> Found:
    sandbox = spec.environments.sandbox
    if sandbox is None:
        return
    for name in sandbox.overrides():
        if name != "base_url" and not any(name in m.url_fields for m in spec.auth):
            yield f"environments.sandbox.{name}", f"no auth method has a {name}"


def _check_test(spec: ConnectorSpec) -> Found:
    for name in placeholders(spec.test.path):
        if name not in spec.settings:
            yield "test.path", f"placeholder {{{name}}} does not refer to a declared setting"


# --- triggers and actions --------------------------------------------------------------------


def _check_operations(spec: ConnectorSpec) -> Found:
    seen: dict[str, str] = {MAKE_REQUEST: "the generic “Make request” every connector offers"}
    for kind, ops in (("triggers", spec.triggers), ("actions", spec.actions)):
        for index, op in enumerate(ops):
            at = f"{kind}.{index}"
            if op.key in seen:
                yield f"{at}.key", f"duplicate operation key {op.key!r} (also {seen[op.key]})"
            seen.setdefault(op.key, at)
            yield from _check_operation(op, at)
            if isinstance(op, Trigger):
                yield from _check_trigger(spec, op, at)


def _check_trigger(spec: ConnectorSpec, op: Trigger, at: str) -> Found:
    outputs = {out.name for out in op.output}
    if op.created_field is not None and op.created_field not in outputs:
        yield f"{at}.created_field", f"{op.created_field!r} is not one of the outputs"
    if (op.newest_first or op.created_field is not None) and op.kind != "poll":
        yield f"{at}.kind", "newest_first and created_field are for poll triggers"
    if op.signature is not None:
        if op.kind != "webhook":
            yield f"{at}.signature", "only webhook triggers are signed"
        if op.signature.secret not in spec.secret_fields:
            yield f"{at}.signature.secret", f"{op.signature.secret!r} is not one of the secret_fields"
        if op.signature.scheme == "hmac_sha256" and op.signature.header is None:
            yield f"{at}.signature.header", "Field required for hmac_sha256 (the header the app signs in)"


def _check_operation(op: Trigger | Action, at: str) -> Found:
    inputs: dict[str, InputField] = {}
    for index, field in enumerate(op.input):
        if field.name in inputs:
            yield f"{at}.input.{index}.name", f"duplicate input {field.name!r}"
        inputs[field.name] = field
        if field.type == "select" and not field.options:
            yield f"{at}.input.{index}.options", "a select input needs options"
    outputs: set[str] = set()
    for index, out in enumerate(op.output):
        if out.name in outputs:
            yield f"{at}.output.{index}.name", f"duplicate output {out.name!r}"
        outputs.add(out.name)
    kind = op.kind
    if kind in ("poll", "request"):
        label = "poll triggers" if kind == "poll" else "actions"
        if op.method is None:
            yield f"{at}.method", f"Field required for {label}"
        if op.path is None:
            yield f"{at}.path", f"Field required for {label}"
    if op.path is not None:
        for name in parse_path_template(op.path).names:
            field = inputs.get(name)
            if field is None:
                yield f"{at}.path", f"placeholder {{{name}}} is not a declared input"
            elif not field.required:
                yield (
                    f"{at}.input.{op.input.index(field)}.required",
                    (f"input {name!r} is used in the path, so it must be required"),
                )
    if isinstance(op, Trigger) and kind == "poll":
        if op.id_field is None:
            yield f"{at}.id_field", "Field required for poll triggers"
        elif op.id_field not in outputs:
            known = ", ".join(sorted(outputs)) or "none declared"
            yield f"{at}.id_field", f"{op.id_field!r} is not one of the outputs ({known})"
    if op.body_from is not None:
        field = inputs.get(op.body_from)
        if field is None or field.type != "object":
            yield f"{at}.body_from", f"{op.body_from!r} is not a declared input of type object"

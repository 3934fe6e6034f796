"""The contract every built-in connector spec (and its secondary entry) honours.

Pure Python: no database, no Django settings. Each test runs once per app in the catalog, so a
new spec is checked by adding its YAML file, nothing else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from connections.catalog import (
    BUILTIN_SPECS_DIR,
    ConnectorSpec,
    InvalidSetting,
    build_registry,
    load_spec_file,
)
from connections.catalog.checks import check_spec
from connections.catalog.templating import PLACEHOLDER_RE, parse_url_template

REGISTRY = build_registry()
APPS = REGISTRY.apps()
PRIMARIES = REGISTRY.all()

REQUIRED_APPS = {
    "salesforce", "slack", "gmail", "google_sheets", "github", "jira", "zendesk", "hubspot", "stripe",
    "twilio", "trello", "twitter", "shopify", "servicenow", "http",
}
HAS_SECONDARY = {"salesforce", "slack", "jira", "zendesk", "servicenow", "http"}
HOSTILE_VALUES = ["evil.com/", "a@b", "..", "x/y", "a#b", "a?b", "a.b?c", "", "a" * 300, "evil.com", " "]


def _ids(specs: list[ConnectorSpec]) -> list[str]:
    return [spec.key for spec in specs]


def example_settings(spec: ConnectorSpec) -> dict[str, Any]:
    """Valid settings built from each setting's ``example`` (or ``default``)."""
    values = {}
    for name, setting in spec.settings.items():
        value = setting.example if setting.example is not None else setting.default
        if value is not None:
            values[name] = value
    return values


def environments(spec: ConnectorSpec) -> list[str]:
    return ["production", "sandbox"] if spec.has_sandbox else ["production"]


def url_templates(spec: ConnectorSpec) -> dict[str, str]:
    """Every URL template in the spec, by dotted path."""
    found = {"base_url": spec.base_url}
    for index, method in enumerate(spec.auth):
        for name, template in method.url_templates().items():
            found[f"auth.{index}.{name}"] = template
    if spec.environments.sandbox is not None:
        for name, template in spec.environments.sandbox.overrides().items():
            found[f"environments.sandbox.{name}"] = template
    if spec.test.base_url:
        found["test.base_url"] = spec.test.base_url
    for op in spec.operations:
        if op.base_url:
            found[f"{op.key}.base_url"] = op.base_url
    return found


def url_settings(spec: ConnectorSpec) -> set[str]:
    """The settings that appear as placeholders in some URL."""
    return {name for template in url_templates(spec).values() for name in PLACEHOLDER_RE.findall(template)}


def every_resolution(spec: ConnectorSpec, settings: dict[str, Any]) -> list[str]:
    """Resolve everything a connection resolves: base URLs, auth URLs, the test, per environment."""
    urls = []
    for environment in environments(spec):
        for method in spec.auth:
            urls.append(spec.resolve_base_url(settings, environment, method=method.key))
            resolved = spec.resolve_auth(method.key, settings, environment)
            urls.extend(getattr(resolved, name) for name in resolved.url_fields if getattr(resolved, name))
            urls.append(spec.test_request(settings, environment, method=method.key).url)
    for op in spec.operations:
        if op.base_url:
            urls.append(spec.resolve_url(op.base_url, settings))
    return urls


def sample_inputs(op: Any) -> dict[str, Any]:
    samples = {"string": "sample", "text": "sample text", "integer": 42, "boolean": True,
               "datetime": "2024-01-01T00:00:00Z", "object": {"k": "v"}}
    values = {}
    for field in op.input:
        if field.options:
            values[field.name] = field.options[0].value
        elif op.path == f"{{{field.name}}}":
            values[field.name] = "/items?page=1"
        else:
            values[field.name] = samples[field.type]
    return values


def test_catalog_has_the_required_apps() -> None:
    assert REQUIRED_APPS <= {spec.key for spec in PRIMARIES}
    assert {spec.key for spec in PRIMARIES if spec.secondary} >= HAS_SECONDARY


def test_every_spec_file_is_loaded() -> None:
    files = sorted(p.stem for p in BUILTIN_SPECS_DIR.glob("*.yaml"))
    assert files == sorted(spec.key for spec in PRIMARIES)


@pytest.mark.parametrize("spec", PRIMARIES, ids=_ids(PRIMARIES))
def test_schema_ok(spec: ConnectorSpec) -> None:
    reloaded = load_spec_file(spec.source)
    assert reloaded == spec
    assert check_spec(spec) == []
    assert spec.source.endswith(f"{spec.key}.yaml")


@pytest.mark.parametrize("spec", APPS, ids=_ids(APPS))
def test_every_url_is_https(spec: ConnectorSpec) -> None:
    if spec.docs_url:
        assert spec.docs_url.startswith("https://")
    for path, template in url_templates(spec).items():
        parsed = parse_url_template(template)
        if parsed.whole is not None:
            assert spec.settings[parsed.whole].type == "url", path
        else:
            assert template.startswith("https://"), path
    for url in every_resolution(spec, example_settings(spec)):
        assert urlsplit(url).scheme == "https", url


@pytest.mark.parametrize("spec", APPS, ids=_ids(APPS))
def test_placeholders_resolve_with_example_settings(spec: ConnectorSpec) -> None:
    settings = example_settings(spec)
    for name in url_settings(spec):
        assert name in settings, f"setting {name!r} needs an example"
    for url in every_resolution(spec, settings):
        assert "{" not in url and "}" not in url, url
        host = urlsplit(url).hostname or ""
        assert host and ".." not in host, url
    for path, template in url_templates(spec).items():
        if parse_url_template(template).whole is None:
            expected_host = urlsplit(PLACEHOLDER_RE.sub(lambda m: str(settings[m.group(1)]), template)).hostname
            resolved = spec.resolve_url(template, settings)
            assert urlsplit(resolved).hostname == expected_host, path


@pytest.mark.parametrize("spec", APPS, ids=_ids(APPS))
def test_hostile_setting_values_are_refused(spec: ConnectorSpec) -> None:
    good = example_settings(spec)
    for name in url_settings(spec):
        for value in HOSTILE_VALUES:
            with pytest.raises(InvalidSetting) as caught:
                every_resolution(spec, {**good, name: value})
            assert caught.value.field == name, (name, value)


@pytest.mark.parametrize("spec", APPS, ids=_ids(APPS))
def test_triggers_and_actions(spec: ConnectorSpec) -> None:
    assert len(spec.triggers) >= 1
    assert len(spec.actions) >= 2
    keys = [op.key for op in spec.operations]
    assert len(keys) == len(set(keys))
    for trigger in spec.triggers:
        if trigger.kind == "poll":
            assert trigger.id_field in {out.name for out in trigger.output}, trigger.key
            assert trigger.method and trigger.path
    for action in spec.actions:
        assert action.method and action.path, action.key
    for op in spec.operations:
        declared = {field.name for field in op.input}
        assert set(op.path_inputs) <= declared, op.key
        assert spec.operation(op.key) is op


@pytest.mark.parametrize("spec", APPS, ids=_ids(APPS))
def test_operation_requests_stay_on_the_api_host(spec: ConnectorSpec) -> None:
    settings = example_settings(spec)
    for method in spec.auth:
        for op in spec.operations:
            if op.method is None:
                continue
            request = spec.operation_request(op.key, settings, sample_inputs(op), method=method.key)
            expected = op.base_url and spec.resolve_url(op.base_url, settings)
            expected = expected or spec.resolve_base_url(settings, method=method.key)
            assert urlsplit(request.url).netloc == urlsplit(expected).netloc, op.key
            assert request.method == op.method


@pytest.mark.parametrize("spec", APPS, ids=_ids(APPS))
def test_connection_test_is_defined(spec: ConnectorSpec) -> None:
    assert spec.test.path
    assert spec.test.expected_status
    for method in spec.auth:
        request = spec.test_request(example_settings(spec), method=method.key)
        assert request.method in ("GET", "POST", "HEAD")
        assert request.url.startswith("https://")
    if spec.primary_key != "http":
        assert spec.test.identity, "a real app says who the connection is"


@pytest.mark.parametrize("spec", APPS, ids=_ids(APPS))
def test_auth_methods_are_complete(spec: ConnectorSpec) -> None:
    keys = [method.key for method in spec.auth]
    assert len(keys) == len(set(keys))
    for method in spec.auth:
        assert method.label
        assert spec.auth_method(method.key) is method
        if method.type == "oauth2":
            assert method.token_url
            assert method.authorize_url or method.grant == "client_credentials"
        if method.type == "oauth1":
            assert method.request_token_url and method.authorize_url and method.access_token_url
    assert spec.has_oauth == any(m.type in ("oauth1", "oauth2") for m in spec.auth)


SECONDARIES = [spec for spec in APPS if spec.is_secondary]


def test_secondary_entries_exist_for_every_secondary_app() -> None:
    assert {spec.key for spec in SECONDARIES} == {f"{spec.key}_secondary" for spec in PRIMARIES if spec.secondary}


@pytest.mark.parametrize("secondary", SECONDARIES, ids=_ids(SECONDARIES))
def test_secondary_mirrors_primary(secondary: ConnectorSpec) -> None:
    primary = REGISTRY.get(secondary.primary_key)
    assert not primary.is_secondary and primary.primary_key == primary.key
    assert secondary.key == f"{primary.key}_secondary"
    assert secondary.name == f"{primary.name} (secondary)"
    for attr in ("settings", "secret_fields", "auth", "triggers", "actions", "base_url", "environments", "test"):
        assert getattr(secondary, attr) == getattr(primary, attr), attr
    assert REGISTRY.get(secondary.key) is secondary

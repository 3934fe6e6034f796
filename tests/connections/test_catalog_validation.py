"""Invalid specs get specific ``file: path: problem`` messages; the registry and resolver refuse bad input.

Pure Python (no database). The one test of the Django command skips when Django is not configured,
e.g. under ``-p no:django``.
"""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import connections.catalog as catalog
from connections.catalog import (
    BUILTIN_SPECS_DIR,
    InvalidInput,
    InvalidSetting,
    InvalidSettings,
    ProtectedConnector,
    Registry,
    SpecError,
    UnknownAuthMethod,
    UnknownConnector,
    UnknownOperation,
    build_registry,
    load_specs,
    parse_spec_text,
)
from connections.catalog.cli import connectors_table, validate_paths

DOCS = Path(__file__).resolve().parents[2] / "docs" / "connectors.md"

VALID: dict[str, Any] = {
    "key": "acme",
    "name": "Acme",
    "icon": {"letter": "A", "color": "#112233"},
    "base_url": "https://{subdomain}.acme.example/api",
    "settings": {
        "subdomain": {"label": "Subdomain", "pattern": "^[a-z0-9-]+$", "example": "demo"},
    },
    "auth": [
        {
            "type": "oauth2",
            "authorize_url": "https://login.acme.example/authorize",
            "token_url": "https://login.acme.example/token",
        },
        {"type": "api_key", "in": "header", "name": "Authorization", "format": "Bearer {api_key}"},
    ],
    "test": {"path": "/me", "identity": "email"},
    "triggers": [
        {
            "key": "new_thing",
            "name": "New thing",
            "kind": "poll",
            "method": "GET",
            "path": "/things",
            "id_field": "id",
            "output": [{"name": "id", "label": "ID"}],
        }
    ],
    "actions": [
        {
            "key": "create_thing",
            "name": "Create thing",
            "method": "POST",
            "path": "/folders/{folder}/things",
            "input": [{"name": "folder", "label": "Folder", "required": True}],
        },
    ],
}


def spec_with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    data.update(changes)
    return data


def write(path: Path, data: dict[str, Any] | str) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def problems_for(path: Path) -> list[str]:
    _, problems = load_specs([path])
    return [str(p) for p in problems]


# --- the messages for the common mistakes ----------------------------------------------------


def test_valid_spec_loads(tmp_path: Path) -> None:
    specs, problems = load_specs([write(tmp_path / "acme.yaml", VALID)])
    assert problems == []
    assert [s.key for s in specs] == ["acme"]
    assert specs[0].source == str(tmp_path / "acme.yaml")


def test_missing_token_url(tmp_path: Path) -> None:
    data = spec_with()
    del data["auth"][0]["token_url"]
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: auth.0.token_url: Field required"]


def test_missing_authorize_url_for_authorization_code(tmp_path: Path) -> None:
    data = spec_with()
    del data["auth"][0]["authorize_url"]
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: auth.0.authorize_url: Field required for the authorization_code grant"]


def test_client_credentials_needs_no_authorize_url(tmp_path: Path) -> None:
    data = spec_with()
    del data["auth"][0]["authorize_url"]
    data["auth"][0]["grant"] = "client_credentials"
    assert problems_for(write(tmp_path / "ok.yaml", data)) == []


def test_unknown_auth_type(tmp_path: Path) -> None:
    data = spec_with()
    data["auth"][1] = {"type": "oauth3"}
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [
        f"{f}: auth.1.type: unknown auth type 'oauth3' (expected one of oauth2, oauth1, basic, api_key)"
    ]


def test_duplicate_key_across_files_names_both(tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", VALID)
    second = write(tmp_path / "b.yaml", spec_with(name="Acme again"))
    specs, problems = load_specs([tmp_path])
    assert [s.source for s in specs] == [str(first)]
    assert [str(p) for p in problems] == [
        f"{second}: key: duplicate connector key 'acme' (already defined in {first})"
    ]
    with pytest.raises(SpecError) as caught:
        Registry.from_paths([tmp_path])
    assert str(caught.value) == f"{second}: key: duplicate connector key 'acme' (already defined in {first})"


def test_bad_regex(tmp_path: Path) -> None:
    data = spec_with()
    data["settings"]["subdomain"]["pattern"] = "[a-z"
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [
        f"{f}: settings.subdomain.pattern: invalid regular expression: unterminated character set at position 0"
    ]


def test_unknown_fields_are_errors_with_a_hint(tmp_path: Path) -> None:
    data = spec_with(trigers=[])
    data["icon"]["colour"] = "#000000"
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [
        f"{f}: icon.colour: unknown field (did you mean 'color'?)",
        f"{f}: trigers: unknown field (did you mean 'triggers'?)",
    ]


def test_unknown_field_inside_an_auth_method(tmp_path: Path) -> None:
    data = spec_with()
    data["auth"][0]["scope"] = ["read"]
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: auth.0.scope: unknown field (did you mean 'scopes'?)"]


def test_placeholder_without_setting(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", spec_with(base_url="https://{tenant}.acme.example"))
    assert problems_for(f) == [f"{f}: base_url: placeholder {{tenant}} does not refer to a declared setting"]


def test_placeholder_setting_without_pattern(tmp_path: Path) -> None:
    data = spec_with()
    del data["settings"]["subdomain"]["pattern"]
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [
        f"{f}: base_url: placeholder {{subdomain}} refers to setting 'subdomain', which has no pattern"
    ]


def test_placeholder_setting_needs_an_example(tmp_path: Path) -> None:
    data = spec_with()
    del data["settings"]["subdomain"]["example"]
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: settings.subdomain.example: needed because {{subdomain}} is used in base_url"]


def test_placeholder_in_auth_urls_is_checked_too(tmp_path: Path) -> None:
    data = spec_with()
    data["auth"][0]["token_url"] = "https://{region}.acme.example/token"
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: auth.0.token_url: placeholder {{region}} does not refer to a declared setting"]


def test_placeholder_may_not_sit_in_the_query_or_port(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", spec_with(base_url="https://acme.example/api?tenant={subdomain}"))
    assert problems_for(f) == [
        f"{f}: base_url: placeholders are allowed in the host and path only, not in the query"
    ]


LOOPBACK_ONLY = ("; only a literal loopback address such as http://127.0.0.1:8000 may use http, for an app on this "
                 "machine")


def test_http_base_url(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", spec_with(base_url="http://api.acme.example"))
    assert problems_for(f) == [f"{f}: base_url: must use https, not http ('http://api.acme.example'){LOOPBACK_ONLY}"]


def test_http_auth_url(tmp_path: Path) -> None:
    data = spec_with()
    data["auth"][0]["token_url"] = "http://login.acme.example/token"
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [
        f"{f}: auth.0.token_url: must use https, not http ('http://login.acme.example/token'){LOOPBACK_ONLY}"]


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8765/api", "http://localhost:8765"])
def test_a_literal_loopback_base_url_loads_and_resolves_only_where_insecure_loopback_is_allowed(
        tmp_path: Path, base_url: str) -> None:
    f = write(tmp_path / "dev.yaml", spec_with(base_url=base_url))
    specs, problems = load_specs([f])
    assert problems == []
    spec = specs[0]
    assert spec.resolve_url(spec.base_url, {}, allow_insecure_loopback=True) == base_url
    with pytest.raises(InvalidSetting, match="SPLICE_ALLOW_INSECURE_LOOPBACK"):
        spec.resolve_url(spec.base_url, {}, allow_insecure_loopback=False)


@pytest.mark.parametrize("base_url", ["http://127.0.0.1.example.com", "http://{subdomain}.localhost",
                                      "http://10.0.0.1:8080"])
def test_http_to_anything_but_a_literal_loopback_address_is_refused(tmp_path: Path, base_url: str) -> None:
    f = write(tmp_path / "bad.yaml", spec_with(base_url=base_url))
    assert [p.split(": ", 2)[2] for p in problems_for(f)][0].startswith("must use https, not http")


def test_whole_url_placeholder_needs_a_url_setting(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", spec_with(base_url="{subdomain}"))
    assert problems_for(f) == [
        f"{f}: base_url: placeholder {{subdomain}} stands for a whole URL, so setting 'subdomain' must have type url"
    ]


def test_api_key_format_only_uses_key_and_secret(tmp_path: Path) -> None:
    data = spec_with()
    data["auth"][1]["format"] = "Bearer {token}"
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: auth.1.format: may only use the placeholders {{api_key}} and {{api_secret}}"]


def test_api_key_secret_placeholder_needs_a_secret(tmp_path: Path) -> None:
    data = spec_with()
    data["auth"][1]["format"] = "{api_key}:{api_secret}"
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: auth.1.format: uses {{api_secret}} but the method declares no api_secret"]


def test_duplicate_auth_method_keys(tmp_path: Path) -> None:
    data = spec_with()
    data["auth"].append(copy.deepcopy(data["auth"][1]))
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [
        f"{f}: auth.2.key: duplicate auth method key 'api_key' (also auth.1);"
        " give each method of the same type its own key"
    ]


def test_operation_rules(tmp_path: Path) -> None:
    data = spec_with()
    data["triggers"][0]["id_field"] = "uid"
    data["triggers"][0]["path"] = "/things/{kind}"
    data["actions"].append({"key": "new_thing", "name": "Again", "method": "GET", "path": "/x"})
    data["actions"][0]["input"][0]["required"] = False
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [
        f"{f}: triggers.0.path: placeholder {{kind}} is not a declared input",
        f"{f}: triggers.0.id_field: 'uid' is not one of the outputs (id)",
        f"{f}: actions.0.input.0.required: input 'folder' is used in the path, so it must be required",
        f"{f}: actions.1.key: duplicate operation key 'new_thing' (also triggers.0)",
    ]


def test_poll_trigger_needs_an_id_field(tmp_path: Path) -> None:
    data = spec_with()
    del data["triggers"][0]["id_field"]
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: triggers.0.id_field: Field required for poll triggers"]


def test_bad_key(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", spec_with(key="acme_secondary"))
    assert problems_for(f) == [
        f"{f}: key: must not end in '_secondary' (secondary connectors are derived)"
    ]


def test_yaml_problems(tmp_path: Path) -> None:
    duplicate = write(tmp_path / "dup.yaml", "key: a\nkey: b\n")
    alias = write(tmp_path / "alias.yaml", "key: &k acme\nname: *k\n")
    not_a_mapping = write(tmp_path / "list.yaml", "- a\n- b\n")
    assert problems_for(duplicate) == [f"{duplicate}: invalid YAML at line 2, column 1: duplicate key 'key'"]
    assert problems_for(alias) == [
        f"{alias}: invalid YAML at line 2, column 7: aliases (*name) are not allowed in connector specs"
    ]
    assert problems_for(not_a_mapping) == [f"{not_a_mapping}: a spec must be a YAML mapping (key: value pairs)"]


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    data = spec_with(base_url="http://api.acme.example", colour="red")
    del data["auth"][0]["token_url"]
    f = write(tmp_path / "bad.yaml", data)
    assert len(problems_for(f)) == 3


def test_docs_example_is_a_valid_spec() -> None:
    example = re.search(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert example is not None
    spec = parse_spec_text(example.group(1), source="docs/connectors.md")
    assert spec.key == "acme_helpdesk"
    assert spec.resolve_auth("oauth2", {"tenant": "demo"}, "sandbox").token_url == (
        "https://login.sandbox.acme.example/oauth/token"
    )


# --- the validate command (as the plain function it calls) -----------------------------------


def test_validate_paths_reports_problems_and_fails(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", VALID)
    bad_data = spec_with(key="other")
    del bad_data["auth"][0]["token_url"]
    bad = write(tmp_path / "bad.yaml", bad_data)
    out = io.StringIO()
    assert validate_paths([good, bad], out=out) == 1
    assert out.getvalue() == f"{bad}: auth.0.token_url: Field required\n"


def test_validate_paths_ok(tmp_path: Path) -> None:
    write(tmp_path / "good.yaml", VALID)
    out = io.StringIO()
    assert validate_paths([tmp_path, BUILTIN_SPECS_DIR], out=out, builtin_dir=BUILTIN_SPECS_DIR) == 0
    count = len(list(BUILTIN_SPECS_DIR.glob("*.yaml"))) + 1
    assert out.getvalue() == f"{count} specs OK\n"


def test_validate_paths_refuses_a_missing_path_and_a_shadowed_builtin(tmp_path: Path) -> None:
    shadow = write(tmp_path / "slack.yaml", spec_with(key="slack"))
    out = io.StringIO()
    assert validate_paths([shadow, tmp_path / "nope"], out=out, builtin_dir=BUILTIN_SPECS_DIR) == 1
    assert out.getvalue().splitlines() == [
        f"{tmp_path / 'nope'}: no such file or folder",
        f"{shadow}: key: 'slack' is a built-in connector and cannot be replaced",
    ]


def test_connectors_table_lists_every_connector() -> None:
    table = connectors_table(build_registry()).splitlines()
    assert table[0].split() == ["KEY", "NAME", "AUTH", "SECONDARY", "TRIGGERS", "ACTIONS"]
    slack = next(line for line in table if line.startswith("slack "))
    assert slack.split()[-3:] == ["yes", "2", "3"]
    assert len(table) == 1 + len(build_registry().all())


def test_management_command(tmp_path: Path) -> None:
    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("connectors", "validate", str(BUILTIN_SPECS_DIR), stdout=out)
    assert out.getvalue().endswith("specs OK\n")
    bad = spec_with()
    del bad["auth"][0]["token_url"]
    f = write(tmp_path / "bad.yaml", bad)
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("connectors", "validate", str(f), stdout=out)
    assert out.getvalue() == f"{f}: auth.0.token_url: Field required\n"
    out = io.StringIO()
    call_command("connectors", "list", stdout=out)
    assert "salesforce" in out.getvalue()


# --- the registry ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builtin() -> Registry:
    return build_registry()


def test_get_and_unknown_connector(builtin: Registry) -> None:
    assert builtin.get("slack").name == "Slack"
    with pytest.raises(UnknownConnector, match="unknown connector 'nope'"):
        builtin.get("nope")
    assert "slack_secondary" in builtin and "gmail_secondary" not in builtin


def test_all_apps_and_search(builtin: Registry) -> None:
    names = [spec.name for spec in builtin.all()]
    assert names == sorted(names, key=str.casefold)
    apps = [spec.key for spec in builtin.apps()]
    assert apps.index("salesforce_secondary") == apps.index("salesforce") + 1
    secondary = builtin.get("salesforce_secondary")
    assert (secondary.name, secondary.is_secondary, secondary.primary_key) == (
        "Salesforce (secondary)", True, "salesforce",
    )
    assert [s.key for s in builtin.search("sales")] == ["salesforce"]
    assert [s.key for s in builtin.search("SALES", include_secondary=True)] == ["salesforce", "salesforce_secondary"]
    assert {"hubspot", "salesforce"} <= {s.key for s in builtin.search("crm")}
    assert builtin.search("") == builtin.all()
    assert builtin.search("no such app") == []


def test_register_and_unregister_custom_connectors() -> None:
    registry = build_registry()
    text = yaml.safe_dump(spec_with(key="acme", secondary=True))
    spec = registry.register_yaml(text, source="upload:acme v1")
    assert registry.get("acme") is spec and registry.get("acme_secondary").primary_key == "acme"
    assert not registry.is_builtin("acme") and registry.is_builtin("slack")
    with pytest.raises(SpecError, match="a custom connector with key 'acme' is already registered"):
        registry.register_yaml(text, source="upload:acme v2")
    newer = registry.register_yaml(yaml.safe_dump(spec_with(key="acme", name="Acme 2")), replace=True)
    assert registry.get("acme") is newer and "acme_secondary" not in registry
    registry.unregister("acme")
    assert "acme" not in registry
    with pytest.raises(UnknownConnector):
        registry.unregister("acme")


def test_builtin_keys_cannot_be_shadowed_or_removed() -> None:
    registry = build_registry()
    with pytest.raises(SpecError) as caught:
        registry.register_yaml(yaml.safe_dump(spec_with(key="slack")), source="upload:slack", replace=True)
    assert str(caught.value) == (
        f"upload:slack: key: 'slack' is a built-in connector (defined in {BUILTIN_SPECS_DIR / 'slack.yaml'})"
        " and cannot be replaced by a custom one"
    )
    with pytest.raises(ProtectedConnector):
        registry.unregister("slack")
    assert registry.get("slack").source == str(BUILTIN_SPECS_DIR / "slack.yaml")


def test_register_reports_every_problem_of_an_upload() -> None:
    data = spec_with(key="acme")
    del data["auth"][0]["token_url"]
    with pytest.raises(SpecError) as caught:
        Registry().register_yaml(yaml.safe_dump(data), source="upload:acme")
    assert [str(p) for p in caught.value.problems] == ["upload:acme: auth.0.token_url: Field required"]


def test_extra_dirs_are_loaded_and_cannot_reuse_builtin_keys(tmp_path: Path) -> None:
    write(tmp_path / "acme.yaml", VALID)
    assert build_registry([tmp_path]).is_builtin("acme")
    shadow = write(tmp_path / "slack.yaml", spec_with(key="slack"))
    with pytest.raises(SpecError) as caught:
        build_registry([tmp_path])
    assert str(caught.value) == (
        f"{shadow}: key: duplicate connector key 'slack' (already defined in {BUILTIN_SPECS_DIR / 'slack.yaml'})"
    )


def test_process_wide_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "_registry", None)
    first = catalog.registry()
    assert catalog.registry() is first and "slack" in first
    write(tmp_path / "acme.yaml", VALID)
    loaded = catalog.load_registry([tmp_path])
    assert catalog.registry() is loaded and "acme" in loaded


# --- resolving settings, auth and requests ---------------------------------------------------


@pytest.fixture(scope="module")
def acme() -> catalog.ConnectorSpec:
    return parse_spec_text(yaml.safe_dump(VALID), source="acme.yaml")


def test_invalid_setting_names_the_field(acme: catalog.ConnectorSpec) -> None:
    with pytest.raises(InvalidSetting) as caught:
        acme.resolve_base_url({"subdomain": "evil.com/"})
    assert str(caught.value) == "subdomain: must look like “demo”"  # the example, not the pattern
    assert caught.value.field == "subdomain"
    with pytest.raises(InvalidSetting, match="^subdomain: required$"):
        acme.resolve_base_url({})


def test_label_rule_holds_even_with_a_loose_pattern() -> None:
    data = spec_with()
    data["settings"]["subdomain"]["pattern"] = ".*"
    spec = parse_spec_text(yaml.safe_dump(data), source="loose.yaml")
    assert spec.resolve_base_url({"subdomain": "ok-1"}) == "https://ok-1.acme.example/api"
    for value in ["evil.com/", "a@b", "..", "x/y", "a.b?c", "a#b", "evil.com", "a" * 64, "-a"]:
        with pytest.raises(InvalidSetting, match="^subdomain: must be a single DNS label"):
            spec.resolve_base_url({"subdomain": value})


def test_auth_method_and_operation_lookups(acme: catalog.ConnectorSpec) -> None:
    assert acme.auth_method(0) is acme.auth_method("oauth2") is acme.auth[0]
    assert acme.auth_method("api_key").type == "api_key"
    assert acme.has_oauth and not acme.has_sandbox
    with pytest.raises(UnknownAuthMethod, match="acme has no auth method 'basic' \\(available: oauth2, api_key\\)"):
        acme.auth_method("basic")
    assert acme.operation("create_thing").key == "create_thing"
    assert acme.operation("new_thing").is_trigger
    with pytest.raises(UnknownOperation):
        acme.operation("nope")


def test_sandbox_overrides_auth_urls() -> None:
    spec = build_registry().get("salesforce")
    production = spec.resolve_auth("oauth2", {"my_domain": "acme"})
    sandbox = spec.resolve_auth("oauth2", {"my_domain": "acme--uat"}, "sandbox")
    assert production.authorize_url == "https://login.salesforce.com/services/oauth2/authorize"
    assert sandbox.authorize_url == "https://test.salesforce.com/services/oauth2/authorize"
    assert sandbox.token_url == "https://test.salesforce.com/services/oauth2/token"
    assert sandbox.base_url == "https://acme--uat.sandbox.my.salesforce.com"
    with pytest.raises(ValueError, match="environment must be"):
        spec.resolve_base_url({"my_domain": "acme"}, "staging")  # type: ignore[arg-type]


def test_resolutions_are_remembered_per_settings_and_never_mixed_up() -> None:
    """A health check resolves one app's auth for thousands of connections: the spec remembers each
    resolution by its arguments, and a connection with other settings (or a refused value) gets its own."""
    spec = build_registry().get("zendesk")
    acme = spec.resolve_auth("oauth2", {"subdomain": "acme"})
    assert spec.resolve_auth("oauth2", {"subdomain": "acme"}) is acme
    assert spec.resolve_auth("oauth2", {"subdomain": "globex"}).token_url == "https://globex.zendesk.com/oauth/tokens"
    assert spec.resolve_auth("oauth2", {"subdomain": "acme"}).token_url == "https://acme.zendesk.com/oauth/tokens"
    with pytest.raises(InvalidSetting):
        spec.resolve_auth("oauth2", {"subdomain": "acme.evil.example"})
    with pytest.raises(InvalidSetting):  # a refusal is not remembered as anything else
        spec.resolve_auth("oauth2", {"subdomain": "acme.evil.example"})
    assert spec.test_request({"subdomain": "acme"}).url != spec.test_request({"subdomain": "globex"}).url
    # Unhashable settings (a JSON list) are resolved each time rather than refused.
    assert spec.resolve_auth("oauth2", {"subdomain": "acme", "tags": ["a"]}).token_url == acme.token_url
    assert build_registry().get("zendesk").resolve_auth("oauth2", {"subdomain": "acme"}) == acme


def test_placeholders_in_oauth_urls() -> None:
    registry = build_registry()
    zendesk = registry.get("zendesk")
    assert zendesk.resolve_auth("oauth2", {"subdomain": "acme"}).token_url == "https://acme.zendesk.com/oauth/tokens"
    shopify = registry.get("shopify").resolve_auth("oauth2", {"shop": "acme-store"})
    assert shopify.authorize_url == "https://acme-store.myshopify.com/admin/oauth/authorize"
    assert shopify.authorization_header("tok") == ("X-Shopify-Access-Token", "tok")
    jira = registry.get("jira")
    settings = {"site": "acme", "cloud_id": "1324a887-45db-1bf4-1e99-ef0ff456d421"}
    assert jira.resolve_base_url(settings, method="oauth2").startswith("https://api.atlassian.com/ex/jira/")
    assert jira.resolve_base_url(settings, method="api_token") == "https://acme.atlassian.net"


def test_http_connector_whole_url_settings() -> None:
    http = build_registry().get("http")
    settings = {
        "base_url": "https://api.example.com/v1/",
        "authorize_url": "https://auth.example.com/authorize",
        "token_url": "https://auth.example.com/token",
        "scopes": "read write",
    }
    oauth = http.resolve_auth("oauth2", settings)
    assert (oauth.authorize_url, oauth.token_url) == (settings["authorize_url"], settings["token_url"])
    assert oauth.scope_string() == "read write"
    assert http.test_request(settings).url == "https://api.example.com/v1/"
    header = http.resolve_auth("header_key", {"base_url": "https://api.example.com", "header_name": "X-Key"})
    assert header.name == "X-Key"
    for bad in ["http://api.example.com", "https://user:pw@api.example.com", "https://api.example.com/?a=1",
                "https://api.example.com/#x", "javascript:alert(1)", "//evil.com", "https://", "https://a/../b"]:
        with pytest.raises(InvalidSetting) as caught:
            http.resolve_base_url({"base_url": bad})
        assert caught.value.field == "base_url", bad
    with pytest.raises(InvalidSetting, match="^authorize_url: required$"):
        http.resolve_auth("oauth2", {"base_url": "https://api.example.com", "token_url": settings["token_url"]})
    with pytest.raises(InvalidSetting, match="^test_path: must match"):
        http.test_request({"base_url": "https://api.example.com", "test_path": "no-slash"})


def test_insecure_loopback_only_with_the_flag() -> None:
    http = build_registry().get("http")
    local = {"base_url": "http://127.0.0.1:8765/api"}
    with pytest.raises(InvalidSetting, match="^base_url: must be an https URL$"):
        http.resolve_base_url(local)
    assert http.resolve_base_url(local, allow_insecure_loopback=True) == "http://127.0.0.1:8765/api"
    assert http.resolve_base_url({"base_url": "http://localhost:8000"}, allow_insecure_loopback=True)
    with pytest.raises(InvalidSetting):
        http.resolve_base_url({"base_url": "http://example.com"}, allow_insecure_loopback=True)


def test_operation_paths_are_encoded(acme: catalog.ConnectorSpec) -> None:
    request = acme.operation_request("create_thing", {"subdomain": "demo"}, {"folder": "a/b?c", "name": "x"})
    assert request.url == "https://demo.acme.example/api/folders/a%2Fb%3Fc/things"
    assert request.body == {"name": "x"}
    for value in ["..", "."]:
        with pytest.raises(InvalidInput, match="^folder: must not (be|contain)"):
            acme.operation_request("create_thing", {"subdomain": "demo"}, {"folder": value})
    with pytest.raises(InvalidInput, match="^folder: required$"):
        acme.operation_request("create_thing", {"subdomain": "demo"}, {})
    http = build_registry().get("http")
    for path in ["//evil.com/x", "https://evil.com", "/a/../../b", "relative"]:
        with pytest.raises(InvalidInput):
            http.operation_request("get", {"base_url": "https://api.example.com"}, {"path": path})
    get = http.operation_request("get", {"base_url": "https://api.example.com"}, {"path": "/items?page=2"})
    assert (get.url, get.params) == ("https://api.example.com/items?page=2", {})


def test_clean_settings_reports_every_field(acme: catalog.ConnectorSpec) -> None:
    assert acme.clean_settings({"subdomain": " demo "}) == {"subdomain": "demo"}
    with pytest.raises(InvalidSettings) as caught:
        acme.clean_settings({"subdomain": "", "colour": "red"})
    assert caught.value.errors == {"colour": "unknown setting", "subdomain": "required"}
    http = build_registry().get("http")
    assert "authorize_url" in http.settings_for("oauth2") and "authorize_url" not in http.settings_for("basic")
    cleaned = http.clean_settings({"base_url": "https://api.example.com"}, method="basic")
    assert cleaned == {"base_url": "https://api.example.com", "test_path": "/"}


def test_credential_fields() -> None:
    registry = build_registry()
    twilio = registry.get("twilio").auth_method("basic")
    assert [(f.name, f.label, f.secret) for f in twilio.credential_fields] == [
        ("username", "API key SID or Account SID", False),
        ("password", "API key secret or auth token", True),
    ]
    zendesk = registry.get("zendesk").auth_method("api_token")
    assert [f.name for f in zendesk.credential_fields] == ["api_key", "api_secret"]
    assert zendesk.render("ada@example.com", "t0k") == "ada@example.com/token"
    assert registry.get("slack").auth_method("oauth2").credential_fields == []


def test_response_rules() -> None:
    slack = build_registry().get("slack")
    assert slack.response_verdict(200, '{"ok": false, "error": "invalid_auth"}') == "invalid"
    assert slack.response_verdict(200, '{"ok": false, "error": "token_expired"}') == "refresh"
    assert slack.response_verdict(200, '{"ok": false, "error": "channel_not_found"}') is None
    assert slack.response_verdict(200, '{"ok": false, "error": "channel_not_found"}', test=True) == "invalid"
    assert slack.response_verdict(200, b'{"ok": true, "user": "ada"}', test=True) is None
    assert slack.test.identity_from({"ok": True, "user": "ada", "user_id": "U1"}) == "ada"
    salesforce = build_registry().get("salesforce")
    assert salesforce.response_verdict(401, '[{"errorCode": "INVALID_SESSION_ID"}]') == "refresh"
    assert salesforce.response_verdict(500, "not json") is None

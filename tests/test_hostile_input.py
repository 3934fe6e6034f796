"""No 500 on hostile input (security issue 12).

Property-based tests (hypothesis) throw hostile strings at the connection wizard and edit page, the custom
connector upload, the OAuth callback, the list filters and the URL routes, signed in as a Builder or an Admin:
no answer is a 5xx, and what is refused changes nothing stored. Explicit tests pin each named case: deep or
huge YAML, aliases, numbers past what Python or a column holds, ids past a bigint, percent-encoded dot
segments, NUL characters and oversize form fields, each answered with a 4xx (or a form error) and a message.
"""

from __future__ import annotations

import html
import itertools
import json
import re

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import Project, User
from config.converters import MAX_ID, IdConverter, parse_id
from connections.catalog import registry
from connections.catalog.app_slot import AppSlot
from connections.catalog.loader import MAX_SPEC_BYTES, MAX_SPEC_DEPTH
from connections.custom import custom_connector_save, custom_connectors_unload
from connections.models import Connection, CustomConnector, CustomConnectorVersion, OAuthFlow
from recipes.models import ConnectionBinding, Recipe
from tests.connections import conftest as connections_conftest
from tests.connections.test_custom_connectors import ACME_YAML

pytestmark = pytest.mark.django_db
oauth2_connection = connections_conftest.oauth2_connection  # the fixture, for the callback with a real flow

# Examples share the test's database (function-scoped fixtures): each checks what it changed itself.
FUZZ = hypothesis_settings(max_examples=40, deadline=None, database=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                  HealthCheck.data_too_large, HealthCheck.large_base_example])
_unique = itertools.count(1)

# --- hostile strings --------------------------------------------------------------------------------------

HUGE = st.builds(lambda char, n: char * n, st.sampled_from(["x", "é", "🙂", "9", "%", "/", " ", ",", "\u202e"]),
                 st.integers(1_000, 1_100_000))
NESTED = st.builds(lambda pair, n: pair[0] * n + pair[1] * n,
                   st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", ""), ('{"a":', "}"), ("%5B", "%5D"), ("(", ")")]),
                   st.integers(10, 20_000))
UNICODE = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
CONTROL = st.text(st.one_of(st.characters(max_codepoint=0x1F), st.sampled_from("\x7f\x85\u2028\u2029\u202e\u200b"
                                                                               "\ufeff\ufffe\uffff")),
                  min_size=1, max_size=60)
PERCENT = st.lists(st.sampled_from(["%00", "%2e%2e%2f", "..%2f", "%2F%2F", "%ff", "%c0%ae", "%25", "%", "%zz",
                                    "../", "..\\", "//", "?", "#", "&", "=", ";", "@", ":", "\\"]),
                   min_size=1, max_size=30).map("".join)
NUMERIC = st.one_of(
    st.integers(MAX_ID - 3, 10**40).map(str), st.integers(-(10**40), 0).map(str),
    st.sampled_from(["9" * 5000, "²", "١٢٣", "1e999", "NaN", "Infinity", "0x10", "1_000", " 1", "1.5", "-0", "+1",
                     "0" * 30 + "1", str(MAX_ID), str(MAX_ID + 1), str(2**31), str(2**64)]),
)
URLS = st.sampled_from([
    "https://", "https://[::1]/", "http://169.254.169.254/latest/meta-data/", "https://a.example/..%2f..%2f",
    "https://x.example:99999/", "https://user:pw@x.example/", "javascript:alert(1)", "//evil.example/x",
    "https://exa mple.com", "https://" + "a" * 300 + ".example/", "https://x.example/\x00", "file:///etc/passwd",
    "https://x.example/%2e%2e/%2e%2e/", "https://0x7f000001/", "https://xn--/", "https://.example/",
])
HOSTILE = st.one_of(HUGE, NESTED, UNICODE, CONTROL, PERCENT, NUMERIC, URLS, st.text(max_size=40))
# Query strings and paths: what a URL could carry (a few KB), not a request body.
HOSTILE_SHORT = st.one_of(NESTED.map(lambda s: s[:4000]), UNICODE, CONTROL, PERCENT, NUMERIC, URLS,
                          st.text(max_size=40))


def _sane(setting) -> str:
    """A value the setting accepts, so that a request can fail on the one hostile field it holds."""
    if setting.type == "url":
        return "https://api.example.com"
    if setting.type == "integer":
        return "10"
    if setting.type == "boolean":
        return "on"
    if setting.type == "select":
        return setting.options[0].value
    return str(setting.example) if setting.example not in (None, "") else "demo"


FIELDS_YAML = """\
key: hostile_fields
name: Hostile Fields
description: Every kind of setting, and a secret one.
icon: {letter: H, color: "#7C3AED"}
categories: [Testing]
base_url: "https://{tenant}.example.com/api"
settings:
  tenant: {label: Tenant, pattern: "^[a-z0-9-]+$", example: demo}
  page_size: {label: Page size, type: integer, required: false}
  region: {label: Region, type: select, options: [{value: eu, label: Europe}, {value: us, label: USA}], default: eu}
  verbose: {label: Verbose, type: boolean, required: false}
  callback: {label: Callback URL, type: url, required: false}
secret_fields:
  signing_secret: {label: Signing secret, required: false}
auth:
  - type: api_key
    name: Authorization
    format: "Bearer {api_key}"
test: {path: /me}
"""


@pytest.fixture(autouse=True)
def _unload_custom_connectors():
    """Custom connectors join the process-wide registry; the rows roll back after each test, so must it."""
    yield
    custom_connectors_unload()


@pytest.fixture
def fields_connector(admin_user):
    return custom_connector_save(yaml_text=FIELDS_YAML, acting_user=admin_user)


def _snapshot(connection: Connection) -> tuple:
    connection.refresh_from_db()
    return connection.name, connection.description, connection.tags, connection.settings, connection.password


# --- (a) the connection settings form: the wizard's describe step and the edit page ---------------------------

WIZARD_APPS = ["http", "loopback", "zendesk", "hostile_fields"]


@FUZZ
@given(data=st.data())
def test_the_wizard_never_answers_5xx_and_stores_only_what_it_accepts(client_for, builder, project, fields_connector,
                                                                     data):
    client = client_for(builder)
    spec = registry().get(data.draw(st.sampled_from(WIZARD_APPS), label="app"))
    method = data.draw(st.sampled_from([m.key for m in spec.auth]), label="method")
    post = {"name": f"Fuzzed {next(_unique)}", "project": str(project.pk), "environment": "production",
            "auth_method": method}
    post |= {f"setting_{name}": _sane(setting) for name, setting in spec.settings_for(method).items()}
    post |= {f"secret_{name}": "s3cret" for name in spec.secret_fields_for(method)}
    for name in data.draw(st.sets(st.sampled_from([*post, "next", "scopes", "oauth_profile", "refresh"]), min_size=1,
                                  max_size=4), label="fuzzed fields"):
        post[name] = data.draw(HOSTILE, label=name)
    post |= data.draw(st.dictionaries(HOSTILE_SHORT, HOSTILE_SHORT, max_size=2), label="extra fields")
    url = reverse("connection_create_app", args=[spec.key])
    before = Connection.objects.count()

    if data.draw(st.booleans(), label="htmx re-render (GET)"):
        response = client.get(url, {k: v[:4000] for k, v in post.items()}, headers={"HX-Request": "true"})
        assert response.status_code < 500
        event(f"htmx answered {response.status_code}")
        assert Connection.objects.count() == before
        return
    response = client.post(url, post)

    assert response.status_code < 500
    event(f"answered {response.status_code}")
    if response.status_code == 302:
        created = Connection.objects.latest("pk")
        assert Connection.objects.count() == before + 1
        assert len(created.name) <= 120
        spec.clean_settings(created.settings, method=method, allow_insecure_loopback=True)  # only what it accepts
    else:
        assert Connection.objects.count() == before


@pytest.fixture
def editable_connections(project, builder, fields_connector, api_server):
    from connections import services

    def make(app_key, **settings_values):
        method = next(m for m in registry().get(app_key).auth if m.type in ("basic", "api_key"))
        return services.connection_create(project=project, connector_key=app_key, name=f"Edit {app_key}",
                                          acting_user=builder, auth_method=method.key, settings_values=settings_values)

    return [
        make("http", base_url=api_server.base_url, test_path="/api/me"),
        make("loopback", base_url=api_server.base_url),
        make("zendesk", subdomain="acme"),
        make("hostile_fields", tenant="demo"),
    ]


@FUZZ
@given(data=st.data())
def test_the_edit_page_never_answers_5xx_and_a_refusal_changes_nothing(client_for, builder, editable_connections,
                                                                       data):
    client = client_for(builder)
    connection = data.draw(st.sampled_from(editable_connections), label="connection")
    spec = connection.app_slot.spec
    post = {"name": connection.name, "description": "", "tags": ""}
    post |= {f"setting_{name}": str(value) for name, value in (connection.settings or {}).items()}
    # Credentials and secret settings are left out: a new one is tested against the app (a request).
    fields = ["name", "description", "tags", *(f"setting_{name}" for name in spec.settings_for(connection.auth_method))]
    for name in data.draw(st.sets(st.sampled_from(fields), min_size=1, max_size=4), label="fuzzed fields"):
        post[name] = data.draw(HOSTILE, label=name)
    before = _snapshot(connection)

    response = client.post(reverse("connection_edit", args=[connection.pk]), post)

    assert response.status_code < 500
    event(f"answered {response.status_code}")
    after = _snapshot(connection)
    if response.status_code == 302:
        name, description, tags, _settings, _password = after
        assert len(name) <= 120 and len(description) <= 2000
        assert len(tags) <= 20 and all(len(tag) <= 50 for tag in tags)
    else:
        assert after == before


# --- (b) the custom connector upload -------------------------------------------------------------------------

_VALUE_LINE = re.compile(r"^(\s*(?:- )?[A-Za-z_]+: )(.+)$", re.MULTILINE)
SPEC_VALUES = st.one_of(
    HOSTILE, st.integers(-(10**30), 10**30), st.floats(), st.booleans(), st.none(),
    st.recursive(st.one_of(st.integers(), st.text(max_size=10)),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=20),
)


def _acme_with_key() -> str:
    return ACME_YAML.replace("key: acme_tickets", f"key: fuzz_{next(_unique)}")


@st.composite
def hostile_specs(draw) -> str:
    kind = draw(st.sampled_from(["text", "value", "line", "nested", "aliases", "integer", "keys"]))
    if kind == "text":
        return draw(HOSTILE)
    spec = _acme_with_key()
    if kind == "value":  # one value of a valid spec replaced (JSON is YAML: the document stays well formed)
        lines = list(_VALUE_LINE.finditer(spec))
        match = lines[draw(st.integers(0, len(lines) - 1))]
        return spec[: match.start(2)] + json.dumps(draw(SPEC_VALUES)) + spec[match.end(2):]
    if kind == "line":
        lines = spec.splitlines(keepends=True)
        at = draw(st.integers(0, len(lines)))
        return "".join([*lines[:at], draw(HOSTILE) + "\n", *lines[at:]])
    if kind == "nested":
        depth = draw(st.integers(1, 3 * MAX_SPEC_DEPTH))
        return spec.replace("categories: [Internal]", "categories: " + "[" * depth + "x" + "]" * depth)
    if kind == "aliases":
        levels = draw(st.integers(1, 12))
        bomb = "a0: &a0 [lol]\n" + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, levels))
        return bomb + spec
    if kind == "integer":
        digits = draw(st.integers(15, 6000))
        return spec.replace("test: {path: /me, identity: email}", "test: {path: /me, identity: email}\n"
                            f"refresh_on: [{{status: {'9' * digits}}}]")
    count = draw(st.integers(1, 1000))  # many keys in one mapping
    return spec.replace("settings:\n", "settings:\n" + "".join(f"  s{i}: {{label: S{i}}}\n" for i in range(count)))


@FUZZ
@given(data=st.data())
def test_the_custom_connector_upload_never_answers_5xx_and_saves_only_what_it_accepts(client_for, admin_user, data):
    client = client_for(admin_user)
    existing = CustomConnector.objects.order_by("pk").last() if data.draw(st.booleans(), label="edit") else None
    url = reverse("custom_connector_edit", args=[existing.key]) if existing else reverse("custom_connector_create")
    if data.draw(st.booleans(), label="as a file"):
        content = data.draw(st.one_of(st.binary(max_size=4000), hostile_specs().map(lambda s: s.encode())),
                            label="file")
        post = {"spec_file": SimpleUploadedFile("spec.yaml", content, content_type="application/yaml")}
    else:
        post = {"yaml_text": data.draw(hostile_specs(), label="yaml_text")}
    post["note"] = data.draw(st.one_of(st.just(""), HOSTILE_SHORT), label="note")
    connectors, versions = CustomConnector.objects.count(), CustomConnectorVersion.objects.count()
    current = existing.yaml if existing else None

    response = client.post(url, post)

    assert response.status_code < 500
    event(f"answered {response.status_code}")
    if response.status_code == 302:
        saved = CustomConnector.objects.get(pk=existing.pk) if existing else CustomConnector.objects.latest("pk")
        for page in (reverse("catalog_app", args=[saved.key]), reverse("catalog"), reverse("custom_connector_list"),
                     reverse("custom_connector_history", args=[saved.key])):
            assert client.get(page).status_code < 500, page
    else:
        assert (CustomConnector.objects.count(), CustomConnectorVersion.objects.count()) == (connectors, versions)
        if existing:
            existing.refresh_from_db()
            assert existing.yaml == current


# --- (c) the OAuth callback ----------------------------------------------------------------------------------

CALLBACK_PARAMS = ["state", "code", "error", "iss", "error_description", "oauth_token", "oauth_verifier"]


@FUZZ
@given(params=st.dictionaries(st.sampled_from(CALLBACK_PARAMS), HOSTILE_SHORT, max_size=5))
def test_the_oauth_callback_never_answers_5xx_for_a_state_it_does_not_know(client_for, builder, params):
    client = client_for(builder)
    flows = OAuthFlow.objects.count()

    response = client.get(reverse("connection_oauth_callback"), params)

    assert response.status_code < 500
    event(f"answered {response.status_code}")
    assert OAuthFlow.objects.count() == flows


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["code", "error", "iss", "error_description"]), HOSTILE_SHORT,
                              max_size=4))
def test_the_oauth_callback_never_answers_5xx_for_a_real_flow(client_for, builder, oauth2_connection, params):
    from connections.oauth import connection_authorize_begin
    from tests.servers.fixtures import query_param

    client = client_for(builder)
    connection = oauth2_connection(name=f"OAuth {next(_unique)}")
    url = connection_authorize_begin(connection=connection, acting_user=builder,
                                     session_key=client.session.session_key)

    response = client.get(reverse("connection_oauth_callback"), {**params, "state": query_param(url, "state")})

    assert response.status_code < 500
    event(f"answered {response.status_code}")
    connection.refresh_from_db()
    assert connection.authorized_at is None and connection.status == Connection.Status.NOT_CONNECTED


# --- list filters and routes ---------------------------------------------------------------------------------

LIST_PAGES = ["connection_list", "recipe_list", "project_list", "connection_audit_log", "catalog", "connection_create",
              "notification_list", "recipe_create", "custom_connector_list", "connection_health"]
LIST_PARAMS = ["q", "project", "page", "sort", "status", "environment", "app", "tag", "kind", "state", "action",
               "connection", "user", "auth_method", "next"]


@FUZZ
@given(page=st.sampled_from(LIST_PAGES), params=st.dictionaries(st.sampled_from(LIST_PARAMS), HOSTILE_SHORT,
                                                                 max_size=4),
       htmx=st.booleans())
def test_list_filters_never_answer_5xx(client_for, admin_user, project, page, params, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = client_for(admin_user).get(reverse(page), params, headers=headers)
    assert response.status_code < 500
    event(f"answered {response.status_code}")


ROUTES = ["/connections/{}/", "/connections/{}/edit/", "/connections/{}/authorize/", "/connections/{}/test/",
          "/connections/new/{}/", "/connections/apps/{}/", "/connections/custom-connectors/{}/edit/",
          "/recipes/{}/", "/recipes/1/steps/{}/", "/projects/{}/", "/projects/{}/unshare/",
          "/notifications/{}/read/", "/connections/check-all/{}/", "/static/{}", "/demo-crm/{}", "/{}",
          "/admin/{}"]


@FUZZ
@given(route=st.sampled_from(ROUTES), segment=HOSTILE_SHORT, method=st.sampled_from(["get", "post"]))
def test_routes_never_answer_5xx_whatever_the_segment(client_for, admin_user, route, segment, method):
    path = route.format(segment.replace("?", "%3F").replace("#", "%23"))
    response = getattr(client_for(admin_user), method)(path)
    assert response.status_code < 500
    event(f"answered {response.status_code}")
    if path.startswith("/static/") and response.status_code == 200:
        assert b"SECRET_KEY" not in b"".join(response.streaming_content if response.streaming else [response.content])


# --- 1. custom connector upload: the named cases -------------------------------------------------------------

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{x}: &{x} [{', '.join(['*' + y] * 9)}]\n" for y, x in zip("abcdefgh", "bcdefghi", strict=True))

HOSTILE_SPECS = {
    "deep flow lists": ("[" * 50_000 + "]" * 50_000, f"nested more than {MAX_SPEC_DEPTH} levels deep"),
    "deep flow mappings": ("key: x\nname: " + "{a: " * 20_000 + "1" + "}" * 20_000,
                           f"nested more than {MAX_SPEC_DEPTH} levels deep"),
    "deep block mappings": ("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n",
                            f"nested more than {MAX_SPEC_DEPTH} levels deep"),
    "deep inside a valid spec": (ACME_YAML.replace("categories: [Internal]", "categories: " + "[" * 30 + "]" * 30),
                                 f"nested more than {MAX_SPEC_DEPTH} levels deep"),
    "an integer past Python's digit limit": (
        ACME_YAML.replace("test: {path: /me, identity: email}",
                          "test: {path: /me, identity: email}\nrefresh_on: [{status: " + "9" * 5000 + "}]"),
        "is too long for a number"),
    "an integer past a bigint": (
        ACME_YAML.replace("test: {path: /me, identity: email}",
                          "test: {path: /me, identity: email}\nrefresh_on: [{status: 9223372036854775808}]"),
        "is out of range"),
    "a hex integer past a bigint": ("key: x\nrevision: 0x" + "f" * 90 + "\n", "is out of range"),
    "a sexagesimal integer past a bigint": ("key: x\nrevision: 1" + ":59" * 30 + "\n", "is out of range"),
    "an infinite float": ("key: x\nrevision: .inf\n", "is not a finite number"),
    "billion laughs": (BILLION_LAUGHS + ACME_YAML, "aliases (*name) are not allowed"),
    "a merge key": ("base: &b {x: 1}\nkey: {<<: *b}\n", "aliases (*name) are not allowed"),
    "an inline merge key": ("key: {<<: {x: 1}}\n", "merge keys (<<) are not allowed"),
    "a very large document": ("# " + "x" * (MAX_SPEC_BYTES + 10), f"larger than {MAX_SPEC_BYTES // 1024} KiB"),
    "a large document of multibyte characters": ("# " + "é" * (MAX_SPEC_BYTES // 2 + 10),
                                                 f"larger than {MAX_SPEC_BYTES // 1024} KiB"),
    "a list": ("- a\n- b\n", "a spec must be a YAML mapping"),
    "a scalar": ("just words", "a spec must be a YAML mapping"),
    "null": ("~", "a spec must be a YAML mapping"),
    "binary junk": ("\x01\x02\x03\x7f\x80\x9f garbage \ufffe", "invalid YAML"),
    "two documents": ("a: 1\n---\nb: 2\n", "invalid YAML"),
    "an impossible date": ("key: x\nname: 2020-13-45\n", "cannot read '2020-13-45' as a date"),
    "a bad explicit integer": ("key: x\nname: !!int abc\n", "cannot read 'abc' as an integer"),
    "a bad explicit float": ("key: x\nname: !!float abc\n", "cannot read 'abc' as a number"),
    "a python tag": ("key: !!python/object/apply:os.system [id]\n", "could not determine a constructor"),
    "an unhashable key": ("? [a, b]\n: 1\n", "mapping keys must be plain values"),
}


def _assert_nothing_stored(key: str | None = None) -> None:
    assert not CustomConnector.objects.exists() and not CustomConnectorVersion.objects.exists()
    if key:
        assert key not in registry()


@pytest.mark.parametrize("case", list(HOSTILE_SPECS))
def test_each_hostile_spec_pasted_is_a_400_with_a_message_and_saves_nothing(client_for, admin_user, case):
    text, message = HOSTILE_SPECS[case]
    response = client_for(admin_user).post(reverse("custom_connector_create"), {"yaml_text": text})
    assert response.status_code == 400
    errors = response.context["form"].errors["yaml_text"]
    assert any(message in error for error in errors), errors
    assert message in html.unescape(response.content.decode())
    _assert_nothing_stored("acme_tickets")


@pytest.mark.parametrize("case", ["deep flow lists", "an integer past Python's digit limit", "billion laughs",
                                  "a list", "an impossible date"])
def test_each_hostile_spec_uploaded_as_a_file_is_a_400_with_a_message(client_for, admin_user, case):
    text, message = HOSTILE_SPECS[case]
    upload = SimpleUploadedFile("spec.yaml", text.encode(), content_type="application/yaml")
    response = client_for(admin_user).post(reverse("custom_connector_create"), {"spec_file": upload})
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors["yaml_text"])
    _assert_nothing_stored("acme_tickets")


@pytest.mark.parametrize(("content", "message"), [
    (b"\xff\xfe\x00b\x00i\x00n\x00\x80\x81", "The file is not UTF-8 text."),
    (bytes(range(256)) * 4, "The file is not UTF-8 text."),
    (b"# " + b"x" * (MAX_SPEC_BYTES + 1), f"The file is larger than {MAX_SPEC_BYTES // 1024} KiB."),
    (b"key: a\x00b\n", "Null characters are not allowed."),
])
def test_a_binary_or_oversize_file_is_a_400_with_a_message(client_for, admin_user, content, message):
    upload = SimpleUploadedFile("spec.yaml", content, content_type="application/yaml")
    response = client_for(admin_user).post(reverse("custom_connector_create"), {"spec_file": upload})
    assert response.status_code == 400
    errors = [*response.context["form"].errors.get("spec_file", []), *response.context["form"].errors.get("yaml_text",
                                                                                                          [])]
    assert any(message in error for error in errors), errors
    _assert_nothing_stored()


def test_the_pasted_text_has_a_size_limit_on_the_form(client_for, admin_user):
    response = client_for(admin_user).post(reverse("custom_connector_create"),
                                           {"yaml_text": "x" * (MAX_SPEC_BYTES + 1)})
    assert response.status_code == 400
    assert response.context["form"].errors["yaml_text"] == [f"The spec is larger than {MAX_SPEC_BYTES // 1024} KiB."]
    assert f'maxlength="{MAX_SPEC_BYTES}"' in response.content.decode()
    _assert_nothing_stored()


@pytest.mark.parametrize("case", ["deep flow lists", "billion laughs", "an integer past a bigint", "a scalar"])
def test_a_hostile_new_version_keeps_the_current_one(client_for, admin_user, case):
    acme = custom_connector_save(yaml_text=ACME_YAML, acting_user=admin_user)
    text, message = HOSTILE_SPECS[case]
    response = client_for(admin_user).post(reverse("custom_connector_edit", args=[acme.key]), {"yaml_text": text})
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors["yaml_text"])
    acme.refresh_from_db()
    assert acme.yaml == ACME_YAML and acme.revision == 1 and acme.versions.count() == 1
    assert registry().get("acme_tickets").name == "Acme Tickets"


def test_admin_refuses_a_hostile_spec_with_the_same_message(client_for, admin_user):
    text, message = HOSTILE_SPECS["deep flow mappings"]
    response = client_for(admin_user).post(reverse("admin:connections_customconnector_add"), {
        "yaml": text, "enabled": "on", "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert any(message in error for error in response.context["adminform"].form.errors["yaml"])
    _assert_nothing_stored()


# --- 2. ids past what the database holds ---------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("1", 1), (str(MAX_ID), MAX_ID), (42, 42), ("0", None), (str(MAX_ID + 1), None), ("9" * 5000, None),
    ("-1", None), ("²", None), ("١٢", None), (" 1", None), ("1 ", None), ("1.0", None), ("", None), (None, None),
    (True, None), (0, None), (2**64, None), ("0x10", None),
])
def test_parse_id_accepts_only_what_a_bigint_primary_key_holds(value, expected):
    assert parse_id(value) == expected


def test_the_id_converter_refuses_what_parse_id_refuses():
    converter = IdConverter()
    assert converter.to_python("17") == 17 and converter.to_url(17) == "17"
    for value in ("0", str(MAX_ID + 1)):
        with pytest.raises(ValueError):
            converter.to_python(value)


OVERFLOWING_IDS = ["99999999999999999999999", str(MAX_ID + 1), str(2**64), "0"]
ID_ROUTES = ["/connections/{}/", "/connections/{}/edit/", "/connections/{}/authorize/", "/connections/{}/test/",
             "/connections/{}/disconnect/", "/connections/{}/delete/", "/connections/check-all/{}/",
             "/recipes/{}/", "/recipes/{}/settings/", "/recipes/{}/steps/", "/recipes/{}/steps/1/",
             "/recipes/1/steps/{}/", "/recipes/1/steps/{}/delete/", "/recipes/{}/connections/",
             "/recipes/{}/start/", "/recipes/{}/history/", "/projects/{}/", "/projects/{}/share/",
             "/projects/{}/unshare/", "/notifications/{}/read/"]


@pytest.mark.parametrize("route", ID_ROUTES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_id_past_a_bigint_is_a_404(client_for, admin_user, route, method):
    client = client_for(admin_user)
    for value in OVERFLOWING_IDS:
        response = getattr(client, method)(route.format(value))
        assert response.status_code == 404, (route, value)
    # The largest id matches the route and finds no row (marking no notification read is a redirect).
    assert getattr(client, method)(route.format(MAX_ID)).status_code in (302, 404, 405)


def test_every_urlconf_uses_the_id_converter():
    from django.urls import get_resolver

    def patterns(resolver, prefix=""):
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if hasattr(entry, "url_patterns"):
                yield from patterns(entry, route)
            else:
                yield route

    routes = [r for r in patterns(get_resolver()) if not r.startswith(("admin/", "accounts/"))]  # Django's, allauth's
    assert not [r for r in routes if "<int:" in r]
    assert len([r for r in routes if "<id:" in r]) >= 20


@pytest.mark.parametrize("query", [
    {"project": "²"}, {"project": "99999999999999999999999"}, {"project": str(MAX_ID + 1)}, {"page": "9" * 30},
])
@pytest.mark.parametrize("page", ["connection_list", "recipe_list", "recipe_create", "project_list"])
def test_an_id_in_the_query_that_is_no_id_is_ignored(client_for, admin_user, project, page, query):
    assert client_for(admin_user).get(reverse(page), query).status_code == 200


@pytest.mark.parametrize("value", ["²", "99999999999999999999999", str(MAX_ID + 1)])
def test_ids_in_the_wizard_and_audit_log_query_are_ignored(client_for, admin_user, project, value):
    client = client_for(admin_user)
    assert client.get(reverse("connection_create_app", args=["loopback"]), {"project": value}).status_code == 200
    assert client.get(reverse("connection_audit_log"), {"connection": value, "user": value}).status_code == 200


@pytest.fixture
def shared_with_operators(client_for, builder, project):
    operators = Group.objects.get(name="Operator")
    response = client_for(builder).post(reverse("project_share", args=[project.pk]),
                                        {"role": operators.pk, "level": "use_project"})
    assert response.status_code == 302
    return operators


def _operator_access(project: Project, group: Group) -> set[str]:
    from guardian.shortcuts import get_perms

    member = User.objects.create_user(email=f"op{next(_unique)}@example.com", password="x-Splice-123!")
    member.groups.add(group)
    return set(get_perms(member, project))


@pytest.mark.parametrize("value", ["abc", "²", "99999999999999999999999", str(MAX_ID + 1), "-1", "1; drop"])
def test_unsharing_with_a_role_id_that_is_no_id_is_a_400_and_keeps_the_share(client_for, builder, project,
                                                                           shared_with_operators, value):
    before = _operator_access(project, shared_with_operators)
    assert before
    response = client_for(builder).post(reverse("project_unshare", args=[project.pk]), {"group": value})
    assert response.status_code == 400
    assert "Choose one of the roles listed." in response.content.decode()
    assert _operator_access(project, shared_with_operators) == before


@pytest.fixture
def recipe_with_a_step(builder, project):
    from recipes import services

    recipe = services.recipe_create(project=project, name="Hostile", kind=Recipe.Kind.STANDARD, description="",
                                    acting_user=builder)
    services.step_add(recipe=recipe, acting_user=builder, app=AppSlot("loopback"), operation_key="create_item")
    return recipe


@pytest.mark.parametrize("value", ["²", "99999999999999999999999", str(MAX_ID + 1), "abc", ""])
def test_binding_a_connection_id_that_is_no_id_binds_nothing(client_for, builder, recipe_with_a_step, value):
    client = client_for(builder)
    response = client.post(reverse("recipe_binding_set", args=[recipe_with_a_step.pk]),
                           {"app_key": "loopback", "connection": value})
    assert response.status_code < 500
    assert "Choose one of the connections listed." in response.content.decode() or response.status_code == 302
    done = client.get(reverse("recipe_connect_done", args=[recipe_with_a_step.pk]), {"connection": value})
    assert done.status_code == 302
    assert not ConnectionBinding.objects.filter(recipe=recipe_with_a_step, connection__isnull=False).exists()


def test_a_step_input_past_its_limit_is_refused_and_keeps_the_saved_inputs(client_for, builder, recipe_with_a_step):
    from recipes.views import MAX_INPUT_LENGTH

    step = recipe_with_a_step.steps.get()
    client = client_for(builder)
    url = reverse("recipe_step_inputs", args=[recipe_with_a_step.pk, step.position])
    inputs = {f"input_{field.name}": "ok" for field in registry().get("loopback").operation(step.operation_key).input}
    client.post(url, inputs)
    step.refresh_from_db()
    saved = step.inputs
    name = next(iter(inputs))
    response = client.post(url, {**inputs, name: "x" * (MAX_INPUT_LENGTH + 1)}, follow=True)
    assert response.status_code == 200
    assert f"at most {MAX_INPUT_LENGTH:,} characters" in response.content.decode()
    step.refresh_from_db()
    assert step.inputs == saved


# --- 3. percent-encoded dot segments -------------------------------------------------------------------------

DOT_SEGMENT_PATHS = [
    "/..%2f..%2fadmin", "/..%2f..%2fadmin/", "/connections/..%2f..%2fadmin/", "/connections/..%2f..%2fadmin",
    "/static/..%2f..%2fsettings.py", "/static/..%2f..%2fconfig/settings.py", "/static/css/..%2f..%2f..%2fmanage.py",
    "/static/%2e%2e/%2e%2e/config/settings.py", "/static/%2e%2e%2f%2e%2e%2fconfig%2fsettings.py",
    "/static/..%5c..%5cconfig%5csettings.py", "/static/..%252f..%252fsettings.py", "/static/%c0%ae%c0%ae/settings.py",
    "/demo-crm/..%2f", "/demo-crm/..%2f..%2f", "/demo-crm/api/..%2fme", "/connections/new/..%2f/",
    "/connections/new/%2e%2e/", "/connections/apps/..%2f/", "/connections/custom-connectors/..%2f/edit/",
    "/recipes/..%2f1/", "/projects/..%2f..%2f/", "/admin/..%2f..%2f", "/%2e%2e/", "/%2e%2e%2f%2e%2e%2fadmin",
]


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "admin"])
def test_percent_encoded_dot_segments_are_a_404_and_never_a_file_outside_static(client, admin_user, settings, debug,
                                                                                signed_in):
    settings.DEBUG = debug
    settings.WHITENOISE_AUTOREFRESH = debug  # read when the client's first request builds the middleware
    if signed_in:
        client.force_login(admin_user)
    for path in DOT_SEGMENT_PATHS:
        response = client.get(path)
        assert response.status_code in (302, 404), (path, response.status_code)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"SECRET_KEY" not in body and b"DJANGO_SETTINGS_MODULE" not in body, path


# --- NUL characters ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("page", "query"), [
    ("connection_list", {"q": "a\x00b"}), ("connection_list", {"status": "\x00", "sort": "\x00", "app": "\x00"}),
    ("project_list", {"q": "\x00"}), ("recipe_list", {"q": "\x00"}), ("connection_audit_log", {"action": "\x00"}),
    ("connection_oauth_callback", {"state": "\x00", "code": "x"}),
    ("connection_oauth_callback", {"state": "x", "error": "access_denied\x00"}),
])
def test_a_nul_character_in_the_query_is_a_400_with_a_message(client_for, admin_user, page, query):
    response = client_for(admin_user).get(reverse(page), query)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


def test_a_nul_character_in_a_form_is_a_400_and_creates_nothing(client_for, builder, project):
    response = client_for(builder).post(reverse("connection_create_app", args=["http"]), {
        "name": "Nul\x00", "project": project.pk, "environment": "production",
        "auth_method": registry().get("http").auth[0].key,
        "setting_base_url": "https://api.example.com"})
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()
    assert not Connection.objects.filter(name__startswith="Nul").exists()


# --- 4. length limits on form fields -------------------------------------------------------------------------

@pytest.fixture
def edit_connection(project, builder):
    from connections import services

    return services.connection_create(project=project, connector_key="zendesk", name="Support", acting_user=builder,
                                      auth_method="api_token", settings_values={"subdomain": "acme"})


@pytest.mark.parametrize(("field", "value", "message"), [
    ("description", "d" * 1_000_000, "Ensure this value has at most 2000 characters"),
    ("description", "d" * 2001, "Ensure this value has at most 2000 characters"),
    ("tags", ",".join(f"t{i}" for i in range(19_600)), "Ensure this value has at most 1040 characters"),
    ("tags", ", ".join(f"t{i}" for i in range(21)), "At most 20 tags of at most 50 characters each."),
    ("tags", "t" * 51, "At most 20 tags of at most 50 characters each."),
    ("name", "n" * 121, "Ensure this value has at most 120 characters"),
    ("setting_subdomain", "s" * 256, "Ensure this value has at most 255 characters"),
])
def test_the_edit_page_refuses_oversize_values_and_keeps_the_saved_ones(client_for, builder, edit_connection, field,
                                                                        value, message):
    before = _snapshot(edit_connection)
    post = {"name": "Support", "description": "", "tags": "", "setting_subdomain": "acme", field: value}
    response = client_for(builder).post(reverse("connection_edit", args=[edit_connection.pk]), post)
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field]), response.context["form"].errors
    assert _snapshot(edit_connection) == before


def test_twenty_tags_of_fifty_characters_are_accepted(client_for, builder, edit_connection):
    tags = [f"{i:02d}" + "t" * 48 for i in range(20)]
    response = client_for(builder).post(reverse("connection_edit", args=[edit_connection.pk]), {
        "name": "Support", "description": "d" * 2000, "tags": ", ".join(tags), "setting_subdomain": "acme"})
    assert response.status_code == 302
    edit_connection.refresh_from_db()
    assert edit_connection.tags == tags and len(edit_connection.description) == 2000


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "n" * 121, "at most 120 characters"),
    ("setting_base_url", "https://api.example.com/" + "p" * 3000, "at most"),
    ("setting_page_size", str(10**30), "less than or equal to"),
    ("setting_page_size", "9" * 5000, "Enter a whole number."),
    ("secret_signing_secret", "s" * 10_000, "at most 8192 characters"),
    ("setting_tenant", "t" * 300, "at most 255 characters"),
])
def test_the_wizard_refuses_oversize_values_and_creates_nothing(client_for, builder, project, fields_connector, field,
                                                                value, message):
    app = "http" if field == "setting_base_url" else "hostile_fields"
    post = {"name": "Sized", "project": project.pk, "environment": "production",
            "auth_method": registry().get(app).auth[0].key, "setting_tenant": "demo",
            "setting_base_url": "https://api.example.com", field: value}
    response = client_for(builder).post(reverse("connection_create_app", args=[app]), post)
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field]), response.context["form"].errors
    assert not Connection.objects.filter(name="Sized").exists()


def test_the_credentials_form_has_a_size_limit_on_secrets(client_for, builder, project, api_server):
    from connections import services

    connection = services.connection_create(project=project, connector_key="loopback", name="Sized creds",
                                            acting_user=builder, auth_method="basic",
                                            settings_values={"base_url": api_server.base_url})
    response = client_for(builder).post(reverse("connection_authorize", args=[connection.pk]),
                                        {"username": "ada", "password": "p" * 10_000})
    assert response.status_code == 200
    assert "at most 8192 characters" in " ".join(response.context["form"].errors["password"])
    connection.refresh_from_db()
    assert connection.password == "" and connection.authorized_at is None
    assert api_server.stats()["by_path"].get("/api/me", 0) == 0  # nothing was tested


@pytest.mark.parametrize(("url_name", "post", "field", "count"), [
    ("project_create", {"name": "p" * 121, "description": ""}, "name", lambda: Project.objects.count()),
    ("project_create", {"name": "Big", "description": "d" * 1_000_000}, "description",
     lambda: Project.objects.count()),
    ("recipe_create", {"name": "Big", "kind": "standard", "description": "d" * 2001}, "description",
     lambda: Recipe.objects.count()),
    ("recipe_create", {"name": "r" * 121, "kind": "standard", "description": ""}, "name",
     lambda: Recipe.objects.count()),
])
def test_create_forms_refuse_oversize_values(client_for, admin_user, project, url_name, post, field, count):
    before = count()
    response = client_for(admin_user).post(reverse(url_name), {**post, "project": project.pk})
    assert response.status_code == 200
    assert "Ensure this value has at most" in " ".join(response.context["form"].errors[field])
    assert count() == before


def test_the_recipe_settings_form_refuses_an_oversize_description(client_for, builder, recipe_with_a_step):
    response = client_for(builder).post(reverse("recipe_settings", args=[recipe_with_a_step.pk]),
                                        {"name": "Hostile", "kind": "standard", "description": "d" * 2001},
                                        follow=True)
    assert "at most 2000 characters" in response.content.decode()
    recipe_with_a_step.refresh_from_db()
    assert recipe_with_a_step.description == ""


def test_the_share_and_profile_forms_refuse_oversize_values(client_for, builder, project):
    client = client_for(builder)
    share = client.post(reverse("project_share", args=[project.pk]),
                        {"email": "a" * 300 + "@example.com", "level": "use_project"})
    assert share.status_code == 400
    assert share.context["share_form"].errors["email"]
    profile = client.post(reverse("profile"), {"first_name": "f" * 151, "last_name": ""})
    assert "at most 150 characters" in " ".join(profile.context["form"].errors["first_name"])
    builder.refresh_from_db()
    assert builder.first_name == ""


def test_the_custom_connector_note_and_oauth_profile_secret_have_limits():
    from connections.forms_catalog import CustomConnectorForm, OAuthProfileAdminForm

    assert CustomConnectorForm.base_fields["note"].max_length == 200
    assert CustomConnectorForm.base_fields["yaml_text"].max_length == MAX_SPEC_BYTES
    assert OAuthProfileAdminForm.base_fields["new_client_secret"].max_length == 8192

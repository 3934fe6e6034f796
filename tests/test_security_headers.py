"""Production headers: plain http is redirected to https, https answers carry HSTS, and every page carries a
Content Security Policy that its own markup keeps (no inline script, event handler or style attribute)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from django.test import Client

from tests.conftest import ROOT

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
          "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
ONE_YEAR = 365 * 24 * 60 * 60
HTMX_CONFIG = """<meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}'>"""
# What the policy would block in a page's own markup (JSON data in <script type="application/json"> is not code).
INLINE_CODE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|<style\b"
    r"|<[^>]+\s(?:on[a-z]+|style|hx-on[:-][\w:-]*)=",
    re.IGNORECASE,
)


def _settings_as_deployed(**env: str) -> dict:
    """The security settings config.settings makes from an environment with nothing but the two secrets."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPLICE_") and k != "DJANGO_SETTINGS_MODULE"}
    clean.update(SPLICE_SECRET_KEY="x" * 50, SPLICE_CREDENTIAL_KEYS="k:" + "A" * 43 + "=",
                 SPLICE_VAR_DIR=str(ROOT / "var" / "test"), **env)
    names = ["DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
             "SECURE_HSTS_PRELOAD"]
    script = f"import json, config.settings as s; print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_redirects_to_https_and_sends_hsts_for_a_year():
    assert _settings_as_deployed() == {
        "DEBUG": False, "SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": ONE_YEAR,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": False,
    }


def test_debug_keeps_plain_http_and_no_hsts():
    deployed = _settings_as_deployed(SPLICE_DEBUG="1")
    assert (deployed["SECURE_SSL_REDIRECT"], deployed["SECURE_HSTS_SECONDS"]) == (False, 0)


def test_the_environment_configures_them():
    deployed = _settings_as_deployed(SPLICE_SSL_REDIRECT="0", SPLICE_HSTS_SECONDS="300",
                                     SPLICE_HSTS_INCLUDE_SUBDOMAINS="0", SPLICE_HSTS_PRELOAD="1")
    assert deployed == {
        "DEBUG": False, "SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 300,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": True,
    }


@pytest.fixture
def production(settings):
    """The production default (shown above); the suite itself runs without the redirect (tests/settings.py)."""
    settings.SECURE_SSL_REDIRECT = True
    return settings


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https(production, builder):
    client = Client()
    client.force_login(builder)
    response = client.get("/connections/?status=attention")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/connections/?status=attention"
    assert "Strict-Transport-Security" not in response  # browsers ignore HSTS over plain http


@pytest.mark.django_db
def test_behind_the_tls_proxy_the_forwarded_scheme_counts(production, builder):
    production.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    client.force_login(builder)
    assert client.get("/connections/", headers={"X-Forwarded-Proto": "http"}).status_code == 301
    response = client.get("/connections/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == f"max-age={ONE_YEAR}; includeSubDomains"


@pytest.fixture
def pages(builder, admin_user, project):
    """name -> (who, path, status) of representative pages: each app's main views, the wizard, the editor, sign-in,
    admin."""
    from connections.catalog.app_slot import AppSlot
    from connections.models import Connection
    from recipes import services as recipe_services

    connection = Connection.objects.create(
        name="Ops API", connector_key="loopback", project=project, created_by=builder, auth_method="basic",
        status="connected", identity="ada@example.com",
    )
    recipe = recipe_services.recipe_create(project=project, name="Forward leads", kind="standard",
                                           acting_user=builder)
    recipe_services.step_add(recipe=recipe, acting_user=builder, app=AppSlot("loopback"), operation_key="list_items")
    return {
        "home": (builder, "/", 200),
        "sign-in": (None, "/accounts/login/", 200),
        "projects": (builder, f"/projects/{project.pk}/", 200),
        "connections": (builder, "/connections/", 200),
        "connection": (builder, f"/connections/{connection.pk}/", 200),
        "authorize": (builder, f"/connections/{connection.pk}/authorize/", 200),
        "wizard: pick an app": (builder, "/connections/new/", 200),
        "wizard: describe": (builder, "/connections/new/loopback/", 200),
        "apps": (builder, "/connections/apps/", 200),
        "custom connector": (admin_user, "/connections/custom-connectors/new/", 200),
        "recipes": (builder, "/recipes/", 200),
        "recipe editor": (builder, f"/recipes/{recipe.pk}/", 200),
        "not found": (builder, "/connections/999999/", 404),
        "admin sign-in": (None, "/admin/login/", 200),
        "admin: custom connector": (admin_user, "/admin/connections/customconnector/add/", 200),
        "admin: periodic task": (admin_user, "/admin/django_celery_beat/periodictask/add/", 200),
    }


@pytest.mark.django_db
def test_every_page_carries_hsts_and_a_csp_its_markup_keeps(production, pages):
    for name, (user, path, status) in pages.items():
        client = Client()
        if user:
            client.force_login(user)
        response = client.get(path, secure=True)
        assert response.status_code == status, (name, response.status_code)
        assert response["Strict-Transport-Security"] == f"max-age={ONE_YEAR}; includeSubDomains", name
        assert response["Content-Security-Policy"] == POLICY, name
        html = response.content.decode()
        assert not INLINE_CODE.findall(html), (name, INLINE_CODE.findall(html))
        if status != 302 and not name.startswith("admin"):  # htmx may add no inline style and use no eval
            assert HTMX_CONFIG in html, name


@pytest.mark.django_db
def test_htmx_partials_carry_the_policy_and_no_inline_code(builder, client_for):
    client = client_for(builder)
    response = client.get("/connections/apps/?q=loop", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == POLICY
    assert "Loopback" in response.content.decode()
    assert not INLINE_CODE.findall(response.content.decode())


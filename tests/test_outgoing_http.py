"""Every outgoing request goes through connections.http (timeouts and the egress policy): no other module of
Splice builds a session or calls the network by itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "config", "connections", "demo", "recipes")
ONE_WAY_OUT = ROOT / "connections" / "http.py"
# Calls that reach the network without our session factory.
FORBIDDEN_CALLS = {
    ("requests", name) for name in ("get", "post", "put", "patch", "delete", "head", "options", "request",
                                    "Session", "session")
} | {("requests_oauthlib", "OAuth1Session"), ("requests_oauthlib", "OAuth2Session"),
     ("urllib.request", "urlopen"), ("http.client", "HTTPConnection"), ("http.client", "HTTPSConnection"),
     ("socket", "create_connection"), ("urllib3", "PoolManager")}


def _imported_names(tree: ast.Module) -> dict[str, tuple[str, str | None]]:
    """local name -> (module, attribute or None for a module)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (alias.name, None)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, alias.name)
    return names


def _network_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = _imported_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in names:
            module, attribute = names[func.id]
            called = (module, attribute)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in names:
            module, attribute = names[func.value.id]
            called = (module if attribute is None else f"{module}.{attribute}", func.attr)
        else:
            continue
        if called in FORBIDDEN_CALLS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {called[0]}.{called[1]}")
    return found


def test_no_module_but_the_session_factory_reaches_the_network():
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py") if path != ONE_WAY_OUT]
    assert len(files) > 50
    assert [call for path in files for call in _network_calls(path)] == []


def test_the_check_sees_a_direct_call():
    """The check itself works: it finds the calls it is meant to find."""
    sample = ROOT / "var" / "outgoing_sample.py"
    sample.parent.mkdir(exist_ok=True)
    sample.write_text("import requests\nfrom requests_oauthlib import OAuth2Session\n"
                      "requests.get('https://x')\nOAuth2Session('id')\n")
    try:
        assert len(_network_calls(sample)) == 2
    finally:
        sample.unlink()

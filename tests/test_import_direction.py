"""Dependencies point one way, accounts ← connections ← recipes: accounts imports neither of the others,
connections nothing of recipes; and no two modules of one app import each other. What composes every app (the
home and project pages in config.views, the demo loader in demo) sits above them and is not checked here.

Read from the source with `ast`, not from what happens to be imported at run time: an import inside a function
counts, and so do `importlib.import_module("…")` and `apps.get_model("…", …)` with a literal name. Migrations
may name another app in strings (their dependencies, `apps.get_model` in a data migration), never import it."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each app may import the apps listed for it, and no other of the three.
MAY_IMPORT = {
    "accounts": set(),
    "connections": {"accounts"},
    "recipes": {"accounts", "connections"},
}
APPS = list(MAY_IMPORT)

# Circles of two that exist today, each waiting for the change that breaks it (issue 13). A circle not in this
# list fails the test; so does one that is listed but gone, so the list only shrinks.
KNOWN_CIRCLES: set[frozenset[str]] = set()  # none left: keep it so


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it names: a dotted module, or a module and a name in it
    line: int

    def __str__(self) -> str:
        return f"{self.module} (line {self.line}) imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_modules(app: str) -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / app).rglob("*.py"))}


def imports_of(module: str, source: str, *, is_package: bool = False) -> list[Import]:
    """Every import the source makes, wherever it is (module level, functions, `if` blocks), relative ones
    resolved against `module`: `from x import y` names "x.y", which is module x.y or the name y in module x."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            found += [Import(module, f"{origin}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Call) and _is_named_import(node):
            name = node.args[0].value
            if _call_name(node) == "get_model" and len(node.args) > 1:  # apps.get_model("recipes", "Recipe")
                name = f"{name}.models"
            found.append(Import(module, name, node.lineno))
    return found


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _is_named_import(node: ast.Call) -> bool:
    """import_module("x"), __import__("x"), get_model("app", "Model") or get_model("app.Model")."""
    return (_call_name(node) in {"import_module", "__import__", "get_model"} and bool(node.args)
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))


def app_of(target: str) -> str:
    return target.split(".", 1)[0]


def resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The module of `modules` that `target` names: itself, or the longest prefix that is one."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def all_imports(app: str) -> list[Import]:
    found = []
    for module, path in app_modules(app).items():
        found += imports_of(module, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")
    return found


# --- the checker sees what it must ----------------------------------------------------------------------


def test_the_checker_finds_imports_wherever_they_are():
    source = '''
import recipes.models
from accounts import services
from . import client
from .catalog import registry


def later():
    from recipes.selectors import recipes_for_connection
    if True:
        import_module("recipes.views")
    return apps.get_model("recipes", "Recipe"), apps.get_model("recipes.Step")
'''
    targets = sorted(i.target for i in imports_of("connections.views", source))
    assert targets == sorted(["recipes.models", "accounts.services", "connections.client",
                              "connections.catalog.registry", "recipes.selectors.recipes_for_connection",
                              "recipes.views", "recipes.models", "recipes.Step"])
    assert {i.target for i in imports_of("connections.catalog", "from .loader import load", is_package=True)} == {
        "connections.catalog.loader.load"}
    assert {i.target for i in imports_of("connections.auth.oauth2", "from ..client import x")} == {
        "connections.client.x"}


def test_every_app_has_modules_to_check():
    for app in APPS:
        assert f"{app}.models" in app_modules(app)
    assert any(app_of(i.target) == "connections" for i in all_imports("recipes"))  # recipes does use connections


# --- the rules --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("app", APPS)
def test_each_app_imports_only_the_apps_below_it(app):
    others = set(APPS) - {app}
    wrong = [str(i) for i in all_imports(app) if app_of(i.target) in others - MAY_IMPORT[app]]
    assert not wrong, f"{app} may import only {sorted(MAY_IMPORT[app]) or 'none of the other apps'}:\n" + "\n".join(
        wrong)


def circles_of_two(app: str) -> dict[frozenset[str], list[Import]]:
    """{ {a, b}: the imports each way } for modules a and b of `app` that import each other."""
    modules = app_modules(app)
    edges: dict[tuple[str, str], Import] = {}
    for i in all_imports(app):
        target = resolve(i.target, modules)
        if target and target != i.module:
            edges.setdefault((i.module, target), i)
    return {frozenset(pair): [edges[pair], edges[pair[::-1]]] for pair in edges
            if pair[::-1] in edges and pair[0] < pair[1]}


@pytest.mark.parametrize("app", APPS)
def test_no_two_modules_of_an_app_import_each_other(app):
    circles = circles_of_two(app)
    new = [f"{there}\n  {back}" for pair, (there, back) in sorted(circles.items(), key=lambda c: sorted(c[0]))
           if pair not in KNOWN_CIRCLES]
    assert not new, "modules that import each other (one of them should not know the other):\n" + "\n".join(new)
    gone = [sorted(pair) for pair in KNOWN_CIRCLES if app_of(next(iter(pair))) == app and pair not in circles]
    assert not gone, f"these circles are broken now: remove them from KNOWN_CIRCLES: {gone}"

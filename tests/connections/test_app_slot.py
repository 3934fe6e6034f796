"""AppSlot, the one name for an app in a slot: the catalog key (`salesforce_secondary`) and the pair steps, bindings
and connections store (`salesforce`, secondary) turn into each other here, and nowhere else spells the suffix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connections.catalog import UnknownConnector, registry
from connections.catalog.app_slot import PRIMARY, SECONDARY, AppSlot
from connections.models import Connection
from recipes.models import ConnectionBinding, Step

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize(("catalog_key", "connector_key", "slot"), [
    ("salesforce", "salesforce", PRIMARY),
    ("salesforce_secondary", "salesforce", SECONDARY),
    ("gmail_secondary", "gmail", SECONDARY),  # parses; the catalog has no such entry (see below)
    ("no_such_app", "no_such_app", PRIMARY),
    ("_secondary", "_secondary", PRIMARY),  # a suffix alone names no connector
    ("", "", PRIMARY),
])
def test_a_catalog_key_names_a_connector_in_a_slot_and_back(catalog_key, connector_key, slot):
    app = AppSlot.from_catalog_key(catalog_key)
    assert (app.connector_key, app.slot) == (connector_key, slot)
    assert app.catalog_key == str(app) == catalog_key
    assert app.is_secondary == (slot == SECONDARY)


def test_the_slot_is_primary_unless_said_and_only_one_of_two():
    assert AppSlot("slack") == AppSlot("slack", PRIMARY) == AppSlot.from_catalog_key("slack")
    assert AppSlot("slack", SECONDARY).as_primary() == AppSlot("slack")
    assert AppSlot("slack").as_secondary().catalog_key == "slack_secondary"
    with pytest.raises(ValueError, match="not a slot"):
        AppSlot("slack", "tertiary")


def test_it_is_a_value_usable_as_a_key():
    apps = {AppSlot("jira"): 1, AppSlot("jira", SECONDARY): 2}
    assert apps[AppSlot.from_catalog_key("jira_secondary")] == 2
    assert sorted([AppSlot("jira", SECONDARY), AppSlot("github"), AppSlot("jira")]) == [
        AppSlot("github"), AppSlot("jira"), AppSlot("jira", SECONDARY)]
    with pytest.raises(AttributeError):
        AppSlot("jira").slot = SECONDARY  # type: ignore[misc]


def test_its_spec_and_its_name_for_people():
    app = AppSlot("salesforce", SECONDARY)
    assert app.spec is registry().get("salesforce_secondary")
    assert app.label == "Salesforce (secondary)" and AppSlot("salesforce").label == "Salesforce"
    assert app.lookup() == {"connector_key": "salesforce", "slot": "secondary"}
    # An app without a secondary connector has no secondary entry; an app gone from the catalog keeps its key.
    with pytest.raises(UnknownConnector):
        _ = AppSlot("gmail", SECONDARY).spec
    assert AppSlot("gmail", SECONDARY).spec_or_none is None
    assert AppSlot("retired_app").label == "retired_app"


@pytest.mark.parametrize("spec", registry().apps(), ids=lambda spec: spec.key)
def test_every_catalog_entry_is_an_app_slot(spec):
    app = AppSlot.of(spec)
    assert app.spec is spec
    assert (app.connector_key, app.is_secondary) == (spec.primary_key, spec.is_secondary)


def test_steps_bindings_and_connections_name_their_app_the_same_way():
    pair = {"connector_key": "salesforce", "slot": SECONDARY}
    apps = {Step(**pair).app_slot, ConnectionBinding(**pair).app_slot, Connection(**pair).app_slot}
    assert apps == {AppSlot("salesforce", SECONDARY)}
    assert Step(connector_key="salesforce").app_slot.catalog_key == "salesforce"


# --- the suffix is spelled in one module ---------------------------------------------------------------------

APP_SLOT_MODULE = ROOT / "connections" / "catalog" / "app_slot.py"
# The code and pages of Splice (tests and docs may name catalog keys as they like).
SOURCES = ("accounts", "config", "connections", "recipes", "demo", "templates", "static")
# The suffix on its own: in quotes, or after a placeholder (`f"{key}_secondary"`, `{{ key }}_secondary`); not inside
# a longer name (`include_secondary`, or a catalog key such as `slack_secondary` in a docstring).
SUFFIX = re.compile(r"(?<![A-Za-z0-9])_secondary\b")


def _source_files():
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".html", ".js", ".txt") and path.is_file():
                yield path


def test_no_module_but_app_slot_adds_or_strips_the_secondary_suffix():
    spelled = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
               for path in _source_files() if path != APP_SLOT_MODULE
               for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if SUFFIX.search(line)]
    assert spelled == [], "use connections.catalog.app_slot.AppSlot instead:\n" + "\n".join(spelled)


def test_only_the_catalog_derives_secondary_entries_from_the_suffix_constant():
    """schema.py builds the secondary entries (`as_secondary`) and refuses connector keys that end in the suffix."""
    users = {str(path.relative_to(ROOT)) for path in _source_files() if path != APP_SLOT_MODULE
             and "SECONDARY_SUFFIX" in path.read_text(encoding="utf-8")}
    assert users == {"connections/catalog/schema.py"}
    assert SUFFIX.search(APP_SLOT_MODULE.read_text(encoding="utf-8"))  # the test would notice the suffix at all

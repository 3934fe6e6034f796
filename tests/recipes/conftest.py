"""Recipes built the way the editor builds them (services), on connections made directly or for real."""

from __future__ import annotations

import pytest

from tests.connections.conftest import authorize_oauth2, credential_connection, oauth2_connection  # noqa: F401


@pytest.fixture
def make_connection(project, builder):
    """make_connection(app, name, status="connected", slot="primary") -> a connection row for an app of the
    catalog (Gmail, Salesforce… are on the public internet, out of reach: these rows are not authorized)."""
    from connections.models import Connection

    def make(connector_key: str, name: str, *, status: str = "connected", slot: str = "primary", project_=None):
        return Connection.objects.create(
            name=name, connector_key=connector_key, slot=slot, project=project_ or project, created_by=builder,
            auth_method="oauth2", status=status, identity=f"{name.lower().replace(' ', '.')}@example.com",
        )

    return make


@pytest.fixture
def make_recipe(project, builder):
    """make_recipe(name, kind="standard", steps=[(catalog key, operation_key, inputs), ...]) -> a recipe."""
    from connections.catalog.app_slot import AppSlot
    from recipes import services

    def make(name: str = "Forward leads", *, kind: str = "standard", steps=()):
        recipe = services.recipe_create(project=project, name=name, kind=kind, acting_user=builder)
        for app_key, operation_key, inputs in steps:
            step = services.step_add(recipe=recipe, acting_user=builder, app=AppSlot.from_catalog_key(app_key),
                                     operation_key=operation_key)
            if inputs:
                services.step_update_inputs(step=step, acting_user=builder, inputs=inputs)
        recipe.refresh_from_db()
        return recipe

    return make

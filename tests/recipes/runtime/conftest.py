"""Running recipes for real: loopback connections to the API test server, recipes built with the services."""

from __future__ import annotations

import pytest

from tests.connections.conftest import credential_connection  # noqa: F401
from tests.recipes.conftest import make_recipe  # noqa: F401


@pytest.fixture
def running_recipe(make_recipe, credential_connection, builder):  # noqa: F811 (the imported fixtures)
    """running_recipe(steps, kind=..., connection=None) -> a started recipe whose loopback steps use one Basic-auth
    loopback connection (made unless given). `steps`: [(catalog key, operation key, inputs), ...]."""
    from connections.catalog.app_slot import AppSlot
    from recipes import services

    def make(steps, *, kind: str = "standard", connection=None, name: str = "Loopback recipe", start: bool = True):
        recipe = make_recipe(name, kind=kind, steps=steps)
        if connection is None and any(key.startswith("loopback") for key, _, _ in steps):
            connection, _ = credential_connection("basic")
        if connection is not None:
            services.binding_set(recipe=recipe, app=AppSlot("loopback"), connection=connection, acting_user=builder)
        if start:
            services.recipe_start(recipe=recipe, acting_user=builder)
        recipe.refresh_from_db()
        return recipe

    return make

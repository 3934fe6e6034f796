"""The demo's recipes: made by `load_demo`, started by a task once the server answers (its Demo CRM is served by
this Splice, so the demo connection can be authorized only then). A person who signs in finds jobs appearing."""

from __future__ import annotations

from django.db import transaction

from accounts import roles
from accounts.models import Project, User
from connections.catalog.app_slot import AppSlot
from connections.models import Connection
from connections.services import connection_set_credentials
from recipes import services as recipes
from recipes.models import Recipe
from recipes.services import RecipeHasErrors

__all__ = ["DEMO_CONNECTION", "DEMO_RECIPES", "DEMO_USERS", "demo_recipes_create", "demo_recipes_start"]

DEMO_USERS = [
    # email, password (set only when the account is first created), role, superuser
    ("admin@example.com", "splice-admin-demo", roles.ADMIN, True),
    ("builder@example.com", "splice-builder-demo", roles.BUILDER, False),
    ("viewer@example.com", "splice-viewer-demo", roles.VIEWER, False),
]
DEMO_CONNECTION = "Demo CRM (sales team)"

# name, description, [(catalog key, operation, inputs)], poll minutes
DEMO_RECIPES = [
    ("Follow up on new contacts", "Each new Demo CRM contact gets a follow-up task.",
     [("demo_crm", "new_contact", {}),
      ("demo_crm", "create_task", {"title": "Call {{trigger.name}}", "contact_id": "{{trigger.id}}"})], 1),
    ("A new demo lead every minute", "Adds a contact to Demo CRM every minute, so the recipe above has work.",
     [("scheduler", "every", {"minutes": "1"}),
      ("demo_crm", "create_contact", {"name": "Lead of {{trigger.scheduled_at}}"})], 5),
]


@transaction.atomic
def demo_recipes_create(*, project: Project, connection: Connection, builder: User) -> list[Recipe]:
    """The demo recipes in `project`, bound to the demo connection (those that exist already are left alone)."""
    made = []
    for name, description, steps, poll_minutes in DEMO_RECIPES:
        recipe = Recipe.objects.filter(project=project, name=name).first()
        if recipe is not None:
            made.append(recipe)
            continue
        recipe = recipes.recipe_create(project=project, name=name, description=description, acting_user=builder)
        Recipe.objects.filter(pk=recipe.pk).update(poll_minutes=poll_minutes)
        for app_key, operation, inputs in steps:
            step = recipes.step_add(recipe=recipe, acting_user=builder, app=AppSlot.from_catalog_key(app_key),
                                    operation_key=operation)
            recipes.step_update_inputs(step=step, acting_user=builder, inputs=inputs)
        recipes.binding_set(recipe=recipe, app=AppSlot("demo_crm"), connection=connection, acting_user=builder)
        made.append(recipe)
    return made


def demo_recipes_start(*, connection: Connection, credentials: dict[str, str], builder: User) -> bool:
    """Authorize the demo connection with the demo account (unless a person authorized, or disconnected, it) and
    start the demo recipes that were never started. False while the app does not answer yet: try again later."""
    connection.refresh_from_db()
    if connection.authorized_at is None and connection.status == Connection.Status.NOT_CONNECTED:
        outcome = connection_set_credentials(connection=connection, acting_user=builder, credentials=credentials)
        if not outcome.ok:
            return not outcome.verdict.transient
        connection.refresh_from_db()
    if connection.status != Connection.Status.CONNECTED:
        return True
    names = [name for name, *_ in DEMO_RECIPES]
    for recipe in Recipe.objects.filter(project=connection.project, name__in=names, started_at__isnull=True):
        try:
            recipes.recipe_start(recipe=recipe, acting_user=builder)
        except RecipeHasErrors:
            continue  # changed by a person meanwhile: theirs to start
    return True

"""What recipes do when a connection changes: a connection disconnected anyway stops the running recipes that
used it (they would fail every job), and each recipe's owner is told why."""

from __future__ import annotations

from django.dispatch import receiver

from accounts.services import notification_send
from connections.signals import connection_disconnected
from recipes.services import recipe_stop


@receiver(connection_disconnected, dispatch_uid="recipes-stop-on-disconnect")
def stop_recipes_of_disconnected(sender, *, connection, acting_user, running, **kwargs) -> None:
    who = acting_user.email if acting_user is not None else "Splice"
    for recipe in running:
        reason = f"Stopped because its connection “{connection.name}” was disconnected by {who}."
        recipe_stop(recipe=recipe, acting_user=acting_user, reason=reason)
        if recipe.created_by is None or not recipe.created_by.is_active:
            continue
        notification_send(
            recipients=[recipe.created_by], kind="recipe_stopped", kind_label="Recipe stopped",
            reason="disconnected", subject=recipe,
            title=f"“{recipe.name}” was stopped: its connection was disconnected",
            body=f"{reason}\n\nRe-authorize “{connection.name}” (or bind another connection), then start the recipe "
                 "again.",
            link=recipe.get_absolute_url(), link_label=f"Open “{recipe.name}”", why_sent="You created this recipe.")

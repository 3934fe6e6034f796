"""Disconnecting a connection that running recipes use: the page names them first; "Disconnect anyway" stops
them (their triggers are removed) and tells each owner why."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running_poll_recipe(running_recipe):
    return running_recipe([("loopback", "new_item", {}), ("loopback", "create_item", {"name": "{{trigger.name}}"})],
                          name="Copy new items")


def test_the_disconnect_page_names_the_running_recipes_first(client_for, builder, running_poll_recipe):
    connection = running_poll_recipe.bindings.get().connection
    page = client_for(builder).get(reverse("connection_disconnect", args=[connection.pk]))
    body = page.content.decode()
    assert "Copy new items" in body and "Disconnect anyway" in body
    assert "stops it" in body


def test_disconnect_anyway_stops_the_recipes_and_notifies_their_owners(client_for, builder, running_poll_recipe):
    from django_celery_beat.models import PeriodicTask

    from accounts.models import Notification
    from connections.models import Connection

    connection = running_poll_recipe.bindings.get().connection
    assert PeriodicTask.objects.filter(name=f"Recipe {running_poll_recipe.pk}: trigger").exists()
    url = reverse("connection_disconnect", args=[connection.pk])

    refused = client_for(builder).post(url)  # no "anyway": nothing changes
    assert refused.status_code == 200
    running_poll_recipe.refresh_from_db()
    assert running_poll_recipe.running

    client_for(builder).post(url, {"force": "1"})
    connection.refresh_from_db()
    running_poll_recipe.refresh_from_db()
    assert connection.status == Connection.Status.DISCONNECTED
    assert not running_poll_recipe.running
    assert f"was disconnected by {builder.email}" in running_poll_recipe.stopped_reason
    assert not PeriodicTask.objects.filter(name=f"Recipe {running_poll_recipe.pk}: trigger").exists()
    notice = Notification.objects.get(recipient=builder, kind="recipe_stopped")
    assert "Copy new items" in notice.title and connection.name in notice.body

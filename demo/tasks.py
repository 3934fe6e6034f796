"""The demo's one task: authorize the demo connection and start the demo recipes once the server answers."""

from __future__ import annotations

from celery import shared_task

from accounts.models import User
from connections.models import Connection

__all__ = ["demo_start_task"]


@shared_task(name="splice.demo.start", bind=True, max_retries=90, ignore_result=True)
def demo_start_task(self, connection_id: int, builder_id: int) -> None:
    from demo.services import demo_recipes_start
    from demo.views import demo_credentials

    connection = Connection.objects.filter(pk=connection_id).first()
    builder = User.objects.filter(pk=builder_id).first()
    if connection is None or builder is None:
        return
    account = demo_credentials()
    if not demo_recipes_start(connection=connection, builder=builder,
                              credentials={"username": account["email"], "password": account["password"]}):
        raise self.retry(countdown=2)  # the web server is not up yet

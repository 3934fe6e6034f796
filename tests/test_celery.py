"""Background work goes through the real broker (Redis in CI) to a real worker process and back."""

import uuid

from accounts.tasks import ping


def test_ping_round_trips_through_broker_and_worker(celery_worker_queue):
    token = uuid.uuid4().hex
    result = ping.apply_async(args=[token], queue=celery_worker_queue)
    reply = result.get(timeout=60)
    assert reply["pong"] == token
    assert reply["at"]

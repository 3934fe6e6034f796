"""A poll trigger on real Celery workers: where it starts ("from now", "since <date>"), one job per new record and
oldest first, nothing lost or repeated when a worker is killed (SIGKILL) at each point of a poll, and a recipe
stopped after its trigger failed to sign in 60 times in a row (its owner is told why).

The app is the API test server's dated feed (tests/connectors/loopback_poll.yaml): newest first, each record
with the date the app made it.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from accounts.models import Notification
from connections.models import Connection
from recipes.runtime.jobs import jobs_recover
from recipes.runtime.models import Job, TriggerState
from recipes.runtime.polling import poll_run
from tests.recipes.runtime import workers
from tests.recipes.runtime.workers import add_record, move_back

pytestmark = pytest.mark.django_db(transaction=True)

jobs_worker, worker, own_queue = workers.jobs_worker, workers.worker, workers.own_queue
feed_connection, feed_recipe = workers.feed_connection, workers.feed_recipe


def state_of(recipe) -> TriggerState:
    return TriggerState.objects.get(recipe=recipe)


def primed(recipe):
    return TriggerState.objects.filter(recipe=recipe, primed=True).first()


def jobs_of(recipe, status: str | None = None) -> list[Job]:
    found = Job.objects.filter(recipe=recipe).order_by("pk")
    return list(found.filter(status=status) if status else found)


def copies_in_the_app(api_server, name: str) -> int:
    """How many items the recipe made at the app for the record named `name`."""
    import requests

    items = requests.get(api_server.items_url, auth=(api_server.username, api_server.password), timeout=5).json()
    return sum(1 for item in items["items"] if item["name"] == f"Copy of {name}")


# --- where it starts ------------------------------------------------------------------------------


def test_from_now_starts_from_the_next_new_record_oldest_first(worker, feed_recipe, api_server):
    recipe = feed_recipe()
    state = worker.wait_for(lambda: primed(recipe), "the first poll")  # sent as it started
    assert jobs_of(recipe) == []  # the app's records from before it started are not new
    assert {"1", "2"} <= set(state.seen_ids)

    third, fourth = add_record(api_server, "Third"), add_record(api_server, "Fourth")  # the feed lists Fourth first
    assert worker.run("splice.triggers.poll", recipe.pk) == 2
    done = worker.wait_for(lambda: len(jobs_of(recipe, Job.Status.SUCCEEDED)) == 2 and jobs_of(recipe),
                           "both jobs to succeed")
    assert [job.dedup_key for job in done] == [str(third["id"]), str(fourth["id"])]  # oldest first
    assert [job.trigger_data["name"] for job in done] == ["Third", "Fourth"]
    assert [job.trigger_kind for job in done] == ["poll", "poll"]

    assert worker.run("splice.triggers.poll", recipe.pk) == 0  # nothing new since
    assert (copies_in_the_app(api_server, "Third"), copies_in_the_app(api_server, "Fourth")) == (1, 1)
    assert state_of(recipe).cursor == str(fourth["id"])


def test_since_a_date_starts_from_the_records_made_since_then(worker, feed_recipe, api_server):
    from datetime import UTC, datetime

    add_record(api_server, "Made yesterday", created_at="2025-06-01T09:00:00+00:00")
    # The default records were made on 2024-01-01 and 2024-01-02.
    recipe = feed_recipe(since=datetime(2024, 1, 1, 12, tzinfo=UTC))
    worker.wait_for(lambda: primed(recipe) and len(jobs_of(recipe, Job.Status.SUCCEEDED)) == 2,
                    "the jobs of the records made since then")
    assert [job.trigger_data["name"] for job in jobs_of(recipe)] == ["Second item", "Made yesterday"]
    assert state_of(recipe).since == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert copies_in_the_app(api_server, "First item") == 0


def test_from_now_keeps_a_record_made_while_the_first_poll_waited(own_queue, feed_recipe, api_server):
    """No worker is up when the recipe starts (a busy queue, a deploy): its first poll waits, and a record made
    meanwhile is new."""
    recipe = feed_recipe()
    assert TriggerState.objects.get(recipe=recipe).primed is False
    add_record(api_server, "Made right after the start")
    with own_queue.started():
        own_queue.wait_for(lambda: len(jobs_of(recipe, Job.Status.SUCCEEDED)) == 1, "the record's job")
    assert [job.trigger_data["name"] for job in jobs_of(recipe)] == ["Made right after the start"]


# --- a worker killed mid-poll ----------------------------------------------------------------------


@pytest.mark.parametrize("point", ["poll_answered", "poll_creating_jobs", "jobs_committed"])
def test_a_worker_killed_mid_poll_neither_loses_nor_repeats_a_record(own_queue, feed_recipe, api_server, point):
    recipe = feed_recipe()
    poll_run(recipe.pk)  # its first poll, here
    own_queue.purge()  # and not again in the worker
    third = add_record(api_server, "Third")
    listings = api_server.stats()["by_path"]["/api/feed"]

    with own_queue.started(pool="solo", SPLICE_TEST_KILL_AT=point):
        own_queue.send("splice.triggers.poll", recipe.pk)
        assert own_queue.died() == -9
    assert api_server.stats()["by_path"]["/api/feed"] == listings + 1  # the app answered that poll
    left = jobs_of(recipe)
    if point == "jobs_committed":
        # Its job and the trigger's state were committed together; the job's task was never sent.
        assert [(job.dedup_key, job.status) for job in left] == [(str(third["id"]), Job.Status.PENDING)]
        assert str(third["id"]) in state_of(recipe).seen_ids
    else:
        assert left == []  # nothing of that poll was kept: the next one sees Third as new
        assert str(third["id"]) not in state_of(recipe).seen_ids

    fourth = add_record(api_server, "Fourth")
    with own_queue.started():
        own_queue.run("splice.triggers.poll", recipe.pk)
        if point == "jobs_committed":
            assert len(jobs_of(recipe)) == 2  # Third's job is not made again
            move_back(left[0], django_settings.SPLICE_JOB_RECOVER_AFTER + 1)
            assert jobs_recover() == 1  # and its lost task is sent again
        own_queue.wait_for(lambda: len(jobs_of(recipe, Job.Status.SUCCEEDED)) == 2, "both records' jobs")
        # Again after the restart: two ticks at once find nothing new.
        own_queue.send("splice.triggers.poll", recipe.pk)
        assert own_queue.run("splice.triggers.poll", recipe.pk) == 0
    assert sorted(job.dedup_key for job in jobs_of(recipe)) == sorted([str(third["id"]), str(fourth["id"])])
    assert (copies_in_the_app(api_server, "Third"), copies_in_the_app(api_server, "Fourth")) == (1, 1)


# --- a trigger that cannot sign in -----------------------------------------------------------------


def test_sixty_failed_sign_ins_in_a_row_stop_the_recipe_and_tell_its_owner(own_queue, feed_recipe, api_server,
                                                                           builder):
    """The default limit (60), polled in this process: a success in between starts the count again."""
    from django_celery_beat.models import PeriodicTask

    assert django_settings.SPLICE_TRIGGER_AUTH_FAILURE_LIMIT == 60
    recipe = feed_recipe()
    poll_run(recipe.pk)  # the first poll
    password_changed = {"username": api_server.username, "password": "changed-in-the-app-1"}

    api_server.set_credentials(password_changed)
    for _ in range(30):
        assert not poll_run(recipe.pk).stopped
    assert state_of(recipe).consecutive_auth_failures == 30
    api_server.set_credentials({"username": api_server.username, "password": api_server.password})
    assert poll_run(recipe.pk).error == ""  # signed in again: the count starts over
    assert state_of(recipe).consecutive_auth_failures == 0

    api_server.set_credentials(password_changed)
    for _ in range(59):
        assert not poll_run(recipe.pk).stopped
    recipe.refresh_from_db()
    assert recipe.running
    assert poll_run(recipe.pk).stopped  # the 60th in a row

    recipe.refresh_from_db()
    assert not recipe.running
    assert "Stopped after 60 failed authentications" in recipe.stopped_reason
    assert not PeriodicTask.objects.filter(name=f"Recipe {recipe.pk}: trigger").exists()
    connection = recipe.bindings.get().connection
    assert (connection.status, connection.error_reason) == (Connection.Status.ERROR,
                                                            Connection.ErrorReason.CREDENTIALS_INVALID)
    notice = Notification.objects.get(recipient=builder, kind="recipe_stopped")
    assert recipe.name in notice.title and "cannot sign in" in notice.title
    assert "re-authorize" in notice.body
    assert poll_run(recipe.pk).error == ""  # stopped: it asks the app nothing more
    assert api_server.stats()["by_status"]["401"] == 90


def test_a_worker_honours_a_lower_limit_of_failed_sign_ins(own_queue, feed_recipe, api_server):
    recipe = feed_recipe()
    api_server.set_credentials({"username": api_server.username, "password": "changed-in-the-app-2"})
    with own_queue.started(SPLICE_TRIGGER_AUTH_FAILURE_LIMIT="3"):
        own_queue.wait_for(lambda: TriggerState.objects.filter(recipe=recipe, consecutive_auth_failures=1).exists(),
                           "the first poll to fail")
        own_queue.run("splice.triggers.poll", recipe.pk)
        recipe.refresh_from_db()
        assert recipe.running
        own_queue.run("splice.triggers.poll", recipe.pk)
    recipe.refresh_from_db()
    assert not recipe.running and "Stopped after 3 failed authentications" in recipe.stopped_reason

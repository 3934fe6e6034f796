"""A Workbot job's answer, posted to the response_url Slack gave its command once the job finishes: the Reply
step's text, or what went wrong, and for a person with no account of their own in an app the link that lets them
(alone) connect it. Sent by a Celery task with the job's id (recipes.tasks), through the one egress path with a
timeout.

The response_url is a capability URL: it is read from its ChatCommand row at the last moment, never logged (nor
is an error that could quote it: requests' exceptions do), and cleared once the answer is posted or given up.
https://api.slack.com/interactivity/handling#message_responses: a response_url takes up to five posts within 30
minutes, so a post that may have arrived is not sent again (the person would read it twice).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.utils import timezone

from connections.catalog.app_slot import AppSlot
from connections.egress import EgressRefused
from connections.http import new_session
from recipes.models import ChatCommand
from recipes.runtime.models import Job, JobStep
from recipes.runtime.waiting import workbot_reply_enqueue
from recipes.workbot.slack import link, mrkdwn_escape

__all__ = ["SLACK_ANSWER_MINUTES", "ReplyDelayed", "replies_recover", "reply_message", "reply_post"]

logger = logging.getLogger(__name__)

_VISIBILITIES = ("ephemeral", "in_channel")
_TRY_AGAIN_STATUSES = (429, 500, 502, 503, 504)
SLACK_ANSWER_MINUTES = 30  # how long a response_url takes answers after its command


class ReplyDelayed(Exception):  # noqa: N818 (a reason to try later, not an error of Splice's)
    """Slack could not take the answer now and nothing reached it: the task tries again later."""


def reply_message(job: Job) -> dict:
    """The message for the finished job: only the person who posted the command sees it, unless the recipe's Reply
    says everyone in the channel may."""
    recipe = mrkdwn_escape(job.recipe.name)
    if job.status == Job.Status.SUCCEEDED:
        result = job.result if isinstance(job.result, dict) else {}
        text = str(result.get("text") or "").strip()
        if not text:
            job_link = link(settings.SPLICE_BASE_URL + job.get_absolute_url(), f"job {job.pk}")
            return _message(f"Done: “{recipe}” ran ({job_link}).")
        visibility = result.get("visibility") if result.get("visibility") in _VISIBILITIES else "ephemeral"
        return _message(mrkdwn_escape(text), visibility=visibility)
    if job.status == Job.Status.CANCELLED:
        return _message(f"“{recipe}” was stopped before your command ran: ask its owner to start it, then repeat "
                        "the command.")
    if job.action_url:
        # The person needs their own account in the app the job stopped at (or must re-authorize it): the link
        # works for them alone, so it is shown to them alone.
        app = _failed_app(job)
        action = ("Connect" if job.error_code == "runtime_user_missing" else "Re-authorize") + f" your {app} account"
        url = job.action_url if job.action_url.startswith(("https://", "http://")) else (
            settings.SPLICE_BASE_URL + job.action_url)
        return _message(f"“{recipe}” acts as you in {mrkdwn_escape(app)}, with your own account. "
                        f"{link(url, action)}, then repeat the command.")
    error = mrkdwn_escape(job.error or "The job failed.")
    job_link = link(settings.SPLICE_BASE_URL + job.get_absolute_url(), f"job {job.pk}")
    return _message(f"“{recipe}” failed: {error} ({job_link})")


def _message(text: str, *, visibility: str = "ephemeral") -> dict:
    # replace_original: false, so an answer never takes the place of a message posted before it.
    return {"response_type": visibility, "text": text, "replace_original": False}


def _failed_app(job: Job) -> str:
    step = JobStep.objects.filter(job=job, status=JobStep.Status.FAILED).order_by("position").first()
    return AppSlot(step.connector_key, step.slot).label if step is not None else "app"


def reply_post(*, job_id: int, last_attempt: bool = True) -> str:
    """Post the finished job's answer to its command's response_url, once; returns what became of it (for the
    task's log). Raises ReplyDelayed when Slack may take it later and `last_attempt` is False."""
    claimed = (ChatCommand.objects.filter(job_id=job_id, reply=ChatCommand.Reply.PENDING).exclude(response_url="")
               .filter(job__status__in=Job.FINISHED).update(reply=ChatCommand.Reply.SENDING))
    if not claimed:
        return "nothing to post"
    command = ChatCommand.objects.select_related("job__recipe").get(job_id=job_id)
    message = reply_message(command.job)
    try:
        response = new_session(timeout=settings.SPLICE_HTTP_TIMEOUT).post(
            command.response_url, json=message, timeout=settings.SPLICE_HTTP_TIMEOUT)
    except EgressRefused:
        return _gave_up(command, "Splice may not connect to the response_url's address (egress policy).")
    except (requests.ConnectionError, requests.Timeout) as exc:
        reached = isinstance(exc, requests.ReadTimeout)
        if reached:
            return _gave_up(command, "Slack did not answer in time; the answer may have arrived.")
        return _later(command, "Slack could not be reached.", last_attempt)
    except requests.RequestException:
        return _gave_up(command, "The answer could not be sent to the response_url.")
    if response.status_code in _TRY_AGAIN_STATUSES:
        return _later(command, f"Slack answered {response.status_code}.", last_attempt)
    if not 200 <= response.status_code < 300:
        # 404 with expired_url or used_url: more than 30 minutes, or five answers already.
        return _gave_up(command, f"Slack refused the answer ({response.status_code}).")
    _done(command, ChatCommand.Reply.SENT, "")
    logger.info("Workbot answer to job %s posted", job_id)
    return "posted"


def _later(command: ChatCommand, why: str, last_attempt: bool) -> str:
    if last_attempt:
        return _gave_up(command, f"{why} Gave up after several tries.")
    ChatCommand.objects.filter(pk=command.pk).update(reply=ChatCommand.Reply.PENDING, reply_error=why)
    raise ReplyDelayed(why)


def _gave_up(command: ChatCommand, why: str) -> str:
    _done(command, ChatCommand.Reply.FAILED, why)
    logger.warning("Workbot answer to job %s not posted: %s", command.job_id, why)
    return "not posted"


def _done(command: ChatCommand, reply: str, why: str) -> None:
    _finish(ChatCommand.objects.filter(pk=command.pk), reply, why)


def _finish(commands, reply: str, why: str) -> int:
    """Record how the commands' answers ended, and forget their response_urls (capability URLs)."""
    return commands.update(reply=reply, reply_error=why[:200], response_url="", replied_at=timezone.now())


def replies_recover(*, now=None) -> int:
    """Answers whose task was lost (a worker stopped, a message dropped), found by "Recover lost jobs" every minute:
    a finished job's command still waiting SPLICE_JOB_RECOVER_AFTER seconds after the job ended gets its task sent
    again (the task claims the command first, so it posts once however many are sent). Past Slack's 30 minutes a
    command still waiting, or cut off while posting (its answer may have arrived), is given up, so no response_url
    outlives its use. Returns how many tasks were sent again."""
    now = now or timezone.now()
    expired = now - timedelta(minutes=SLACK_ANSWER_MINUTES)
    unanswered = ChatCommand.objects.exclude(response_url="").filter(job__status__in=Job.FINISHED)
    for state, why in ((ChatCommand.Reply.PENDING, "It was not sent within the 30 minutes Slack takes an answer."),
                       (ChatCommand.Reply.SENDING, "Splice stopped while posting it; it may have arrived.")):
        count = _finish(unanswered.filter(reply=state, job__created_at__lt=expired), ChatCommand.Reply.FAILED, why)
        if count:
            logger.warning("%s Workbot answers not posted: %s", count, why)
    lost = now - timedelta(seconds=settings.SPLICE_JOB_RECOVER_AFTER)
    job_ids = list(unanswered.filter(reply=ChatCommand.Reply.PENDING, job__finished_at__lt=lost)
                   .values_list("job_id", flat=True)[:1000])
    for job_id in job_ids:
        workbot_reply_enqueue(job_id)
    return len(job_ids)

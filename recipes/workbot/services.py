"""Writes and reads of Workbot: chat accounts linked to people, one-time link codes, and the job a command starts.

Who a command runs as: the Splice person its chat account is linked to, linked by that person (a code they get on
/workbot/link/ and post with the command, so both ends agree) or by an admin. Who may run a recipe by command:
what calling it through the API needs (recipes.api): the "Start and stop recipes" privilege and use access to the
recipe's project, because a command makes the recipe act in its apps. A command the person may not run is
answered as if it did not exist.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.models import ProjectAccess, User
from recipes.builtins import NEW_COMMAND, WORKBOT, CommandSpec, command_spec
from recipes.models import ChatCommand, ChatLinkCode, ChatUser, Recipe, Step
from recipes.runtime.jobs import job_create
from recipes.runtime.models import Job
from recipes.selectors import recipes_for_user
from recipes.workbot.slack import SLACK_ID_RE, CommandForm, link, mrkdwn_escape

__all__ = ["LINK_CODE_LENGTH", "Answer", "UsageError", "chat_user_link", "chat_user_unlink", "check_command_free",
           "command_arguments", "command_receive", "commands_for_user", "link_code_create", "link_code_redeem",
           "link_code_minutes", "link_page_url"]

logger = logging.getLogger(__name__)

LINK_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L or U: read aloud and typed without doubt
LINK_CODE_LENGTH = 8
_LINK_CODE_RE = re.compile(rf"^[A-Za-z0-9]{{{LINK_CODE_LENGTH}}}$")
_LINK_WORD = "link"
# A double-quoted value of several words, or a word ("Closed won"; Slack's clients may send curly quotes).
_WORD_RE = re.compile(r'"([^"]*)"?|“([^”]*)”?|(\S+)')


def link_page_url() -> str:
    return settings.SPLICE_BASE_URL + reverse("workbot_link")


def link_code_minutes() -> int:
    return int(getattr(settings, "SPLICE_WORKBOT_LINK_CODE_MINUTES", 10))


# --- chat accounts and link codes ------------------------------------------------------------------------------


def _code_hash(code: str) -> str:
    """A keyed hash (under SECRET_KEY): the table alone does not let anyone try codes offline."""
    return salted_hmac("splice.workbot.link-code", code.strip().upper(), algorithm="sha256").hexdigest()


@transaction.atomic
def link_code_create(*, user: User) -> tuple[str, datetime]:
    """A new one-time code for `user` (their earlier unused one stops working) and when it expires. The code is
    shown once and kept only as a keyed hash."""
    now = timezone.now()
    ChatLinkCode.objects.filter(user=user, used_at__isnull=True).delete()
    ChatLinkCode.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()  # nobody needs old ones
    code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))
    expires_at = now + timedelta(minutes=link_code_minutes())
    ChatLinkCode.objects.create(user=user, code_hash=_code_hash(code), expires_at=expires_at)
    return code, expires_at


@transaction.atomic
def link_code_redeem(*, code: str, provider: str, team_id: str, chat_user_id: str) -> ChatUser | None:
    """Link the chat account to the code's person, using the code up (one UPDATE: of two posts of the same code,
    one wins); None when the code is unknown, expired or used."""
    if not _LINK_CODE_RE.match(code.strip()):
        return None
    now = timezone.now()
    code_hash = _code_hash(code)
    used = ChatLinkCode.objects.filter(code_hash=code_hash, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now)
    if not used:
        return None
    user = ChatLinkCode.objects.select_related("user").get(code_hash=code_hash).user
    if not user.is_active:
        return None
    return chat_user_link(provider=provider, team_id=team_id, chat_user_id=chat_user_id, user=user, acting_user=user)


@transaction.atomic
def chat_user_link(*, provider: str, team_id: str, chat_user_id: str, user: User, acting_user: User) -> ChatUser:
    """Commands from this chat account run as `user` from now on (it may have been linked to someone else)."""
    team_id, chat_user_id = team_id.strip().upper(), chat_user_id.strip().upper()
    if not SLACK_ID_RE.match(team_id) or not SLACK_ID_RE.match(chat_user_id):
        raise ValidationError("Slack ids are capital letters and digits, like T0123ABCD (workspace) and U0123ABCD "
                              "(user).")
    if provider not in ChatUser.Provider.values:
        raise ValidationError("Splice links Slack accounts only.")
    chat_user, _ = ChatUser.objects.update_or_create(
        provider=provider, team_id=team_id, chat_user_id=chat_user_id,
        defaults={"user": user, "linked_by": acting_user})
    logger.info("Chat account %s of %s linked to person %s by %s", chat_user.pk, provider, user.pk, acting_user.pk)
    return chat_user


@transaction.atomic
def chat_user_unlink(*, chat_user: ChatUser, acting_user: User) -> None:
    """Commands from this chat account run as nobody: they get the linking instructions again."""
    logger.info("Chat account %s unlinked from person %s by %s", chat_user.pk, chat_user.user_id, acting_user.pk)
    chat_user.delete()


# --- commands --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the endpoint answers Slack at once (only the person who posted the command sees it)."""

    text: str

    @property
    def payload(self) -> dict:
        return {"response_type": "ephemeral", "text": self.text}


class UsageError(ValueError):
    """The command's text does not fit its arguments; the message says what is missing."""


@dataclass(frozen=True)
class _Listening:
    recipe: Recipe
    spec: CommandSpec


def _listening(command: str | None = None) -> list[_Listening]:
    """The running Workbot recipes (with their commands), of this command only when given. Their triggers are read
    here rather than matched in SQL: the command is read as the design-time check reads it."""
    triggers = (Step.objects.filter(is_trigger=True, connector_key=WORKBOT, operation_key=NEW_COMMAND,
                                    recipe__running=True, recipe__kind=Recipe.Kind.WORKBOT)
                .select_related("recipe").order_by("recipe__name", "recipe_id"))
    found = []
    for step in triggers:
        try:
            spec = command_spec(step.inputs or {})
        except ValueError:
            continue  # a recipe with design-time errors does not run; one edited since does not answer
        if command is None or spec.command == command:
            found.append(_Listening(step.recipe, spec))
    return found


def _runnable_by(person: User, listening: list[_Listening]) -> list[_Listening]:
    """Those the person may run: the privilege and use access to the recipe's project, as a call needs."""
    if not listening or not person.has_perm("recipes.start_recipe"):
        return []
    allowed = set(recipes_for_user(person, ProjectAccess.USE).filter(pk__in=[item.recipe.pk for item in listening])
                  .values_list("pk", flat=True))
    return [item for item in listening if item.recipe.pk in allowed]


def commands_for_user(person: User) -> list[str]:
    """The commands the person may run now, each once, sorted."""
    return sorted({item.spec.command for item in _runnable_by(person, _listening())})


def check_command_free(recipe: Recipe, step: Step) -> None:
    """Refuse to start a second running recipe answering the same command (raises ValidationError)."""
    try:
        command = command_spec(step.inputs or {}).command
    except ValueError:
        return  # a design-time error already stops it
    other = next((item.recipe for item in _listening(command) if item.recipe.pk != recipe.pk), None)
    if other is not None:
        raise ValidationError(f"Another running recipe, “{other.name}”, answers {command}: stop it, or give this "
                              "recipe another command.")


def command_arguments(spec: CommandSpec, text: str) -> dict[str, str]:
    """The command's text as its arguments, in order: a quoted value may hold spaces, and the last argument takes
    the rest of the line. An optional argument left out is "". Raises UsageError naming what is missing."""
    words = [next(group for group in match.groups() if group is not None) for match in _WORD_RE.finditer(text)]
    arguments = spec.arguments
    if not arguments:
        if words:
            raise UsageError(f"{spec.command} takes no arguments.")
        return {}
    if len(words) > len(arguments):
        words = [*words[:len(arguments) - 1], " ".join(words[len(arguments) - 1:])]
    missing = [a.name for a in arguments[len(words):] if a.required]
    if missing:
        raise UsageError(f"{spec.command} needs {', '.join(missing)}.")
    return {a.name: (words[i] if i < len(words) else "") for i, a in enumerate(arguments)}


def command_receive(form: CommandForm, *, delivery_key: str) -> Answer:
    """Answer a verified command: link the chat account (`<command> link <code>`), tell an unlinked person how to
    link, list the commands when this one is unknown, show the usage when arguments are missing, or start the job
    (as the linked person) whose answer replies.py posts to the response_url. A request received before (its
    `delivery_key`, from slack.slack_signature_verify) starts nothing."""
    words = form.text.split()
    if len(words) == 2 and words[0].lower() == _LINK_WORD:
        return _link(form, words[1])
    chat_user = (ChatUser.objects.filter(provider=ChatUser.Provider.SLACK, team_id=form.team_id,
                                         chat_user_id=form.user_id).select_related("user").first())
    if chat_user is None or not chat_user.user.is_active:
        return Answer(f"Your Slack account is not linked to a Splice account yet, so Splice does not know who you "
                      f"are. Open {link(link_page_url(), 'Link your chat account')} in Splice, get a code, and post "
                      f"`{form.command} link <code>` here. Then repeat your command.")
    person = chat_user.user
    runnable = _runnable_by(person, _listening(form.command))
    if not runnable:
        commands = commands_for_user(person)
        listed = (f"Commands you can use: {', '.join(commands)}." if commands
                  else "No Workbot recipe you can use is running.")
        return Answer(f"{form.command} is not a Splice command you can use. {listed}")
    if len(runnable) > 1:
        names = ", ".join(f"“{mrkdwn_escape(item.recipe.name)}”" for item in runnable)
        return Answer(f"{form.command} is answered by more than one running recipe ({names}), so Splice does not "
                      "know which to run: ask their owner to stop all but one.")
    recipe, spec = runnable[0].recipe, runnable[0].spec
    try:
        arguments = command_arguments(spec, form.text)
    except UsageError as exc:
        return Answer(f"{exc} Usage: `{spec.usage}`")
    data = {**arguments, "person": {"email": person.email, "name": person.get_full_name() or person.email},
            "chat_user_id": form.user_id, "team_id": form.team_id}
    with transaction.atomic():
        job = job_create(recipe=recipe, trigger_kind=Job.Trigger.WORKBOT, trigger_data=data, run_as=person,
                         dedup_key=delivery_key)
        if job is None:
            logger.warning("Workbot command %s refused: the same signed request came before (a replay)",
                           form.command)
            return Answer("Splice has already received this very request, so it runs once. To run the command "
                          "again, post it again.")
        ChatCommand.objects.create(job=job, chat_user=chat_user, command=form.command,
                                   response_url=form.response_url,
                                   reply=ChatCommand.Reply.PENDING if form.response_url else ChatCommand.Reply.FAILED,
                                   reply_error="" if form.response_url else "The command came without a response_url.")
        ChatUser.objects.filter(pk=chat_user.pk).update(last_command_at=timezone.now())
    logger.info("Workbot command %s started job %s of recipe %s as person %s", form.command, job.pk, recipe.pk,
                person.pk)
    return Answer(f"Running “{mrkdwn_escape(recipe.name)}” as {mrkdwn_escape(person.email)}… You will get its "
                  "answer here.")


def _link(form: CommandForm, code: str) -> Answer:
    chat_user = link_code_redeem(code=code, provider=ChatUser.Provider.SLACK, team_id=form.team_id,
                                 chat_user_id=form.user_id)
    if chat_user is None:
        get_one = link(link_page_url(), "Link your chat account")
        return Answer(f"That code does not work: it may have been used already, or be older than "
                      f"{link_code_minutes()} minutes. Get a new one at {get_one}.")
    return Answer(f"Linked: your commands now run as {mrkdwn_escape(chat_user.user.email)} in Splice.")

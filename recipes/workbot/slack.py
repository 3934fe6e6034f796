"""What Slack sends a slash command's endpoint, checked, and how an answer to it is shaped.

https://api.slack.com/authentication/verifying-requests-from-slack: every request carries
`X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<raw body>">` under the
app's signing secret. The raw body is checked before it is parsed; a timestamp more than five minutes from Splice's
clock (either way) is refused as a possible replay, and a request seen within them starts nothing (its delivery
key). The comparison is constant-time; a refusal never says what was
expected.

https://api.slack.com/interactivity/slash-commands#app_command_handling: the body is a form with `command`, `text`,
`user_id`, `team_id`, `response_url` (and more Splice does not read).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from recipes.runtime.signatures import SignatureRefused

__all__ = ["MAX_BODY_BYTES", "TOLERANCE_SECONDS", "CommandForm", "FormRefused", "SignatureRefused", "ephemeral",
           "link", "mrkdwn_escape", "slack_form", "slack_signature_verify"]

TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 16 * 1024  # a command's form is a few hundred bytes; Slack limits its text to 4,000 characters
_VERSION = "v0"
_UNIX_TIME_RE = re.compile(r"^\d{1,12}$")
# Slack's ids: a letter (T team, E enterprise, U/W user) and capitals and digits.
SLACK_ID_RE = re.compile(r"^[A-Z0-9]{2,40}$")


class FormRefused(ValueError):
    """A signed request that is not a slash command Splice can read; the message may be shown to the sender."""


def slack_signature_verify(*, secret: str, body: bytes, headers: Mapping[str, str], now: float | None = None) -> str:
    """Check the request's Slack signature over `body` (the raw bytes); raises SignatureRefused. `headers` must be
    case-insensitive (Django's `request.headers`).

    Returns the request's delivery key, a digest of its signature: the same signed request sent again inside its
    five minutes (a replay) has the same key, and starts no second job (Job.dedup_key). Two commands a person posts
    differ (Slack's body carries a `trigger_id` for each), and so do their keys."""
    stamp = (headers.get("X-Slack-Request-Timestamp") or "").strip()
    offered = (headers.get("X-Slack-Signature") or "").strip()
    if not stamp or not offered:
        raise SignatureRefused("The request has no X-Slack-Request-Timestamp or X-Slack-Signature header.")
    if not _UNIX_TIME_RE.match(stamp):
        raise SignatureRefused("The X-Slack-Request-Timestamp header must be a Unix time in seconds.")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        raise SignatureRefused(f"The request's timestamp is more than {TOLERANCE_SECONDS // 60} minutes from Splice's "
                               "clock: it is refused as a possible replay.")
    expected = hmac.new(secret.encode("utf-8"), f"{_VERSION}:{stamp}:".encode() + body, hashlib.sha256).digest()
    digest = None
    if offered.startswith(f"{_VERSION}="):
        try:
            digest = bytes.fromhex(offered[len(_VERSION) + 1:])
        except ValueError:
            digest = None
    if digest is None or not hmac.compare_digest(expected, digest):
        raise SignatureRefused("The X-Slack-Signature does not match the request: it was not signed with the Slack "
                               "app's signing secret, or it was changed on the way.")
    return f"slack:{hashlib.sha256(digest).hexdigest()}"


@dataclass(frozen=True)
class CommandForm:
    command: str
    text: str
    user_id: str
    team_id: str
    response_url: str  # a capability URL: never logged, never shown, kept only until the answer is posted


def slack_form(body: bytes) -> CommandForm:
    """The command's fields; raises FormRefused saying what is missing."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused("The body is not a form in UTF-8 (application/x-www-form-urlencoded).") from None

    def one(name: str) -> str:
        values = fields.get(name) or [""]
        return values[0].replace("\x00", "").strip()

    form = CommandForm(command=one("command").lower(), text=one("text"), user_id=one("user_id"),
                       team_id=one("team_id"), response_url=one("response_url"))
    if not form.command.startswith("/"):
        raise FormRefused("The form has no command (“command=/name”).")
    if not SLACK_ID_RE.match(form.user_id) or not SLACK_ID_RE.match(form.team_id):
        raise FormRefused("The form has no user_id and team_id Splice can read.")
    if form.response_url:
        parts = urlsplit(form.response_url)
        if parts.scheme not in ("https", "http") or not parts.hostname or len(form.response_url) > 500:
            raise FormRefused("The form's response_url is not an http(s) address Splice can answer to.")
    return form


def mrkdwn_escape(text: str) -> str:
    """Text shown as it is in a Slack message: its three control characters escaped, so nothing in a recipe's data
    (an app's record, an error) can mention @channel or make a link of its own.
    https://api.slack.com/reference/surfaces/formatting#escaping"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A link in a Slack message: <url|label> (the label escaped; `|` and `>` cannot be in it)."""
    return f"<{url}|{mrkdwn_escape(label).replace('|', '/')}>"


def ephemeral(text: str) -> dict:
    """An answer only the person who posted the command sees."""
    return {"response_type": "ephemeral", "text": text}

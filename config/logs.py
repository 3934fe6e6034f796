"""Logging filters: some addresses are capabilities (whoever knows them may use them), so their secret part
never reaches a log line, whichever logger writes the address."""

from __future__ import annotations

import logging
import re

# /hooks/<token>/ (webhook triggers) and /connect/<token>/ (a person's runtime user connect link).
_CAPABILITY_PATH = re.compile(r"(/(?:hooks|connect)/)[^/\s?#\"']+")


def redact_capabilities(text: str) -> str:
    return _CAPABILITY_PATH.sub(r"\1[redacted]", text)


class RedactCapabilityPaths(logging.Filter):
    """Rewrites a record whose message names a capability address (Django's "Not Found: /hooks/…" warnings,
    runserver's request lines) before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_capabilities(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True

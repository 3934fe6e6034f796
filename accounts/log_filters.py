"""A refused request (403) is an answer, not a failure: django.request logs it as one line, with the reason, instead
of the traceback of the PermissionDenied that made it. Named in config/settings.py LOGGING, on django.request."""

from __future__ import annotations

import logging

__all__ = ["ForbiddenOneLine"]


class ForbiddenOneLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403 and record.exc_info:
            exception = record.exc_info[1]
            reason = str(exception) if exception is not None else ""
            if reason:
                record.msg = f"{record.msg} ({reason.replace('%', '%%')})"
            record.exc_info = None
            record.exc_text = None
        return True


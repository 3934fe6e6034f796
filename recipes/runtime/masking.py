"""Masking what a job records: every secret of the connections it used, wherever it appears (inside strings too),
and the value of any field whose name says it is a secret. What is masked is gone: the records keep only ••••."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

__all__ = ["MASK", "Masker", "secret_name"]

MASK = "••••••"
# Words that make a field secret, matched as whole words of its name (snake_case, kebab-case, camelCase, dotted):
# "access_token", "X-Api-Key", "clientSecret" are secret; "passengers", "secretary", "tokenizer" are not (a later
# step reads them from the record, so masking them would lose data).
SECRET_WORDS = frozenset({"password", "passwd", "pwd", "pass", "passphrase", "secret", "token", "apikey",
                          "authorization", "auth", "cookie", "signature", "credential", "credentials",
                          "privatekey", "sessionid"})
_WORD_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
# A secret shorter than this is not searched for inside other text (a 2-letter password would mask every "ab").
MIN_SECRET_LENGTH = 4


class Masker:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._pattern: re.Pattern | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH} - set(self._secrets)
        if not new:
            return
        self._secrets = sorted({*self._secrets, *new}, key=len, reverse=True)  # longest first: no partial leftovers
        self._pattern = re.compile("|".join(re.escape(s) for s in self._secrets))

    def __call__(self, value: Any) -> Any:
        """`value` (JSON: dicts, lists, strings, numbers) with every secret masked."""
        if isinstance(value, str):
            return self._pattern.sub(MASK, value) if self._pattern is not None else value
        if isinstance(value, dict):
            return {key: (MASK if _secret_name(key) and value[key] not in (None, "") else self(item))
                    for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(item) for item in value]
        return value


def _secret_name(key: Any) -> bool:
    return isinstance(key, str) and secret_name(key)


@lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether a field of this name holds a secret: one of its words (or two in a row: api_key, private-key) is
    a secret word."""
    words = [word.lower() for word in _WORD_RE.findall(name)]
    pairs = (a + b for a, b in zip(words, words[1:], strict=False))
    return any(word in SECRET_WORDS for word in words) or any(pair in SECRET_WORDS for pair in pairs)

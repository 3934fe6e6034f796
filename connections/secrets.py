"""`Secret`: how a credential travels in memory, masked everywhere a person or a log could see it.

A `Secret` wraps a `str` and hands it out only through `reveal()`, which the code that sends the
credential to an app calls at the last moment. Everything else sees the mask: `str()`, `repr()`,
f-strings and `format()`, `%` formatting (so `logger.info("%s", secret)`), Django templates
(`__html__`, and `reveal` is marked `alters_data` so `{{ secret.reveal }}` renders nothing). It is
not a `str`, so `json.dumps`, `DjangoJSONEncoder` and kombu's JSON raise `TypeError`, and it refuses
pickling, so it cannot end up in a Celery message or a cache by accident (pass ids instead).

This is a guard against accidents, not a sandbox: Python code can always call `reveal()`.
"""

from __future__ import annotations

import hmac
from typing import Any, Never, NoReturn, Self, final

__all__ = ["MASK", "Secret"]

MASK = "••••"

_NO_PICKLE = (
    "Secret cannot be pickled or serialized: pass the id of the row that holds the credential "
    "and open it from the vault where it is used"
)


@final
class Secret:
    """An immutable, masked credential value. `reveal()` returns the plaintext; nothing else does.

    Two secrets compare equal in constant time (`hmac.compare_digest`); a secret never equals a
    plain `str`. It is truthy when non-empty. It has no `len()` (that would tell the length) and no
    hash (equal secrets would need equal hashes, which depend on the value).
    """

    # Name-mangled to `_Secret__value`: Django templates refuse names that start with `_`,
    # and no public attribute holds the value.
    __slots__ = ("__value",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            # The type name only: the value itself may be the secret.
            raise TypeError(f"Secret() takes a str, not {type(value).__name__}")
        object.__setattr__(self, "_Secret__value", value)

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        raise TypeError("Secret cannot be subclassed: a subclass could add an attribute that leaks the value")

    def reveal(self) -> str:
        """Return the plaintext. Call it only where the credential is sent to the app it belongs to."""
        return self.__value

    # A Django template calls a callable attribute unless it `alters_data`; then it renders
    # `string_if_invalid` instead, so `{{ secret.reveal }}` shows nothing.
    reveal.alters_data = True  # type: ignore[attr-defined]

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __format__(self, format_spec: str) -> str:
        return format(MASK, format_spec)

    def __html__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self.__value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.__value.encode(), other.__value.encode())

    def __setattr__(self, name: str, value: object) -> Never:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> Never:
        raise AttributeError("Secret is immutable")

    # Immutable, so a copy may be the object itself (Django deep-copies form and model state).
    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self

    def __reduce__(self) -> Never:
        raise TypeError(_NO_PICKLE)

    def __reduce_ex__(self, protocol: Any) -> Never:
        raise TypeError(_NO_PICKLE)

    def __getstate__(self) -> Never:
        raise TypeError(_NO_PICKLE)

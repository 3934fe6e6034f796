"""Telling a webhook delivery from a forgery: the signature over the raw body, in the scheme the trigger declares
(connections.catalog.WebhookSignature), with the secret from the bound connection's secret field.

Every comparison is constant-time (`hmac.compare_digest` on the decoded digests), and every signature a header
offers is compared (the schemes allow several while a secret is rotated). A refusal says what is wrong with the
delivery, never the secret or the digest Splice expected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from connections.catalog import WebhookSignature
from connections.secrets import Secret

__all__ = ["MAX_DELIVERY_ID_LENGTH", "SignatureRefused", "Verified", "signature_verify"]

MAX_DELIVERY_ID_LENGTH = 200  # Job.dedup_key
_UNIX_TIME_RE = re.compile(r"^\d{1,12}$")
_DELIVERY_ID_RE = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: what it is stored and compared as
_STANDARD_SECRET_PREFIX = "whsec_"


class SignatureRefused(Exception):
    """Why a delivery is not accepted as the app's; the message may be shown to whoever sent it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Verified:
    """A delivery whose signature holds. `delivery_id`: the Standard Webhooks `webhook-id`, one job each."""

    delivery_id: str | None = None


def signature_verify(*, signature: WebhookSignature, secret: Secret | None, body: bytes,
                     headers: Mapping[str, str], now: float | None = None) -> Verified:
    """Check `body` (the raw bytes, before any parsing) against the delivery's headers; raises SignatureRefused.
    `headers` must be case-insensitive (Django's `request.headers`)."""
    if secret is None or not secret:
        raise SignatureRefused("The recipe's connection has no webhook signing secret, so no delivery can be "
                               "verified: add the app's signing secret to the connection.")
    now = time.time() if now is None else now
    if signature.scheme == "hmac_sha256":
        _verify_hmac(signature, secret, body, headers)
        return Verified()
    if signature.scheme == "stripe":
        _verify_stripe(signature, secret, body, headers, now)
        return Verified()
    return _verify_standard(signature, secret, body, headers, now)


# --- the schemes -----------------------------------------------------------------------------------------------


def _verify_hmac(signature: WebhookSignature, secret: Secret, body: bytes, headers: Mapping[str, str]) -> None:
    """HMAC-SHA256 of the body in one header (GitHub: `X-Hub-Signature-256: sha256=<hex>`; Shopify:
    `X-Shopify-Hmac-Sha256: <base64>`)."""
    name = signature.signature_header
    value = _header(headers, name)
    if signature.prefix:
        if not value.startswith(signature.prefix):
            raise SignatureRefused(f"The {name} header does not start with “{signature.prefix}”.")
        value = value[len(signature.prefix):]
    offered = _decode(value, signature.encoding)
    expected = hmac.new(_utf8(secret), body, hashlib.sha256).digest()
    if offered is None or not hmac.compare_digest(expected, offered):
        raise _mismatch(name)


def _verify_stripe(signature: WebhookSignature, secret: Secret, body: bytes, headers: Mapping[str, str],
                   now: float) -> None:
    """https://docs.stripe.com/webhooks#verify-manually: `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>]`, each
    v1 an HMAC-SHA256 of "<t>.<body>" (other schemes, v0, are ignored)."""
    name = signature.signature_header
    stamps, offered = [], []
    for item in _header(headers, name).split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            stamps.append(value)
        elif key == "v1":
            offered.append(_decode(value, "hex"))
    if len(stamps) != 1 or not _UNIX_TIME_RE.match(stamps[0]):
        raise SignatureRefused(f"The {name} header has no timestamp (t=<unix time>).")
    if not offered:
        raise SignatureRefused(f"The {name} header has no v1 signature.")
    _check_fresh(int(stamps[0]), now, signature.tolerance)
    expected = hmac.new(_utf8(secret), stamps[0].encode() + b"." + body, hashlib.sha256).digest()
    if not _any_equal(expected, offered):
        raise _mismatch(name)


def _verify_standard(signature: WebhookSignature, secret: Secret, body: bytes, headers: Mapping[str, str],
                     now: float) -> Verified:
    """https://www.standardwebhooks.com: `webhook-signature: v1,<base64> [v1,<base64>…]`, each an HMAC-SHA256 of
    "<webhook-id>.<webhook-timestamp>.<body>" under the secret's bytes (`whsec_` + base64)."""
    delivery_id = _header(headers, "webhook-id")
    if len(delivery_id) > MAX_DELIVERY_ID_LENGTH or not _DELIVERY_ID_RE.match(delivery_id):
        raise SignatureRefused(f"The webhook-id header must be at most {MAX_DELIVERY_ID_LENGTH} visible ASCII "
                               "characters.")
    stamp = _header(headers, "webhook-timestamp")
    if not _UNIX_TIME_RE.match(stamp):
        raise SignatureRefused("The webhook-timestamp header must be a Unix time in seconds.")
    name = signature.signature_header
    offered = []
    for entry in _header(headers, name).split():
        version, _, value = entry.partition(",")
        if version == "v1":
            offered.append(_decode(value, "base64"))
    if not offered:
        raise SignatureRefused(f"The {name} header has no v1 signature (v1,<base64>).")
    _check_fresh(int(stamp), now, signature.tolerance)
    key = _standard_key(secret)
    expected = hmac.new(key, f"{delivery_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    if not _any_equal(expected, offered):
        raise _mismatch(name)
    return Verified(delivery_id=delivery_id)


# --- helpers ---------------------------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    value = (headers.get(name) or "").strip()
    if not value:
        raise SignatureRefused(f"The delivery has no {name} header.")
    return value


def _decode(value: str, encoding: str) -> bytes | None:
    """The digest a header offers, or None when it is not hex / base64 at all (it then matches nothing)."""
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def _any_equal(expected: bytes, offered: list[bytes | None]) -> bool:
    """Whether one offered digest is the expected one; each is compared, so the time taken tells nothing."""
    found = False
    for digest in offered:
        found |= digest is not None and hmac.compare_digest(expected, digest)
    return found


def _check_fresh(stamp: int, now: float, tolerance: int) -> None:
    """A replay of a captured delivery is refused once its signed time is `tolerance` seconds away (either way:
    a time in the future is as suspect as an old one, beyond clock drift)."""
    if abs(now - stamp) > tolerance:
        raise SignatureRefused(f"The delivery's timestamp is more than {tolerance} seconds from Splice's clock: "
                               "it is refused as a possible replay.")


def _standard_key(secret: Secret) -> bytes:
    text = secret.reveal().strip()
    text = text.removeprefix(_STANDARD_SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if not key:
        raise SignatureRefused("The connection's webhook signing secret is not a Standard Webhooks secret "
                               "(whsec_ followed by base64): paste it again from the app.")
    return key


def _utf8(secret: Secret) -> bytes:
    return secret.reveal().encode("utf-8")


def _mismatch(header: str) -> SignatureRefused:
    return SignatureRefused(f"The {header} signature does not match the body: the delivery was not signed with "
                            "the connection's webhook signing secret, or it was changed on the way.")

"""The egress policy: which addresses Splice may connect to when it talks to an app.

Every outgoing request goes through `connections.http`, whose connections resolve the host here, check
every address it resolves to, and connect only to an address that passed (so a DNS answer that changes
between the check and the connect cannot win). Denied by default: loopback, private, link-local (cloud
metadata), carrier-grade NAT, multicast, reserved and unspecified addresses, also when written in another
form (IPv4-mapped or -compatible IPv6, NAT64, 6to4, Teredo, octal, hex or a single number).

Settings (README): SPLICE_EGRESS_ALLOW (host names, `*.` wildcards, and CIDR ranges), SPLICE_EGRESS_DENY
(the same, denied on top of the defaults), SPLICE_ALLOW_INSECURE_LOOPBACK (local servers over http).
Precedence: an allowed host name > an allowed range > a denied name or range (the defaults included).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from connections.catalog.templating import origin_of

__all__ = [
    "REFUSED_MESSAGE",
    "EgressPolicy",
    "EgressRefused",
    "egress_policy",
    "parse_ip",
]

logger = logging.getLogger(__name__)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# One message for every refusal, whatever the target: it never tells whether something answers there.
REFUSED_MESSAGE = (
    "Splice may not connect to this address. An admin can allow it with SPLICE_EGRESS_ALLOW "
    "(host names or address ranges of apps on an internal network)."
)

_LOOPBACK_NAMES = ("localhost",)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Resolution and connecting, one name each so the tests can stand in for the network.
getaddrinfo = socket.getaddrinfo


class EgressRefused(Exception):  # noqa: N818 (a refusal, not an error of Splice's)
    """The policy refused the request before any connection was made. `detail` (for logs) says why.

    Not an OSError (nor a requests exception, which is one): urllib3 would take it for a broken connection."""

    def __init__(self, host: str, detail: str) -> None:
        self.host, self.detail = host, detail
        super().__init__(REFUSED_MESSAGE)


def _parse_ipv4_number(part: str) -> int | None:
    """One part of an inet_aton address: decimal, octal (leading 0) or hex (0x)."""
    try:
        if part[:2].lower() == "0x":
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _parse_inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The forms the C resolver also takes as an IPv4 address: `2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or any(not p or len(p) > 12 for p in parts):
        return None
    numbers = [_parse_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = last
    for index, number in enumerate(head):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_ip(host: str) -> IP | None:
    """`host` as an IP address when it is one, in any form a resolver would accept; else None."""
    host = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return _parse_inet_aton(host)


def _embedded_ipv4(address: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo), if any."""
    if address.version == 4:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    packed = int(address)
    if any(address in network for network in _NAT64) or (address in _IPV4_COMPATIBLE and packed > 1):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def _is_loopback(address: IP) -> bool:
    embedded = _embedded_ipv4(address)
    return address.is_loopback or (embedded is not None and embedded.is_loopback)


def _denied_by_default(address: IP) -> bool:
    """Anything that is not a public unicast address (ipaddress's is_global leaves out RFC 1918, fc00::/7,
    169.254/16, fe80::/10, 100.64/10, documentation and benchmark ranges, 0.0.0.0/8 and more)."""
    return (not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified
            or address.is_link_local or address.is_loopback or (address.version == 6 and address.is_site_local))


def _host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


@dataclass(frozen=True)
class EgressPolicy:
    allow_hosts: tuple[str, ...] = ()
    allow_ranges: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    deny_hosts: tuple[str, ...] = ()
    deny_ranges: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allow_loopback: bool = False

    @classmethod
    def from_lists(cls, allow: list[str], deny: list[str], *, allow_loopback: bool) -> EgressPolicy:
        """From the settings' lists, whose entries are host names (`*.` wildcards) or CIDR ranges."""
        def split(entries):
            hosts, ranges = [], []
            for entry in entries:
                entry = entry.strip().lower().rstrip(".")
                try:
                    ranges.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    hosts.append(entry)
            return tuple(hosts), tuple(ranges)

        allow_hosts, allow_ranges = split(allow)
        deny_hosts, deny_ranges = split(deny)
        return cls(allow_hosts, allow_ranges, deny_hosts, deny_ranges, allow_loopback)

    # --- checks ---------------------------------------------------------------------------------

    def check_url(self, url: str) -> None:
        """The scheme and host of `url`, before any resolution: https (http only to a loopback host under
        SPLICE_ALLOW_INSECURE_LOOPBACK), then `check_host`. Asked for every request: remembered per origin."""
        try:
            origin = origin_of(url)
        except ValueError as exc:
            raise EgressRefused("", str(exc)) from None
        refusal = _refusal_for_origin(self, origin)
        if refusal is not None:
            raise EgressRefused(*refusal)

    def _check_origin(self, origin: str) -> None:
        parts = urlsplit(origin)
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise EgressRefused(host, "no host")
        scheme = parts.scheme.lower()
        if scheme == "http":
            address = parse_ip(host)
            loopback = host in _LOOPBACK_NAMES or (address is not None and _is_loopback(address))
            if not (self.allow_loopback and loopback):
                raise EgressRefused(host, "http is allowed only for local servers")
        elif scheme != "https":
            raise EgressRefused(host, f"scheme {scheme!r}")
        self.check_host(host)

    def check_host(self, host: str) -> None:
        """What can be told from the name alone: a denied name, or a literal address that is denied."""
        host = host.strip("[]").lower().rstrip(".")
        if _host_matches(host, self.allow_hosts):
            return
        if _host_matches(host, self.deny_hosts):
            raise EgressRefused(host, "denied host name")
        if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
            if not self.allow_loopback:
                raise EgressRefused(host, "loopback name")
            return
        address = parse_ip(host)
        if address is not None:
            self.check_address(host, address)

    def check_address(self, host: str, address: IP) -> None:
        """One address `host` resolved to (or is): allowed range > denied range or default denial."""
        candidates = [address, *filter(None, [_embedded_ipv4(address)])]
        if any(candidate in network for candidate in candidates for network in self.allow_ranges):
            return
        if self.allow_loopback and _is_loopback(address):
            return
        for candidate in candidates:
            if any(candidate in network for network in self.deny_ranges):
                raise EgressRefused(host, f"{address} is in a denied range")
            if _denied_by_default(candidate):
                raise EgressRefused(host, f"{address} is not a public address")

    def resolve(self, host: str, port: int) -> list[tuple[int, tuple]]:
        """The (family, socket address) pairs to connect to for `host`: every answer checked, all or none.
        Raises EgressRefused, or socket.gaierror when the name does not resolve."""
        host = host.strip("[]")
        self.check_host(host)
        trusted = _host_matches(host.lower().rstrip("."), self.allow_hosts)
        literal = parse_ip(host)
        if literal is not None:
            family = socket.AF_INET if literal.version == 4 else socket.AF_INET6
            sockaddr = (str(literal), port) if literal.version == 4 else (str(literal), port, 0, 0)
            return [(family, sockaddr)]
        answers = []
        for family, _, _, _, sockaddr in getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM):
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            if not trusted:
                self.check_address(host, ipaddress.ip_address(sockaddr[0].split("%", 1)[0]))
            answers.append((family, sockaddr))
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "no address")
        return answers


@lru_cache(maxsize=1024)
def _refusal_for_origin(policy: EgressPolicy, origin: str) -> tuple[str, str] | None:
    """(host, why) when the policy refuses `origin` by its name alone, else None (what each answer resolves to
    is checked at every new connection)."""
    try:
        policy._check_origin(origin)
    except EgressRefused as refused:
        return refused.host, refused.detail
    return None


@lru_cache(maxsize=8)
def _policy(allow: tuple[str, ...], deny: tuple[str, ...], allow_loopback: bool) -> EgressPolicy:
    return EgressPolicy.from_lists(list(allow), list(deny), allow_loopback=allow_loopback)


def egress_policy() -> EgressPolicy:
    """The policy the settings describe now (cached per value, so tests may override the settings)."""
    from django.conf import settings

    return _policy(tuple(settings.SPLICE_EGRESS_ALLOW), tuple(settings.SPLICE_EGRESS_DENY),
                   bool(settings.SPLICE_ALLOW_INSECURE_LOOPBACK))

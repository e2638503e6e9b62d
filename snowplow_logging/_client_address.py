"""The client's address: the peer's, or a proxy header's through trusted proxies.

The client's address is the peer's, unless the peer is a trusted proxy: then
the proxy header's hops are read from the right, each hop a trusted proxy
wrote, and the first one that is not a trusted proxy is the client. A hop that
is not an address ends the walk there: it is what the client claims, and
:meth:`Subject.from_untrusted <snowplow_logging.Subject.from_untrusted>` drops
it. The middlewares read one proxy header, the one the proxies in front of the
application write: reading the other one too would let a client forge it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final, Literal, TypeAlias

from snowplow_logging._exceptions import ConfigurationError, ConfigurationTypeError

__all__ = ["Address", "Network", "ProxyHeader", "TrustedProxies", "TrustedProxy"]

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
TrustedProxy: TypeAlias = str | Address | Network
"""A trusted proxy: an address or network, as an :mod:`ipaddress` object or text
(``"10.0.0.1"``, ``"10.0.0.0/8"``, ``"fd00::/8"``), or ``"unix"`` for a peer
without an address (a Unix socket)."""
ProxyHeader: TypeAlias = Literal["X-Forwarded-For", "Forwarded"]

_HOPS_MAX: Final = 64
"""Hops read from the right of a proxy header; the rest of a longer one is one hop."""
_HOST_MAX: Final = 100
"""Longer than any address with a zone: not parsed."""


class TrustedProxies:
    """The proxies whose header is believed, and the client address they give.

    Raises:
        ConfigurationTypeError: ``proxies`` is not an iterable of addresses,
            networks and text, or is one text (write ``["10.0.0.1"]``).
        ConfigurationError: an item is not an address, a network nor ``"unix"``;
            the message names it.
    """

    __slots__ = ("_networks", "_unix", "header")

    def __init__(
        self, proxies: Iterable[TrustedProxy], header: ProxyHeader = "X-Forwarded-For"
    ) -> None:
        given: object = proxies
        if isinstance(given, str | bytes | Address | Network):
            msg = f"'trusted_proxies' must be a list of addresses or networks (got one: {given!r}); write [{given!r}]."
            raise ConfigurationTypeError(msg)
        if not isinstance(given, Iterable):
            msg = f"'trusted_proxies' must be a list of addresses or networks (got {type(given).__name__})."
            raise ConfigurationTypeError(msg)
        networks: list[Network] = []
        unix = False
        for item in given:
            if isinstance(item, str) and item.strip().lower() == "unix":
                unix = True
            else:
                networks.append(_network(item))
        self._networks: Final = tuple(networks)
        self._unix: Final = unix
        self.header: Final = _header(header)

    def __bool__(self) -> bool:
        return bool(self._networks) or self._unix

    def __repr__(self) -> str:
        items = [str(n) for n in self._networks] + (["unix"] if self._unix else [])
        return f"TrustedProxies({items!r}, header={self.header!r})"

    def trusts(self, address: Address) -> bool:
        """Whether ``address`` is a trusted proxy's."""
        return any(address in network for network in self._networks)

    def client(self, peer: str | None, chain: str | None) -> str | None:
        """The client's address: ``peer``, or from ``chain`` when the peer is trusted.

        Args:
            peer: the address the connection came from (``None`` or ``""``
                for a Unix socket).
            chain: the proxy header's value, all its lines joined by ``,``.

        Returns:
            The address as written (without port or brackets), or what a
            client wrote where an address should be: not checked further, the
            subject drops what is not one address.
        """
        if not chain or not (self._networks or self._unix):
            return peer
        if peer:
            address = _address(peer.strip())
            if address is None or not self.trusts(address):
                return peer
        elif not self._unix:
            return peer
        client = peer
        hops = chain.rsplit(",", _HOPS_MAX)
        forwarded = self.header == "Forwarded"
        for hop in reversed(hops):
            host = _host(_forwarded_for(hop) if forwarded else hop)
            address = _address(host)
            if address is None:
                return host  # a client's word, not an address: dropped later
            client = host
            if not self.trusts(address):
                return host
        return client  # every hop a trusted proxy: the first of them


def _network(item: object) -> Network:
    if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return item
    if isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ipaddress.ip_network(item)
    if not isinstance(item, str):
        msg = f"'trusted_proxies' items must be IP addresses or networks, as text or ipaddress objects (got {type(item).__name__} {item!r})."
        raise ConfigurationTypeError(msg)
    try:
        return ipaddress.ip_network(item.strip())
    except ValueError as exc:
        msg = f"'trusted_proxies' item {item!r} is not an IP address or network: {exc}."
        raise ConfigurationError(msg) from None


def _header(header: object) -> ProxyHeader:
    if not isinstance(header, str):
        msg = f"'proxy_header' must be 'X-Forwarded-For' or 'Forwarded' (got {type(header).__name__})."
        raise ConfigurationTypeError(msg)
    name = header.strip().lower()
    if name == "x-forwarded-for":
        return "X-Forwarded-For"
    if name == "forwarded":
        return "Forwarded"
    msg = f"'proxy_header' must be 'X-Forwarded-For' or 'Forwarded' (got {header!r})."
    raise ConfigurationError(msg)


def _forwarded_for(element: str) -> str:
    """The ``for=`` value of one ``Forwarded`` element (RFC 7239), ``""`` if none."""
    for pair in element.split(";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            return value
    return ""


def _host(hop: str) -> str:
    """A hop's address text: unquoted, without brackets and port."""
    text = hop.strip().strip('"').strip()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    if text.count(":") == 1:  # IPv4 with a port; bare IPv6 has more colons
        return text.partition(":")[0]
    return text


def _address(host: str) -> Address | None:
    """``host`` as an address (IPv4-mapped IPv6 as IPv4), ``None`` if it is not one."""
    if not host or len(host) > _HOST_MAX:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address

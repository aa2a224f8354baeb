"""Where the server may connect on a stranger's word (a webhook's callback URL): public
addresses only, judged on the address it actually connects to.

`is_public` says whether one address is a public unicast one. Python's `is_global` alone is
not enough: it calls multicast, site-local IPv6, and IPv6 addresses that carry an IPv4 one
inside "global", so `64:ff9b::a9fe:a9fe` (NAT64 for 169.254.169.254, a cloud's metadata
service) or `2002:7f00:1::1` (6to4 for 127.0.0.1) would pass. Here an IPv6 address that
carries IPv4 addresses (IPv4-mapped, -compatible and -translated, NAT64, 6to4, Teredo) is
public only if every IPv4 address it carries is; and a plain one must be global unicast,
outside the documentation and other special ranges Python still calls global.

`PublicOnly` is an httpcore network backend that resolves a host itself, refuses it if any
address it resolves to is not public, and then connects to one of the addresses it checked:
nothing is looked up a second time, so a DNS answer that changes in between (rebinding)
cannot slip a private address past the check. TLS still verifies the certificate against
the host's name (httpcore passes the name, not the address, as the server name).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import httpcore
import httpx

# Special-purpose ranges Python 3.11's is_global misses (RFC 6890's registry, RFC 9637).
_NOT_GLOBAL_V4 = (IPv4Network("192.0.0.0/24"), IPv4Network("192.88.99.0/24"))
_NOT_GLOBAL_V6 = (IPv6Network("3fff::/20"), IPv6Network("100::/64"), IPv6Network("fec0::/10"))
# IPv6 ranges whose last 32 bits are an IPv4 address: IPv4-compatible (deprecated; :: and ::1
# fall in it too, carrying 0.0.0.0 and 0.0.0.1), IPv4-translated (SIIT), NAT64's well-known prefix.
_LAST_32_BITS_V4 = (IPv6Network("::/96"), IPv6Network("::ffff:0:0:0/96"), IPv6Network("64:ff9b::/96"))
_LOCAL_NAT64 = IPv6Network("64:ff9b:1::/48")  # RFC 8215, local use: where its IPv4 sits is the network's choice


class Refused(Exception):
    """The URL may not be called (a private address); not worth retrying."""


def embedded_ipv4(address: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 address carries inside, in any of the standard forms."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # its server and (de-obfuscated) client
    if any(address in network for network in _LAST_32_BITS_V4):
        found.append(IPv4Address(int(address) & 0xFFFF_FFFF))
    return found


def is_public(address: IPv4Address | IPv6Address) -> bool:
    """Whether the server may connect to this address on a stranger's word."""
    if address.version == 6:
        if address in _LOCAL_NAT64:
            return False
        if carried := embedded_ipv4(address):
            return all(_public_unicast(v4) for v4 in carried)
    return _public_unicast(address)


def _public_unicast(address: IPv4Address | IPv6Address) -> bool:
    special = _NOT_GLOBAL_V4 if address.version == 4 else _NOT_GLOBAL_V6
    return (address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified
                                       or address.is_loopback or address.is_link_local or address.is_private)
            and not any(address in network for network in special))


async def public_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, if all are public; else Refused naming the first that isn't."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(sockaddr[0].split("%")[0] for *_, sockaddr in infos))
    for address in addresses:
        if not is_public(ipaddress.ip_address(address)):
            raise Refused(f"the callback host {host!r} is not a public address ({address})")
    return addresses


class PublicOnly(httpcore.AsyncNetworkBackend):
    """Connects only to public addresses, and only to the ones it checked."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options=None) -> httpcore.AsyncNetworkStream:
        error: Exception | None = None
        for address in await public_addresses(host, port):
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:  # another of its addresses may answer
                error = e
        raise error or httpcore.ConnectError(f"no address for {host!r}")

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise Refused("a callback may not reach a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PublicOnlyTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, its connection pool given the PublicOnly backend (httpx 0.28 builds
    the pool in its constructor and takes no backend of its own; tests/generation check the swap)."""

    def __init__(self) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(),
                                                  network_backend=PublicOnly())

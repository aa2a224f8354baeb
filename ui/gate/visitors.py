"""Who a request comes from: an API token's holder, or an address.

Every limit that is "per visitor" (requests and generations per minute, the GPU budget, the
results one visitor may keep) counts against the same key, whichever way in they used: the
REST API, the studio in a browser, or gradio_client. A request carrying a valid API token
(`Authorization: Bearer ...`) counts against that token; any other against its address.

An IPv6 address counts by its /64 network: one host is routinely given a whole /64, so
single IPv6 addresses would let anyone be a million visitors. Behind a proxy the address is
read from ATELIER_CLIENT_IP_HEADER. On Modal none is needed: its runtime hands the app the
visitor's own address as the ASGI client (and strips any X-Forwarded-For a visitor sends;
modal/_runtime/asgi.py in modal 1.6.4).

Tokens are compared in constant time, and never logged or echoed; a token's key holds a
digest of it, not the token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from ui.settings import ApiSettings


@dataclass(frozen=True)
class Visitor:
    key: str  # "token:<digest>", "ip:<address or /64>", or "local" (the command line, trusted)
    has_token: bool = False

    @property
    def id(self) -> str:
        """What the result store keeps to count a visitor's results: a digest, not an address."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:16]

    @property
    def trusted(self) -> bool:
        return self.key == LOCAL.key


LOCAL = Visitor("local")  # the `atelier generate` command: the machine's own user, no limits


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def token_matches(candidate: str | None, tokens: tuple[str, ...]) -> bool:
    """Constant time: every configured token is compared (as equal-length digests), no early exit."""
    if not candidate:
        return False
    wanted = _digest(candidate)
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(wanted, _digest(token))
    return matched


def cookie_value(token: str, purpose: bytes) -> str:
    """What a cookie standing for `token` holds (the studio's lock, /admin): derived from it, so a
    leaked cookie doesn't reveal it."""
    return hmac.new(token.encode(), purpose, hashlib.sha256).hexdigest()


def bearer_token(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def visitor_of(headers: Mapping[str, str], client_host: str | None, settings: ApiSettings) -> Visitor:
    """The visitor a request counts against (headers with lower-case names, as Starlette's and Gradio's are)."""
    token = bearer_token(headers)
    if settings.api_tokens and token_matches(token, settings.api_tokens):
        return Visitor("token:" + _digest(token).hex()[:16], has_token=True)
    return Visitor("ip:" + address_key(client_address(headers, client_host, settings)))


def client_address(headers: Mapping[str, str], client_host: str | None, settings: ApiSettings) -> str:
    if settings.client_ip_header:
        forwarded = headers.get(settings.client_ip_header, "")
        if first := forwarded.split(",")[0].strip():
            return first
    return client_host or "unknown"


def address_key(address: str) -> str:
    """An IPv4 address as it is; an IPv6 one as its /64 network (an IPv4-mapped one as its IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address[:64]  # not an address (a proxy's odd header): counted as given, bounded
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)

"""Who is asking: the tokens a request presents, checked in constant time, and the address it
comes from. Shared by the API's guards (ui/api/security.py) and the admin pages
(ui/pages/admin.py). Tokens are never logged or echoed by anything here."""

from __future__ import annotations

import hashlib
import hmac

from starlette.datastructures import Headers
from starlette.types import Scope


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def token_matches(candidate: str | None, tokens: tuple[str, ...]) -> bool:
    """Constant time: every configured token is compared (as equal-length digests), no early exit."""
    if not candidate:
        return False
    wanted = digest(candidate)
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(wanted, digest(token))
    return matched


def bearer_token(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def cookie_value(token: str, purpose: bytes) -> str:
    """What a cookie standing for `token` holds: derived from it, so a leaked cookie doesn't reveal it."""
    return hmac.new(token.encode(), purpose, hashlib.sha256).hexdigest()


def client_address(scope: Scope, forwarded_header: str | None) -> str:
    """The client's address: the first one in `forwarded_header` behind a proxy, else the socket's."""
    if forwarded_header:
        forwarded = Headers(scope=scope).get(forwarded_header, "")
        if first := forwarded.split(",")[0].strip():
            return first
    client = scope.get("client")
    return client[0] if client else "unknown"

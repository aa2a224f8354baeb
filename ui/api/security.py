"""Who may call what, how often, with how much: the checks in front of the API and the studio.

`Guard` is one ASGI middleware (plain ASGI, so streamed responses such as SSE pass through
untouched) that, for every request under /api/:

1. limits requests per client (token bucket; 429 with Retry-After),
2. requires a bearer token under /api/v1/ when ATELIER_API_TOKENS is set (401),
3. caps the body (413) and requires JSON bodies to say so (415; a training may be a multipart
   form), before FastAPI reads them.

/api/health stays open, for uptime checks. When ATELIER_STUDIO_TOKEN is set, the studio
(every page that is not the API, its docs, the gallery, permalinks or media) asks for the
token once, as `?studio_token=...`, and then remembers the visitor with a cookie.

Tokens are compared in constant time, and never logged or echoed.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.credentials import bearer_token, cookie_value, digest, token_matches
from ui.credentials import client_address as address_of
from ui.errors import error_response
from ui.settings import ApiSettings

API_PREFIX = "/api/"
PROTECTED_PREFIX = "/api/v1/"
OPEN_PATHS = ("/api/health",)
# What stays public when the studio is locked: the API and /admin have their own tokens; shared things stay shareable.
STUDIO_PUBLIC_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/results/", "/r/", "/gallery", "/pages-assets/",
                          "/favicon.ico", "/admin")
STUDIO_COOKIE = "atelier_studio"
STUDIO_QUERY = "studio_token"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


# --- tokens (checked in ui/credentials.py) ---------------------------------------------------------


def studio_cookie_value(studio_token: str) -> str:
    """What the cookie holds: derived from the token, so a leaked cookie doesn't reveal it."""
    return cookie_value(studio_token, b"atelier studio cookie")


# --- rate limiting ---------------------------------------------------------------------------


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per client: `per_minute` requests, refilled evenly, bursts up to the same."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000):
        self.per_minute = per_minute
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}

    def retry_after(self, client: str) -> int | None:
        """Take one request from `client`'s bucket; None if allowed, else whole seconds to wait."""
        if self.per_minute <= 0:
            return None
        now = self.clock()
        rate = self.per_minute / 60.0
        bucket = self._buckets.get(client)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._buckets[client] = _Bucket(tokens=self.per_minute, updated=now)
        bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return max(1, math.ceil((1 - bucket.tokens) / rate))

    def _forget_idle(self, now: float) -> None:
        """Keep memory bounded: drop clients whose buckets have refilled (they lose nothing)."""
        if len(self._buckets) < self.max_clients:
            return
        full_after = 60.0  # an empty bucket is full again after a minute
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < full_after}
        while len(self._buckets) >= self.max_clients:  # a flood of distinct clients: oldest go first
            self._buckets.pop(next(iter(self._buckets)))


def client_key(scope: Scope, settings: ApiSettings) -> str:
    """Whom a request counts against: its API token if it has a valid one, else its address."""
    headers = Headers(scope=scope)
    token = bearer_token(headers)
    if settings.api_tokens and token_matches(token, settings.api_tokens):
        return "token:" + digest(token).hex()[:16]
    return "ip:" + client_address(scope, settings)


def client_address(scope: Scope, settings: ApiSettings) -> str:
    return address_of(scope, settings.client_ip_header)


# --- the middleware --------------------------------------------------------------------------


class Guard:
    def __init__(self, app: ASGIApp, settings: ApiSettings):
        self.app = app
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        if path.startswith(API_PREFIX) and scope["type"] == "http":
            return await self._api(scope, receive, send)
        if self.settings.studio_token and not path.startswith(STUDIO_PUBLIC_PREFIXES):
            return await self._studio(scope, receive, send)
        await self.app(scope, receive, send)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS":  # CORS preflights carry no credentials
            return await self.app(scope, receive, send)
        if (wait := self.limiter.retry_after(client_key(scope, self.settings))) is not None:
            return await _reject(scope, receive, send, 429, "rate_limited",
                                 f"Too many requests: try again in {wait} s.", {"Retry-After": str(wait)})
        if (
            self.settings.api_tokens
            and scope["path"].startswith(PROTECTED_PREFIX)
            and not token_matches(bearer_token(headers), self.settings.api_tokens)
        ):
            return await _reject(scope, receive, send, 401, "unauthorized",
                                 "This API needs a token: send 'Authorization: Bearer <token>'.",
                                 {"WWW-Authenticate": 'Bearer realm="atelier"'})
        if scope["method"] not in _BODY_METHODS:
            return await self.app(scope, receive, send)
        limit = self.settings.api_max_body
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await _reject(scope, receive, send, 413, "body_too_large", _too_large(limit))
        chunks, size = [], 0
        while True:  # read it all now (it is bounded), so the limit holds for chunked bodies too
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await _reject(scope, receive, send, 413, "body_too_large", _too_large(limit))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not _is_json(headers.get("content-type", "")) and not _is_form_here(scope["path"], headers):
            return await _reject(scope, receive, send, 415, "unsupported_media_type",
                                 "Send the request body as JSON, with 'Content-Type: application/json'.")
        await self.app(scope, _replay(body, receive), send)

    async def _studio(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = self.settings.studio_token
        assert token is not None
        expected = studio_cookie_value(token)
        cookies = SimpleCookie(Headers(scope=scope).get("cookie", ""))
        if STUDIO_COOKIE in cookies and hmac.compare_digest(cookies[STUDIO_COOKIE].value, expected):
            return await self.app(scope, receive, send)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        offered = next((v for k, v in query if k == STUDIO_QUERY), None)
        if scope["type"] == "http" and token_matches(offered, (token,)):
            # Remember the visitor, and take the token out of the address bar and history.
            rest = urlencode([(k, v) for k, v in query if k != STUDIO_QUERY])
            here = "/" + (scope.get("root_path", "") + scope["path"]).lstrip("/")  # never "//host": same site only
            response = RedirectResponse(here + (f"?{rest}" if rest else ""), 303)
            response.set_cookie(STUDIO_COOKIE, expected, max_age=30 * 24 * 3600, httponly=True, samesite="lax",
                                secure=scope.get("scheme") == "https")
            return await response(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        await _reject(scope, receive, send, 401, "studio_locked",
                      "This studio is private: open it with the link you were given (it ends in ?studio_token=...).")


FORM_PATHS = ("/api/v1/trainings",)  # where a multipart form may come instead: a training's picture files


def _is_form_here(path: str, headers: Headers) -> bool:
    return path in FORM_PATHS and headers.get("content-type", "").lower().startswith("multipart/form-data")


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _too_large(limit: int) -> str:
    return f"The request body is too large: the limit is {limit} bytes."


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the app the body already read, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reject(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str,
                  headers: dict[str, str] | None = None) -> None:
    response = error_response(status, code, message)
    response.headers.update(headers or {})
    await response(scope, receive, send)


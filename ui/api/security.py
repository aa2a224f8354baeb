"""Who may call what, how often, with how much: the per-request checks in front of the API and
the studio. (The per-generation ones, which every way into a model shares, are ui/gate's.)

`Guard` is one ASGI middleware (plain ASGI, so streamed responses such as SSE pass through
untouched). For every request under /api/:

1. limits requests per client (token bucket; 429 with Retry-After),
2. requires a bearer token under /api/v1/ when ATELIER_API_TOKENS is set (401),
3. caps the body (413) and requires JSON bodies to say so (415), before FastAPI reads them.

/api/health and /api/budget stay open, for uptime checks and the studio's masthead.

For every POST to the studio's own API, /gradio_api/ (a browser's or gradio_client's calls,
uploads): the same request limit per client, counted in the same buckets, and the same body
cap; an upload (multipart) must declare its length, and one over the cap is refused before
Gradio writes a byte of it to disk.

When ATELIER_STUDIO_TOKEN is set, the studio (every page that is not the API, its docs, the
gallery, permalinks or media; /gradio_api/ included, so gradio_client too) asks for the token
once, as `?studio_token=...`, and then remembers the visitor with a cookie; a program sends it
as `Authorization: Bearer <studio token>` instead (or one of the API tokens).

Tokens are compared in constant time, and never logged or echoed.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.errors import error_response
from ui.gate import RateLimiter, bearer_token, cookie_value, token_matches, visitor_of
from ui.settings import ApiSettings

API_PREFIX = "/api/"
PROTECTED_PREFIX = "/api/v1/"
STUDIO_API_PREFIX = "/gradio_api/"
# What stays public when the studio is locked: the API and /admin have their own tokens; shared things stay shareable.
STUDIO_PUBLIC_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/results/", "/r/", "/gallery", "/pages-assets/",
                          "/favicon.ico", "/admin")
STUDIO_COOKIE = "atelier_studio"
STUDIO_QUERY = "studio_token"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def studio_cookie_value(studio_token: str) -> str:
    """What the cookie holds: derived from the token, so a leaked cookie doesn't reveal it."""
    return cookie_value(studio_token, b"atelier studio cookie")


def client_key(scope: Scope, settings: ApiSettings) -> str:
    """Whom a request counts against: its API token if it has a valid one, else its address."""
    client = scope.get("client")
    return visitor_of(Headers(scope=scope), client[0] if client else None, settings).key


# --- the middleware --------------------------------------------------------------------------


class Guard:
    def __init__(self, app: ASGIApp, settings: ApiSettings):
        self.app = app
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit)
        # The studio's uploads count apart, at the same rate: a page's own file traffic (Gradio's
        # image editor sends its layers again and again once it holds a picture) never starves its calls.
        self.upload_limiter = RateLimiter(settings.rate_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        if path.startswith(API_PREFIX) and scope["type"] == "http":
            return await self._api(scope, receive, send)
        if self.settings.studio_token and not path.startswith(STUDIO_PUBLIC_PREFIXES) and not self._let_in(scope):
            return await self._locked(scope, receive, send)
        if path.startswith(STUDIO_API_PREFIX) and scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            return await self._studio_api(scope, receive, send)
        await self.app(scope, receive, send)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS":  # CORS preflights carry no credentials
            return await self.app(scope, receive, send)
        if not await self._within_rate(scope, receive, send):
            return
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
        if (body := await self._body(scope, receive, send)) is None:
            return
        if body and not _is_json(headers.get("content-type", "")):
            return await _reject(scope, receive, send, 415, "unsupported_media_type",
                                 "Send the request body as JSON, with 'Content-Type: application/json'.")
        await self.app(scope, _replay(body, receive), send)

    async def _studio_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A call or upload to the studio's own API: the same request limit and body cap as the API's."""
        headers = Headers(scope=scope)
        upload = headers.get("content-type", "").lower().startswith("multipart/")
        if not await self._within_rate(scope, receive, send, self.upload_limiter if upload else self.limiter):
            return
        if upload:
            # An upload: Gradio writes it to disk as it arrives, so it is judged by its declared
            # length before any of it is read (the server delivers no more than that length).
            declared = headers.get("content-length", "")
            if not declared.isdigit():
                return await _reject(scope, receive, send, 411, "length_required",
                                     "Send an upload with its Content-Length.")
            if int(declared) > self.settings.api_max_body:
                return await _reject(scope, receive, send, 413, "body_too_large", _too_large(self.settings.api_max_body))
            return await self.app(scope, receive, send)
        if (body := await self._body(scope, receive, send)) is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _within_rate(self, scope: Scope, receive: Receive, send: Send, limiter: RateLimiter | None = None) -> bool:
        if (wait := (limiter or self.limiter).retry_after(client_key(scope, self.settings))) is None:
            return True
        await _reject(scope, receive, send, 429, "rate_limited", f"Too many requests: try again in {wait} s.",
                      {"Retry-After": str(wait)})
        return False

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, read now (it is bounded, so the cap holds for chunked bodies too); None
        when it was refused (413, answered here) or the client left."""
        limit = self.settings.api_max_body
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _reject(scope, receive, send, 413, "body_too_large", _too_large(limit))
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await _reject(scope, receive, send, 413, "body_too_large", _too_large(limit))
                return None
            if not message.get("more_body", False):
                return b"".join(chunks)

    # --- the studio's lock --------------------------------------------------------------------

    def _let_in(self, scope: Scope) -> bool:
        """The visitor's cookie, or a bearer token: the studio's own, or one of the API's."""
        token = self.settings.studio_token
        assert token is not None
        headers = Headers(scope=scope)
        cookies = SimpleCookie(headers.get("cookie", ""))
        if STUDIO_COOKIE in cookies and hmac.compare_digest(cookies[STUDIO_COOKIE].value, studio_cookie_value(token)):
            return True
        return token_matches(bearer_token(headers), (token, *self.settings.api_tokens))

    async def _locked(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = self.settings.studio_token
        assert token is not None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        offered = next((v for k, v in query if k == STUDIO_QUERY), None)
        if scope["type"] == "http" and token_matches(offered, (token,)):
            # Remember the visitor, and take the token out of the address bar and history.
            rest = urlencode([(k, v) for k, v in query if k != STUDIO_QUERY])
            here = "/" + (scope.get("root_path", "") + scope["path"]).lstrip("/")  # never "//host": same site only
            response = RedirectResponse(here + (f"?{rest}" if rest else ""), 303)
            response.set_cookie(STUDIO_COOKIE, studio_cookie_value(token), max_age=30 * 24 * 3600, httponly=True,
                                samesite="lax", secure=scope.get("scheme") == "https")
            return await response(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        await _reject(scope, receive, send, 401, "studio_locked",
                      "This studio is private: open it with the link you were given (it ends in ?studio_token=...).")


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

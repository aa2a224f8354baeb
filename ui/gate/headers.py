"""Request heads have a size limit: 16 KB for any one header, 64 KB for all of them with the
request's target, answered 431 with one sentence before anything reads the body, on every
route (pages, media, the API, the studio and its websocket alike).

This is the app's own check (`HeaderLimits`, outermost around the whole app), and it sees a
request only after the server has parsed its head. The memory that parsing takes is bounded
where the parsing happens: for `atelier serve`, by ui/gate/server.py (uvicorn); on Modal, by
Modal's web proxy, in front of the container, whose limits this code cannot see or set.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ui.errors import error_response

MAX_HEADER_BYTES = 16 * 1024  # one header: its name and value
MAX_HEAD_BYTES = 64 * 1024  # every header, and the path and query string


def too_large(scope: Scope) -> str | None:
    """The sentence refusing this request's head, or None if it fits."""
    total = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
    for name, value in scope["headers"]:
        size = len(name) + len(value)
        if size > MAX_HEADER_BYTES:
            shown = name[:40].decode("latin-1")
            return (f"The request's {shown!r} header is too large ({size} bytes): each header may have at most "
                    f"{MAX_HEADER_BYTES // 1024} KB, and all of them {MAX_HEAD_BYTES // 1024} KB.")
        total += size
    if total > MAX_HEAD_BYTES:
        return (f"The request's headers are too large ({total} bytes with its address): "
                f"together they may have at most {MAX_HEAD_BYTES // 1024} KB.")
    return None


class HeaderLimits:
    """ASGI middleware: 431 for a head over the limits; everything else passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and (message := too_large(scope)) is not None:
            if scope["type"] == "websocket":  # refused before the handshake: the client sees a 403
                await send({"type": "websocket.close", "code": 1009})
                return
            await error_response(431, "headers_too_large", message)(scope, receive, send)
            return
        await self.app(scope, receive, send)

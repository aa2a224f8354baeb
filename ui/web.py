"""The web app: one FastAPI application that everything a browser sees hangs off.

    /api/health           which backend serves, and the state of each model
    /results/{id}/{file}  media from the result store (nothing else is ever served)
    /r/{id}, /gallery     the share pages (ui/pages/)
    /api/v1/...           the REST API, its guards and error handlers (ui/api/)
    /                     the Gradio studio (ui/studio/)

This is the one module that imports every area; nothing in ui/ imports it. Order matters:
FastAPI routes and sub-apps are registered first, the Gradio mount at "/" last, or it
swallows their paths. Around all of it, outermost first:

    HeaderLimits  431 for a request head over 16 KB a header or 64 KB in all (ui/gate/headers.py)
    GZip          HTML, JS, CSS and JSON compressed (not media, not event streams)
    HttpMethods   HEAD wherever GET answers (link checkers and unfurlers use it); 405 with
                  Allow, in the one error shape, for a method nothing at that path takes,
                  rather than whatever the studio's catch-all mount would say
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

import anyio
from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import FileResponse
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.api import install_api
from ui.deps import BackendDep, StoreDep, keep
from ui.errors import NotFound, error_response
from ui.gate import Gate, HeaderLimits
from ui.generation import Backend
from ui.pages import add_pages
from ui.routing import METHODS, allowed_methods, not_allowed
from ui.settings import ApiSettings
from ui.store import ResultStore

log = logging.getLogger("atelier.web")


def create_app(backend: Backend, store: ResultStore | None = None, close_store_at_shutdown: bool = False) -> FastAPI:
    """The whole web app. `close_store_at_shutdown`: the store writes its last snapshot and closes
    when the app's lifespan ends (Modal's web container at scale-down or redeploy)."""
    store = store if store is not None else ResultStore()  # not `or`: an empty store is falsy (__len__)
    # docs_url/redoc_url off: FastAPI's pages load Swagger UI and ReDoc from a CDN; ui/api serves
    # both with their files from our origin.
    app = FastAPI(title="Atelier", summary="Images, music and video from text.", version="0.1.0", docs_url=None, redoc_url=None)
    settings = ApiSettings.from_env()
    gate = Gate(settings)  # one set of limits for the API and the studio alike (ui/gate/)
    keep(app, store=store, backend=backend)  # what the routes' dependencies hand them (ui/deps.py)
    app.include_router(router)  # /api/health, /results/{id}/{file}
    add_pages(app)  # /r/{id}, /gallery: before anything mounted at "/"
    install_api(app, backend, store, gate, settings)  # /api/v1, its guards and error handlers: before anything at "/"

    # Deferred for start-up cost: gradio is imported only when an app is built, not by
    # whoever imports this module (the CLI's --help, say).
    from ui.studio import mount_studio

    mount_studio(app, backend, store, gate, settings)  # last: the studio at "/" catches every other path
    app.add_middleware(HttpMethods)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "audio/*"))
    app.add_middleware(HeaderLimits)  # outermost: an oversized head is refused before anything else runs
    _warn_if_open(settings)
    if close_store_at_shutdown:
        _close_at_shutdown(app, store)
    return app


def _warn_if_open(settings: ApiSettings) -> None:
    """API tokens close the REST API, not the studio: say so once, at start, if that may surprise."""
    if settings.api_tokens and not settings.studio_token:
        log.warning("ATELIER_API_TOKENS closes the REST API, but the studio is public: anyone can generate "
                    "through it (browser or gradio_client), within the visitor limits. Set ATELIER_STUDIO_TOKEN "
                    "to close it too.")


def _close_at_shutdown(app: FastAPI, store: ResultStore) -> None:
    """Wrap whatever lifespan the app has (the studio's and the API's) so that the store closes last."""
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI):
        async with outer(app_) as state:
            try:
                yield state
            finally:
                await asyncio.to_thread(store.close)

    app.router.lifespan_context = lifespan


router = APIRouter()


@router.get("/api/health")
async def health(backend: BackendDep, store: StoreDep) -> dict:
    """Which backend serves, and the state of each model it has touched."""
    return {"status": "ok", "results": len(store), **backend.health()}


@router.api_route("/results/{result_id}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def media(result_id: str, name: str, store: StoreDep, x_owner_token: Annotated[str | None, Header()] = None):
    try:  # a result the site's owner hid: for its own owner alone (X-Owner-Token)
        path, mime = store.media_path(result_id, name, x_owner_token)
    except NotFound as e:
        return error_response(404, "not_found", str(e))
    return FileResponse(path, media_type=mime)


# --- HTTP methods: HEAD wherever GET answers, 405 wherever a method isn't taken -----------------


def _allowed(scope: Scope) -> list[str]:
    """What the app takes at this path; HEAD too wherever GET answers, since HttpMethods answers it."""
    allowed = allowed_methods(scope["app"].router.routes, scope)
    return [m for m in METHODS if m in allowed or (m == "HEAD" and "GET" in allowed)]


class HttpMethods:
    """HEAD answered as GET without the body where no route takes HEAD itself; 405 with Allow
    for a method no route at the path takes (TRACE, CONNECT, POST /gallery, ...)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in METHODS:  # TRACE, CONNECT, made-up ones: never taken here
            await self._refuse(scope, receive, send)
            return
        if scope["method"] == "HEAD" and not self._takes_head(scope):
            await self._head_as_get(scope, receive, send)
            return
        # Asking every route which methods it takes costs milliseconds: only when the answer
        # is already a 404 or 405 (a root mount answers 404 for a method it lacks) is it asked.
        # Routing rewrites the scope (a mounted app puts itself in "app"): keep it as it came.
        asked = dict(scope)
        refused = False

        async def unless_refused(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] in (404, 405):
                allowed = _allowed(asked)
                refused = bool(allowed) and asked["method"] not in allowed
                if refused:
                    await self._refuse(asked, receive, send, allowed)
                    return
            if not refused:
                await send(message)

        await self.app(scope, receive, unless_refused)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, allowed: list[str] | None = None) -> None:
        allowed = (_allowed(scope) if allowed is None else allowed) or ["GET", "HEAD"]
        response = error_response(405, "method_not_allowed", not_allowed(scope["method"], allowed))
        response.headers["Allow"] = ", ".join(allowed)
        await response(scope, receive, send)

    @staticmethod
    def _takes_head(scope: Scope) -> bool:
        """Whether the route that would take a GET here is one that takes HEAD itself (not a
        catch-all further down that would refuse it)."""
        for route in scope["app"].router.routes:
            if isinstance(route, Mount):
                return False
            if route.matches({**scope, "method": "GET"})[0] is Match.FULL:
                return route.matches(scope)[0] is Match.FULL
        return False

    async def _head_as_get(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the GET, send its status and headers, drop its body. Once the headers are out the
        app is told the client left, so a stream (server-sent events) ends instead of running on."""
        started = anyio.Event()

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b""})
                started.set()

        async def receive_until_started() -> Message:
            if started.is_set():
                return {"type": "http.disconnect"}
            message: Message = {"type": "http.disconnect"}
            async with anyio.create_task_group() as group:
                async def forward() -> None:
                    nonlocal message
                    message = await receive()
                    group.cancel_scope.cancel()

                async def watch() -> None:
                    await started.wait()
                    group.cancel_scope.cancel()

                group.start_soon(forward)
                group.start_soon(watch)
            return message

        await self.app({**scope, "method": "GET"}, receive_until_started, headers_only)

"""The REST API, /api/v1: make images, music and video, run jobs, manage results. OpenAPI at /docs.

    POST   /api/v1/images                 make images now; answers with the result  (201)
    POST   /api/v1/music                  make a clip now                           (201)
    POST   /api/v1/jobs                   start a job; answers at once with its id  (202)
    GET    /api/v1/jobs/{id}              its status, progress, result or error
    GET    /api/v1/jobs/{id}/events       the same as a stream of server-sent events
    POST   /api/v1/jobs/{id}/cancel       stop it: it ends as cancelled (idempotent)
    GET    /api/v1/results                published results, newest first
    GET    /api/v1/results/{id}           one result, with its media URLs
    POST   /api/v1/results/{id}/publish   owner only (X-Owner-Token): list it in the gallery
    POST   /api/v1/results/{id}/unpublish owner only: take it out again
    DELETE /api/v1/results/{id}           owner only: delete it and its files
    GET    /api/v1/loras                  the LoRA adapters image requests may name
    GET    /api/v1/controlnets            what each image preset can be guided with
    POST   /api/v1/annotate               a guide's control picture, before generating
    POST   /api/v1/results/{id}/vary      the result redrawn, subtly or strongly    (201)
    POST   /api/v1/results/{id}/upscale   the result at twice its size              (201)
    GET    /api/budget                    the caller's GPU budget: what is left, when it refills (open)

Requests are validated by the shared schemas (models/requests.py): the bounds and messages
there are the only ones. Every generation goes through ui.generation.generate, so it is
saved in the result store like the studio's. Owner tokens appear only in the response to
whoever created the result.

    install.py    this assembly: routers, guards, error handlers, JSON 404/405 for the rest, /docs
    generate.py   /images, /music          jobs.py   /jobs          results.py   /results
    loras.py      /loras                   guides.py    /controlnets, /annotate, /results/{id}/vary, /upscale
                  budget.py    /api/budget (each a module-level `router` of module-level handlers)
    schemas.py    what the API answers with    context.py   what the routes share (ContextDep)
    security.py   auth, rate limits, body limits, the studio's lock (one ASGI middleware)

Settings are in ui/settings.py; the error shape in ui/errors.py.

The reference: /docs (Swagger UI), its script and style served from /docs-assets/ out of the
fastapi-offline package (no CDN: it works with the network off), and /openapi.json, a valid
OpenAPI 3.1 document (see _valid_openapi). /redoc redirects there: ReDoc's bundle fetches its
logo from a CDN, so it is not complete offline.
"""

# No `from __future__ import annotations`: FastAPI reads the fallback route's annotations.
import contextlib
from importlib.metadata import version
from importlib.resources import files

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from ui.api import budget, generate, guides, jobs, loras, results
from ui.api.context import ApiContext
from ui.api.security import PROTECTED_PREFIX, Guard
from ui.errors import ApiError, install_error_handlers
from ui.gate import Gate
from ui.generation import Backend
from ui.routing import METHODS, allowed_methods, not_allowed
from ui.settings import ApiSettings
from ui.store import ResultStore


def install_api(app: FastAPI, backend: Backend, store: ResultStore, gate: Gate, settings: ApiSettings) -> None:
    """Add the API, its error handlers and its guards to the app. Call before the studio's "/" mount."""
    ctx = ApiContext.build(backend, store, settings, gate)
    ctx.keep(app)  # where the routes' ContextDep finds it
    _resume_jobs_at_start(app, ctx)
    install_error_handlers(app)
    for module in (generate, jobs, results, loras, guides, budget):
        app.include_router(module.router)
    for prefix in ("/api", "/results"):  # JSON 404/405 there, rather than the studio's page
        app.add_api_route(prefix + "/{rest:path}", _unknown_path, methods=list(METHODS), include_in_schema=False)
    app.add_middleware(Guard, settings=settings)
    if settings.cors_origins:  # added last, so it is outermost: refusals carry CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Owner-Token"],
            expose_headers=["Retry-After", "Location"],
        )
    app.include_router(docs)
    _finish_openapi(app, bearer=bool(settings.api_tokens))


def _resume_jobs_at_start(app: FastAPI, ctx: ApiContext) -> None:
    """At start-up, deliver the webhooks a restart left owed (ui/generation/jobs.py), rather
    than waiting for the first request to do it. Wraps whatever lifespan the app has."""
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI):
        async with outer(app_) as state:
            ctx.jobs.resume()
            yield state

    app.router.lifespan_context = lifespan


# --- the rest of /api/ and /results/: JSON 404s and 405s, not the studio's page ----------------

async def _unknown_path(request: Request, rest: str) -> None:
    # Up to the catch-alls: they take every method, to answer for the paths nothing else takes.
    allowed = allowed_methods(request.app.router.routes, request.scope,
                              stop=lambda route: getattr(route, "endpoint", None) is _unknown_path)
    if allowed:
        raise ApiError(405, "method_not_allowed", not_allowed(request.method, allowed), {"Allow": ", ".join(allowed)})
    where = request.url.path
    raise ApiError(404, "not_found", f"There is no API endpoint at {where}: see /docs." if where.startswith("/api/")
                   else "There is nothing at this address.")


# --- the reference: /docs and its files, from the fastapi-offline package -----------------------

DOCS_ASSETS = files("fastapi_offline") / "static"
DOCS_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}
DOCS_VERSION = version("fastapi-offline")  # the files change only with the package
DOCS_CSS = (
    ".swagger-ui .opblock-get .opblock-summary-method{background:#1d5fa8 !important}"
    ".swagger-ui .opblock-post .opblock-summary-method{background:#137a4f !important}"
    ".swagger-ui .opblock-delete .opblock-summary-method{background:#b3261e !important}"
    ".swagger-ui .opblock-put .opblock-summary-method{background:#9a4d00 !important}"
    ".swagger-ui .opblock-patch .opblock-summary-method{background:#0f6e63 !important}"
    ".swagger-ui .info .title small pre{background:#545b66}"
    ".swagger-ui .info .title small.version-stamp{background:#3b6e00}"
    ".swagger-ui .info .title small.version-stamp pre{background:#3b6e00}"
    ".swagger-ui .info a.url,.swagger-ui .info .url{color:#1d5fa8}"
    ".swagger-ui .json-schema-2020-12-expand-deep-button{color:#4b4b4b}"
)


# Swagger UI at /docs, every file from our origin. The app is made with docs_url=None and
# redoc_url=None (ui/web.py): FastAPI's own pages load their files from a CDN.
docs = APIRouter(include_in_schema=False)


def _asset(name: str) -> str:
    return f"/docs-assets/{name}?v={DOCS_VERSION}"


@docs.api_route("/docs", methods=["GET", "HEAD"])
def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} · REST API",
                               swagger_js_url=_asset("swagger-ui-bundle.js"), swagger_css_url=_asset("swagger-ui.css"),
                               swagger_favicon_url=_asset("favicon.png")).body.decode()
    # What can be mended from outside Swagger UI: a language, a main landmark around it,
    # and its badge colours darkened to 4.5:1 behind their white text (axe).
    page = page.replace("<html>", '<html lang="en">', 1).replace("</head>", f"<style>{DOCS_CSS}</style></head>", 1)
    page = page.replace('<div id="swagger-ui">\n    </div>', '<main><div id="swagger-ui"></div></main>', 1)
    return HTMLResponse(page)


@docs.api_route("/redoc", methods=["GET", "HEAD"])
def redoc() -> RedirectResponse:
    return RedirectResponse("/docs", status_code=308)


@docs.api_route("/docs-assets/{name}", methods=["GET", "HEAD"])
def docs_asset(name: str, v: str = "") -> FileResponse:
    if name not in DOCS_TYPES:
        raise ApiError(404, "not_found", "There is nothing at this address.")
    cache = "public, max-age=31536000, immutable" if v == DOCS_VERSION else "no-cache"
    return FileResponse(str(DOCS_ASSETS / name), media_type=DOCS_TYPES[name], headers={"Cache-Control": cache})


# --- the OpenAPI document --------------------------------------------------------------------------


def _finish_openapi(app: FastAPI, *, bearer: bool) -> None:
    """The document FastAPI builds, made valid OpenAPI 3.1 and, with API tokens set, saying
    that /api/v1 needs a bearer token (ui/api/security.py enforces it)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = _valid_openapi(build())
            if bearer:
                schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                    "type": "http", "scheme": "bearer"}
                for path, operations in schema["paths"].items():
                    if path.startswith(PROTECTED_PREFIX):
                        for operation in operations.values():
                            operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def _valid_openapi(schema: dict) -> dict:
    """FastAPI describes a server-sent-events response with `itemSchema`, a keyword of OpenAPI
    3.2, in a document that says 3.1.0, which validators reject. In 3.1 the stream is a string;
    the shape of one event stays, as the extension `x-itemSchema`. Error answers on such a route
    are JSON (ui/errors.py), not events."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                for media in list(content.values()):
                    if "itemSchema" in media:
                        media["x-itemSchema"] = media.pop("itemSchema")
                        media["schema"] = {"type": "string", "description": "A stream of server-sent events."}
                if "text/event-stream" in content and not status.startswith("2"):
                    content["application/json"] = content.pop("text/event-stream")
    return schema

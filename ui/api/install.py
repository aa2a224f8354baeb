"""The REST API, /api/v1: make images and music, run jobs, manage results. OpenAPI at /docs.

    POST   /api/v1/images                 make images now; answers with the result  (201)
    POST   /api/v1/music                  make a clip now                           (201)
    POST   /api/v1/jobs                   start a job; answers at once with its id  (202)
    GET    /api/v1/jobs/{id}              its status, progress, result or error
    GET    /api/v1/jobs/{id}/events       the same as a stream of server-sent events
    GET    /api/v1/results                published results, newest first
    GET    /api/v1/results/{id}           one result, with its media URLs
    POST   /api/v1/results/{id}/publish   owner only (X-Owner-Token): list it in the gallery
    POST   /api/v1/results/{id}/unpublish owner only: take it out again
    DELETE /api/v1/results/{id}           owner only: delete it and its files

Requests are validated by the shared schemas (models/requests.py): the bounds and messages
there are the only ones. Every generation goes through ui.generation.generate, so it is
saved in the result store like the studio's. Owner tokens appear only in the response to
whoever created the result.

    install.py    this assembly: routers, guards, error handlers, JSON 404/405 for the rest
    generate.py   /images, /music          jobs.py   /jobs          results.py   /results
    schemas.py    what the API answers with    context.py   what the routers share
    security.py   auth, rate limits, body limits, the studio's lock (one ASGI middleware)

Settings are in ui/settings.py; the error shape in ui/errors.py.
"""

# No `from __future__ import annotations`: FastAPI reads the fallback route's annotations.
import contextlib

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import Match

from ui.api.context import ApiContext
from ui.api.generate import generate_router
from ui.api.jobs import jobs_router
from ui.api.results import results_router
from ui.api.security import PROTECTED_PREFIX, Guard
from ui.errors import ApiError, install_error_handlers
from ui.generation import Backend
from ui.settings import ApiSettings
from ui.store import ResultStore


def install_api(app: FastAPI, backend: Backend, store: ResultStore, settings: ApiSettings | None = None) -> None:
    """Add the API, its error handlers and its guards to the app. Call before the studio's "/" mount."""
    settings = settings or ApiSettings.from_env()
    ctx = ApiContext.build(backend, store, settings)
    app.state.jobs, app.state.api_settings = ctx.jobs, settings
    _resume_jobs_at_start(app, ctx)
    install_error_handlers(app)
    for router in (generate_router(ctx), jobs_router(ctx), results_router(ctx)):
        app.include_router(router)
    for prefix in ("/api", "/results"):  # JSON 404/405 there, rather than the studio's page
        app.add_api_route(prefix + "/{rest:path}", _unknown_path, methods=_ALL_METHODS, include_in_schema=False)
    app.add_middleware(Guard, settings=settings)
    if settings.cors_origins:  # added last, so it is outermost: refusals carry CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Owner-Token"],
            expose_headers=["Retry-After", "Location"],
        )
    if settings.api_tokens:
        _document_bearer_auth(app)


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

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _unknown_path(request: Request, rest: str) -> None:
    allowed = _allowed_methods(request)
    if allowed:
        raise ApiError(405, "method_not_allowed", f"{request.method} is not accepted here; use {', '.join(allowed)}.",
                       {"Allow": ", ".join(allowed)})
    where = request.url.path
    raise ApiError(404, "not_found", f"There is no API endpoint at {where}: see /docs." if where.startswith("/api/")
                   else "There is nothing at this address.")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route takes at this path: each asked, in routing order, up to the catch-alls."""
    allowed = []
    for method in _ALL_METHODS:
        probe = {**request.scope, "method": method}
        for route in request.app.router.routes:
            if getattr(route, "endpoint", None) is _unknown_path:
                break
            if route.matches(probe)[0] is Match.FULL:
                allowed.append(method)
                break
    return allowed


def _document_bearer_auth(app: FastAPI) -> None:
    """Tell the OpenAPI document that /api/v1 needs a bearer token (ui/api/security.py enforces it)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http", "scheme": "bearer"}
            for path, operations in schema["paths"].items():
                if path.startswith(PROTECTED_PREFIX):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
        return app.openapi_schema

    app.openapi = openapi

"""The web app: one FastAPI application that everything a browser sees hangs off.

    /api/health           which backend serves, and the state of each model
    /results/{id}/{file}  media from the result store (nothing else is ever served)
    /generate/{kind}      stand-in studio endpoint: progress as JSON lines, then the result
    /                     stand-in studio page (the Gradio studio replaces it)

Order matters when the Gradio studio arrives: FastAPI routes and sub-apps are registered
first, the Gradio mount at "/" last, or it swallows their paths.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse

from models.requests import RequestError, parse
from ui.backends import Backend, GenerationError
from ui.generation import generate
from ui.pages import add_pages
from ui.store import NotFound, ResultStore

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The one error shape every endpoint returns."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(backend: Backend, store: ResultStore | None = None) -> FastAPI:
    store = store if store is not None else ResultStore()  # not `or`: an empty store is falsy (__len__)
    app = FastAPI(title="Atelier", summary="Images and music from text.", version="0.1.0")
    app.state.backend, app.state.store = backend, store

    @app.get("/api/health")
    async def health() -> dict:
        """Which backend serves, and the state of each model it has touched."""
        return {"status": "ok", "results": len(store), **backend.health()}

    @app.get("/results/{result_id}/{name}", include_in_schema=False)
    async def media(result_id: str, name: str):
        try:
            path, mime = store.media_path(result_id, name)
        except NotFound as e:
            return error_response(404, "not_found", str(e))
        return FileResponse(path, media_type=mime)

    @app.post("/generate/{kind}", include_in_schema=False)
    async def generate_standin(kind: str, request: Request):
        if kind not in ("image", "music"):
            return error_response(404, "unknown_kind", f"Unknown kind '{kind}': use image or music.")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response(400, "malformed_json", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return error_response(422, "invalid_request", "The request body must be a JSON object.")
        try:
            job = backend.resolve(parse(kind, body))
        except RequestError as e:
            return error_response(422, "invalid_request", str(e))
        return StreamingResponse(_ndjson(backend, store, job), media_type="application/x-ndjson")

    add_pages(app, store)  # /r/{id}, /gallery: before anything mounted at "/"

    from ui.api import install_api  # here, not at the top: ui.api uses error_response from this module

    install_api(app, backend, store)  # /api/v1, its guards and error handlers: before anything at "/"

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def studio() -> FileResponse:
        return FileResponse(ASSETS / "standin.html")

    return app


async def _ndjson(backend: Backend, store: ResultStore, job) -> AsyncIterator[bytes]:
    try:
        async for event in generate(backend, store, job):
            yield (json.dumps(event) + "\n").encode()
    except GenerationError as e:
        yield (json.dumps({"type": "error", "status": e.status, "message": str(e)}) + "\n").encode()

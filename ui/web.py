"""The web app: one FastAPI application that everything a browser sees hangs off.

    /api/health           which backend serves, and the state of each model
    /results/{id}/{file}  media from the result store (nothing else is ever served)
    /r/{id}, /gallery     the share pages (ui/pages/)
    /api/v1/...           the REST API, its guards and error handlers (ui/api/)
    /                     the Gradio studio (ui/studio/)

This is the one module that imports every area; nothing in ui/ imports it. Order matters:
FastAPI routes and sub-apps are registered first, the Gradio mount at "/" last, or it
swallows their paths.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse

from ui.api import install_api
from ui.errors import NotFound, error_response
from ui.generation import Backend
from ui.pages import add_pages
from ui.store import ResultStore


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

    add_pages(app, store)  # /r/{id}, /gallery: before anything mounted at "/"
    install_api(app, backend, store)  # /api/v1, its guards and error handlers: before anything at "/"

    # Deferred for start-up cost: gradio is imported only when an app is built, not by
    # whoever imports this module (the CLI's --help, say).
    from ui.studio import mount_studio

    return mount_studio(app, backend, store)  # last: the studio at "/" catches every other path

"""The web app: one FastAPI application that everything a browser sees hangs off.

For now it serves a small studio page that generates through the backend, with progress
streamed as newline-delimited JSON, and a health report. The Gradio studio, REST API and
FastHTML pages are mounted here as they arrive (routes first, Gradio at "/" last).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse

from models.requests import RequestError, parse
from ui.backends import Backend, GenerationError

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The one error shape every endpoint returns."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(backend: Backend) -> FastAPI:
    app = FastAPI(title="Atelier", summary="Images and music from text.", version="0.1.0")
    app.state.backend = backend

    @app.get("/api/health")
    async def health() -> dict:
        """Which backend serves, and the state of each model it has touched."""
        return {"status": "ok", **backend.health()}

    @app.post("/generate/{kind}")
    async def generate(kind: str, request: Request):
        """Generate an image or a clip; streams progress events, then the result, one JSON per line."""
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
        return StreamingResponse(_ndjson(backend, job), media_type="application/x-ndjson")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def studio() -> FileResponse:
        return FileResponse(ASSETS / "standin.html")

    return app


async def _ndjson(backend: Backend, job) -> AsyncIterator[bytes]:
    try:
        async for event in backend.generate(job):
            if event["type"] == "result":
                event = {
                    **event,
                    "files": [
                        {"name": f["name"], "mime": f["mime"], "url": _data_url(f["mime"], f["data"])}
                        for f in event["files"]
                    ],
                }
            yield (json.dumps(event) + "\n").encode()
    except GenerationError as e:
        yield (json.dumps({"type": "error", "status": e.status, "message": str(e)}) + "\n").encode()


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"

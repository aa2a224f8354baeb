"""From what a person sent to a checked job: input images named by a result id ("start from that
one": the REST API's `image_result`, the share page's "Use as input" link) swapped for their
bytes, and the request resolved, off the event loop (`checked_job`).

The model side never sees a result id: it has no result store. Here, on the web side, the id
is swapped for the bytes of that result's first image before the request is resolved, and
those bytes are checked exactly as an upload would be (models/image/uploads.py).
"""

from __future__ import annotations

import asyncio

from models.common.errors import RequestError
from models.requests import ImageRequest, Job, Request, parse
from ui.errors import NotFound
from ui.generation.backend import Backend
from ui.store import ResultStore


async def checked_job(backend: Backend, store: ResultStore, request: Request) -> Job:
    """The request as a checked job, its input image swapped in and its defaults filled: in a worker
    thread, never on the event loop. Resolving can take long: it reads and decodes pictures, and
    looking adapters up may reload the weights Volume (Modal) or ask a deployed app for its library
    (hybrid, a cold start included), while every other visitor of the one web container waits on
    that loop. Raises RequestError."""
    return await asyncio.to_thread(lambda: backend.resolve(with_input_image(request, store)))


def with_input_image(request: Request, store: ResultStore) -> Request:
    """The request with `image_result` replaced by that result's image; other requests as they are.
    Raises RequestError for an id that names no image result. Blocking: reads and decodes a file."""
    if not isinstance(request, ImageRequest) or request.image_result is None or request.image is not None:
        return request  # with both set, resolving says "not both"
    fields = request.model_dump(exclude_unset=True, exclude={"image_result"})
    return parse("image", fields | {"image": result_image(store, request.image_result)})


def result_image(store: ResultStore, result_id: str) -> bytes:
    """The bytes of a saved result's first image. Raises RequestError."""
    try:
        record = store.get(result_id)
        if record.get("kind") != "image":
            raise RequestError(f"Image result {result_id} is {record.get('kind')}, not an image: start from an image result.")
        first = next(f for f in record["files"] if f["mime"].startswith("image/"))
        path, _ = store.media_path(result_id, first["name"])
        return path.read_bytes()
    except (NotFound, StopIteration, FileNotFoundError):
        raise RequestError(f"Image result {result_id!r}: there is no image result with that id.") from None

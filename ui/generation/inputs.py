"""From what a person sent to a checked job: input images named by a result id ("start from that
one": the REST API's `image_result`, the share page's "Use as input" link; a training's pictures)
swapped for their bytes, and the request resolved, off the event loop (`checked_job`).

The model side never sees a result id: it has no result store. Here, on the web side, the id
is swapped for the bytes of that result's first image before the request is resolved, and
those bytes are checked exactly as an upload would be (models/image/uploads.py).
"""

from __future__ import annotations

import asyncio
import io
import zipfile

from models.common.errors import RequestError
from models.requests import ImageRequest, Job, Request, parse
from models.training.request import MAX_PICTURE_BYTES, MAX_PICTURES, TrainingJob
from ui.errors import NotFound
from ui.generation.backend import Backend
from ui.store import ID_PATTERN, ResultStore


async def checked_job(backend: Backend, store: ResultStore, request: Request) -> Job:
    """The request as a checked job, its input image swapped in and its defaults filled: in a worker
    thread, never on the event loop. Resolving can take long: it reads and decodes pictures, and
    looking adapters up may reload the weights Volume (Modal) or ask a deployed app for its library
    (hybrid, a cold start included), while every other visitor of the one web container waits on
    that loop. Raises RequestError."""
    return await asyncio.to_thread(lambda: backend.resolve(with_input_image(request, store)))


async def checked_training(backend: Backend, store: ResultStore, fields: dict) -> TrainingJob:
    """A training's fields (JSON, a form) as a checked job, its pictures named by result id swapped
    for those results' images: in a worker thread, as checked_job (30 pictures are decoded and cropped).
    Raises RequestError."""
    def check() -> TrainingJob:
        return backend.resolve(parse("training", with_result_pictures(fields, store)))

    return await asyncio.to_thread(check)


def with_result_pictures(fields: dict, store: ResultStore) -> dict:
    """The fields with each of `pictures` that is a result id (16 characters: never a picture's base64)
    swapped for that result's image. Raises RequestError for an id that names no image result."""
    pictures = fields.get("pictures")
    if not isinstance(pictures, list):
        return fields  # parsing says what is wrong
    swapped = []
    for number, item in enumerate(pictures, start=1):
        try:
            swapped.append(result_image(store, item) if isinstance(item, str) and ID_PATTERN.match(item) else item)
        except RequestError as e:
            raise RequestError(f"Picture {number}: {e}") from None
    return fields | {"pictures": swapped}


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def pictures_in_zip(data: bytes) -> list[bytes]:
    """A zip's pictures (its PNG, JPEG and WebP files by name, in name order; folders and other files
    left out), each read only after its stated size is checked: a zip that unpacks to gigabytes is
    refused before it is unpacked. Raises RequestError."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = sorted((m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(PICTURE_SUFFIXES)
                              and not m.filename.split("/")[-1].startswith(".")), key=lambda m: m.filename)
            if len(members) > MAX_PICTURES:
                raise RequestError(f"Training needs 3 to {MAX_PICTURES} pictures; this zip has {len(members)}.")
            for member in members:
                if member.file_size > MAX_PICTURE_BYTES:
                    raise RequestError(f"{member.filename} in the zip is {member.file_size / 2**20:.1f} MB unpacked; "
                                       f"the limit is {MAX_PICTURE_BYTES / 2**20:g} MB a picture.")
            return [archive.read(member) for member in members]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
        raise RequestError("The zip can't be read: send a plain zip of PNG, JPEG or WebP pictures.") from None


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

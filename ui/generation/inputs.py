"""From what a person sent to a checked job: pictures named by a result id swapped for their bytes
("start from that one": the REST API's `image_result` for an image or a video, the share page's "Use
as input" and "Animate" links; "guide with that one": a control's or reference's `image_result`; a
training's pictures), and the request resolved, off the event loop (`checked_job`); a zip's pictures;
and the one-click follow-ups of a result, Vary and Upscale, as requests.

The model side never sees a result id: it has no result store. Here, on the web side, each id
is swapped for the bytes of that result's image before the request is resolved, and those
bytes are checked exactly as an upload would be (models/image/uploads.py).
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Literal

from models.common.errors import RequestError
from models.requests import ImageRequest, Job, Request, VideoRequest, parse
from models.training.request import MAX_PICTURE_BYTES, MAX_PICTURES, PICTURE_FIELDS, TrainingJob
from ui.errors import NotFound
from ui.generation.backend import Backend
from ui.store import ID_PATTERN, ResultStore

FollowUp = Literal["vary-subtle", "vary-strong", "upscale"]
FOLLOW_UPS: dict[str, str] = {"vary-subtle": "Vary (subtle)", "vary-strong": "Vary (strong)", "upscale": "Upscale 2×"}
# What a follow-up keeps of its parent's request: the prompt and the model's settings. Not its size
# (the picture's), its seed (a new one), its input or guides (their pictures aren't kept).
KEPT = ("prompt", "negative_prompt", "preset", "steps", "guidance", "loras")


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
    """The fields with each of the pictures (`images`, or `pictures`) that is a result id (16 characters:
    never a picture's base64) swapped for that result's image. Raises RequestError for an id that names
    no image result."""
    name = next((name for name in PICTURE_FIELDS if name in fields), None)
    pictures = fields.get(name)
    if not isinstance(pictures, list):
        return fields  # parsing says what is wrong
    swapped = []
    for number, item in enumerate(pictures, start=1):
        try:
            swapped.append(result_image(store, item) if isinstance(item, str) and ID_PATTERN.match(item) else item)
        except RequestError as e:
            raise RequestError(f"Picture {number}: {e}") from None
    return fields | {name: swapped}


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
    """The request with every result id (`image_result`, and each control's or reference's) replaced
    by that result's image; other requests as they are. Raises RequestError for an id that names no
    image result. Blocking: reads and decodes files."""
    if isinstance(request, VideoRequest):  # a start picture only
        if request.image_result is None or request.image is not None:
            return request  # with both set, resolving says "not both"
        fields = request.model_dump(exclude_unset=True, exclude={"image_result"})
        return parse("video", fields | {"image": result_image(store, request.image_result)})
    if not isinstance(request, ImageRequest):
        return request
    own = request.image_result is not None and request.image is None  # with both set, resolving says "not both"
    guides = {name: getattr(request, name) for name in ("controls", "references")}
    if not own and not any(g.image_result for items in guides.values() for g in items):
        return request
    fields = request.model_dump(exclude_unset=True, exclude={"image_result"} if own else set())
    if own:
        fields["image"] = result_image(store, request.image_result)
    for name, items in guides.items():
        if items:
            fields[name] = [_with_picture(item, store) for item in items]
    return parse("image", fields)


def _with_picture(guide, store: ResultStore) -> dict:
    fields = guide.model_dump(exclude_unset=True)
    if guide.image_result is not None and guide.image is None:  # both set: the schema said "one of them"
        fields = {k: v for k, v in fields.items() if k != "image_result"} | {
            "image": result_image(store, guide.image_result)}
    return fields


def result_image(store: ResultStore, result_id: str, index: int = 0) -> bytes:
    """The bytes of a saved result's image (its first, or the `index`th). Raises RequestError."""
    try:
        record = store.get(result_id)
        if record.get("kind") != "image":
            raise RequestError(f"Image result {result_id} is {record.get('kind')}, not an image: start from an image result.")
        images = [f for f in record["files"] if f["mime"].startswith("image/")]
        if not 0 <= index < len(images):
            raise RequestError(f"Image result {result_id} has {len(images)} image{'s' if len(images) != 1 else ''}: "
                               f"there is no image {index + 1}.")
        path, _ = store.media_path(result_id, images[index]["name"])
        return path.read_bytes()
    except (NotFound, FileNotFoundError):
        raise RequestError(f"Image result {result_id!r}: there is no image result with that id.") from None


def follow_up(store: ResultStore, result_id: str, action: FollowUp, seed: int | None = None,
              index: int = 0) -> ImageRequest:
    """A Vary or Upscale of a saved image result: its prompt and settings, its image (the first, or
    the `index`th), a new seed (or `seed`), and its id as the parent its record's lineage names.
    Raises NotFound for an unknown id, RequestError for what can't be followed up. Blocking."""
    record = store.get(result_id)
    image = result_image(store, result_id, index)
    params = record.get("parameters", {})
    fields = {name: params[name] for name in KEPT if params.get(name) not in (None, "", [])}
    fields |= {"image": image, "seed": seed, "parent": result_id}
    fields |= {"upscale": True} if action == "upscale" else {"vary": action.removeprefix("vary-")}
    return parse("image", fields)


def adapter_use(record: dict) -> dict:
    """The image request fields that use a training's adapter (its result's record): the trigger phrase
    as the prompt, the preset it was trained on, the adapter at full scale. The studio's *Use it* and
    the adapter's share page's *Use this adapter* both open the Image tab with these."""
    adapter = record["adapter"]
    return {"prompt": adapter["trigger"], "preset": record["model"]["preset"],
            "loras": [{"id": adapter["id"], "scale": 1.0}]}

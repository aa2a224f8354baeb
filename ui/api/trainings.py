"""/api/v1/trainings: train a LoRA adapter on a few pictures, as a job (kind "training").

A training is a job like any other (ui/generation/jobs.py): the same states, its progress events
(each step's loss, the learning rate, time left; sample pictures as `preview` events when asked),
cancelled with POST /api/v1/jobs/{id}/cancel, and its result saved: the final sample picture, whose
record holds the adapter's entry. The adapter is then in GET /api/v1/loras, and an image request
may name it. Two ways to send the pictures:

    JSON        {"trigger": "a photo of qwerty the dog", "preset": "tiny", "steps": 20,
                 "images": ["<base64 PNG, JPEG or WebP>", "<a saved image result's id>", ...]}
    multipart   images=@1.jpg images=@2.jpg ... trigger=... steps=20 (captions: one field each);
                a zip of pictures is a picture field too, and counts as the pictures it holds

`images` is the documented name; `pictures`, Atelier's first, is accepted too, in JSON and forms
(models/training/request.py's PICTURE_FIELDS).

Who may train, and how many trainings each visitor may have waiting or running at once
(ATELIER_TRAININGS_PER_CLIENT), is the gate's rule (ui/gate/trainings.py), which the studio's Train
tab meets too.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import asyncio
import json
from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import HttpUrl, TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from models.common.errors import RequestError
from models.training.request import MAX_PICTURES, PICTURE_FIELDS, TrainingRequest
from ui.api.context import ContextDep
from ui.api.jobs import JobDep, job_events
from ui.api.schemas import ERRORS, NOT_FOUND, ErrorBody, JobCreated, JobView, present
from ui.errors import ApiError, NotFound
from ui.generation import Busy, checked_training
from ui.generation.inputs import is_zip, pictures_in_zip

router = APIRouter(prefix="/api/v1", responses=ERRORS, tags=["trainings"])

FORM_LISTS = (*PICTURE_FIELDS, "captions")  # the form fields that may come more than once
CALLBACK_URL = TypeAdapter(HttpUrl)


def _request_body() -> dict:
    """The OpenAPI body: TrainingRequest's schema (models/training/request.py), its pictures (`images`)
    as base64 or result ids in JSON, as files in a form."""
    schema = TrainingRequest.model_json_schema()
    name = PICTURE_FIELDS[0]
    pictures = schema["properties"][name]
    as_json = {**pictures, "items": {"type": "string", "description": "A base64 PNG, JPEG or WebP file, or the "
                                                                      "16-character id of a saved image result."}}
    as_form = {**pictures, "items": {"type": "string", "format": "binary"},
               "description": pictures["description"] + " A zip of pictures counts as the pictures it holds."}
    callback = {"type": "string", "format": "uri", "description": "Called with a signed POST when the training "
                "succeeds, fails or is cancelled, as for POST /api/v1/jobs."}
    content = {
        kind: {"schema": {**schema, "properties": {**schema["properties"], name: shown, "callback_url": callback}}}
        for kind, shown in (("application/json", as_json), ("multipart/form-data", as_form))
    }
    return {"requestBody": {"required": True, "content": content}}


@router.post("/trainings", status_code=202, openapi_extra=_request_body(),
             responses={status: {"model": ErrorBody} for status in (403, 503)})
async def start_training(request: Request, response: Response, ctx: ContextDep) -> JobCreated:
    """Train a LoRA adapter on 3 to 30 pictures; answers at once with the job (follow it at
    /trainings/{id}, /jobs/{id}/events, or cancel it at /jobs/{id}/cancel). When it succeeds the
    adapter is in GET /api/v1/loras, with its trigger phrase."""
    visitor, trainings = ctx.visitor(request), ctx.gate.trainings
    trainings.closed(visitor, ctx.backend.where, "api")  # 403, before the body is read
    fields = await _fields(request)
    callback_url = _callback_url(fields.pop("callback_url", None))
    ctx.check_callback(callback_url)
    job = await checked_training(ctx.backend, ctx.store, fields)  # RequestError → 422, before any quota
    trainings.check_room(visitor)  # 429
    ticket = ctx.take_generation(request)
    base_url = ctx.base_url(request)
    try:
        state, owner_token = ctx.jobs.submit(job, base_url, callback_url, ticket)
    except Busy as e:
        raise ApiError(503, "busy", str(e), {"Retry-After": "60"}) from None
    trainings.hold(visitor, f"job {state.id}", lambda: state.finished)
    response.headers["Location"] = f"{base_url}/api/v1/trainings/{state.id}"
    return JobCreated(job=JobView(**state.snapshot(present)), owner_token=owner_token)


@router.get("/trainings/{job_id}", responses=NOT_FOUND)
async def get_training(job: JobDep) -> JobView:
    """A training's job: its status, progress (step, loss, time left) and result or error."""
    if job.kind != "training":
        raise NotFound("No training with that id: it names a job of another kind (see /api/v1/jobs/{id}).")
    return JobView(**job.snapshot(present))


@router.get("/trainings/{job_id}/events", response_class=EventSourceResponse,
            responses={**NOT_FOUND, 200: {"description": "As /jobs/{id}/events, with `preview` events (the "
                                                         "sample pictures) unless previews=false"}})
async def training_events(
    job: JobDep,
    ctx: ContextDep,
    previews: Annotated[bool, Query(description="Also send `preview` events: the sample pictures (base64 WEBP) "
                                                "drawn with the adapter as it trains.")] = True,
) -> AsyncIterable[ServerSentEvent]:
    """Server-sent events: the training's state now, then each step and sample, ending when it finishes."""
    await get_training(job)  # a job of another kind: 404
    async for event in job_events(job, ctx, previews):
        yield event


def _callback_url(value: object) -> str | None:
    """The webhook's URL, checked as POST /api/v1/jobs checks it."""
    if value is None or value == "":
        return None
    try:
        return str(CALLBACK_URL.validate_python(value))
    except ValidationError:
        raise RequestError("callback_url must be an http or https URL.") from None


async def _fields(request: Request) -> dict:
    """The request's fields, from a JSON object or a multipart form (whose files are read here).
    The Guard has already capped the body and refused other types (ui/api/security.py)."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form = await request.form(max_files=MAX_PICTURES + 1, max_fields=100)
        fields: dict = {}
        for name, value in form.multi_items():
            value = await value.read() if isinstance(value, UploadFile) else value
            if name in PICTURE_FIELDS and isinstance(value, bytes) and is_zip(value):
                fields.setdefault(name, []).extend(await asyncio.to_thread(pictures_in_zip, value))
            elif name in FORM_LISTS:
                fields.setdefault(name, []).append(value)
            elif value != "":  # an empty field is an unset one
                fields[name] = value
        return fields
    try:
        fields = json.loads(await request.body() or b"null")
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None
    if not isinstance(fields, dict):
        raise ApiError(422, "invalid_request", "Send the training as a JSON object (or a multipart form).")
    return fields

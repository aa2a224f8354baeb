"""POST /api/v1/images and /api/v1/music: make something now and answer with the saved result.
A client that hangs up before the answer stops the generation (its model's work included)."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Request

from models.requests import ImageRequest, Job, MusicRequest
from ui.api.context import ApiContext, ContextDep
from ui.api.schemas import ERRORS, GENERATION_ERRORS, Created, Result, present
from ui.errors import ApiError
from ui.generation import generate, with_input_image

router = APIRouter(prefix="/api/v1", responses=ERRORS, tags=["generate"])
T = TypeVar("T")


@router.post("/images", status_code=201, responses=GENERATION_ERRORS)
async def make_images(body: ImageRequest, request: Request, ctx: ContextDep) -> Created:
    """Make images and wait for them. Long generations are better as a job (POST /api/v1/jobs)."""
    return await generate_now(ctx, body, request)


@router.post("/music", status_code=201, responses=GENERATION_ERRORS)
async def make_music(body: MusicRequest, request: Request, ctx: ContextDep) -> Created:
    """Make a clip and wait for it. Clips longer than a minute are better as a job."""
    return await generate_now(ctx, body, request)


async def generate_now(ctx: ApiContext, body: ImageRequest | MusicRequest, request: Request) -> Created:
    body = await asyncio.to_thread(with_input_image, body, ctx.store)  # an image_result's image, checked
    job = ctx.backend.resolve(body)  # RequestError → 422, before any quota is spent
    ctx.take_generation(request)
    timeout_s = ctx.settings.sync_timeout
    try:
        async with asyncio.timeout(timeout_s):
            saved = await unless_disconnected(request, _saved(ctx, job))
    except TimeoutError:
        raise ApiError(504, "timeout", f"The generation took longer than {timeout_s:g} s and was stopped: "
                                       "use POST /api/v1/jobs for long generations.") from None
    result = Result(**present(saved["record"], ctx.base_url(request)))
    return Created(result=result, owner_token=saved["owner_token"])


async def _saved(ctx: ApiContext, job: Job) -> dict:
    """The saved event: the record and its owner token."""
    async for event in generate(ctx.backend, ctx.store, job):
        if event["type"] == "saved":
            return event
    raise AssertionError("generate() ends with a saved event or raises")


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """`work`, cancelled if the client hangs up first, which stops the model's work too (a plain
    response's handler is not cancelled by its client's leaving: only its receive() says so)."""
    task, hung_up = asyncio.ensure_future(work), asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, hung_up}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hung_up.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():  # nobody is there to read an answer
        raise ApiError(499, "client_closed_request", "The client closed the connection: the generation was stopped.")
    return task.result()


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (the body has been read: what receive() says next is that)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass

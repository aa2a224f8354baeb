"""POST /api/v1/images, /api/v1/music and /api/v1/videos: make something now and answer with the saved result.
A client that hangs up before the answer stops the generation (its model's work included).

Where the platform ends a plain HTTP request after a while (Modal: 150 s, then a bare 303 to a
result URL no client expects), ATELIER_REQUEST_LIMIT says so: the generation then runs as a job
from the start, and if it is still running at nine tenths of the limit the answer is a 202 with
that job (its URL in Location, as POST /api/v1/jobs answers), never a cut-off request.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from models.requests import ImageRequest, Job, MusicRequest, VideoRequest
from ui.api.context import ApiContext, ContextDep
from ui.api.schemas import ERRORS, GENERATION_ERRORS, Created, JobCreated, JobView, Result, present
from ui.errors import ApiError
from ui.gate import Ticket
from ui.generation import Busy, checked_job, generate

router = APIRouter(prefix="/api/v1", responses=ERRORS, tags=["generate"])
T = TypeVar("T")

STILL_RUNNING = {202: {"model": JobCreated, "description": "Still running near the platform's request limit "
                                                             "(ATELIER_REQUEST_LIMIT; Modal's 150 s): follow the job "
                                                             "at the Location header, as for POST /api/v1/jobs."}}
LIMIT_SHARE = 0.9  # answer by nine tenths of the platform's limit: 135 s of Modal's 150


@router.post("/images", status_code=201, responses=GENERATION_ERRORS | STILL_RUNNING)
async def make_images(body: ImageRequest, request: Request, ctx: ContextDep) -> Created:
    """Make images and wait for them. Long generations are better as a job (POST /api/v1/jobs)."""
    return await generate_now(ctx, body, request)


@router.post("/music", status_code=201, responses=GENERATION_ERRORS | STILL_RUNNING)
async def make_music(body: MusicRequest, request: Request, ctx: ContextDep) -> Created:
    """Make a clip and wait for it. Clips longer than a minute are better as a job."""
    return await generate_now(ctx, body, request)


@router.post("/videos", status_code=201, responses=GENERATION_ERRORS | STILL_RUNNING)
async def make_video(body: VideoRequest, request: Request, ctx: ContextDep) -> Created:
    """Make a video clip (MP4 and poster) and wait for it. Clips that take minutes are better as a job."""
    return await generate_now(ctx, body, request)


async def generate_now(ctx: ApiContext, body: ImageRequest | MusicRequest | VideoRequest, request: Request) -> Created | JSONResponse:
    job = await checked_job(ctx.backend, ctx.store, body)  # RequestError → 422, before any quota is spent
    ticket = ctx.take_generation(request)
    if ctx.settings.request_limit is None:
        return await _waited(ctx, job, request, ticket)
    return await _within_the_limit(ctx, job, request, ticket, ctx.settings.request_limit)


async def _waited(ctx: ApiContext, job: Job, request: Request, ticket: Ticket) -> Created:
    """The generation in this request, up to ATELIER_SYNC_TIMEOUT."""
    timeout_s = ctx.settings.sync_timeout
    try:
        async with asyncio.timeout(timeout_s):
            saved = await unless_disconnected(request, _saved(ctx, job, ticket))
    except TimeoutError:
        raise ApiError(504, "timeout", f"The generation took longer than {timeout_s:g} s and was stopped: "
                                       "use POST /api/v1/jobs for long generations.") from None
    result = Result(**present(saved["record"], ctx.base_url(request)))
    return Created(result=result, owner_token=saved["owner_token"])


async def _saved(ctx: ApiContext, job: Job, ticket: Ticket) -> dict:
    """The saved event: the record and its owner token."""
    async for event in generate(ctx.backend, ctx.store, job, ticket):
        if event["type"] == "saved":
            return event
    raise AssertionError("generate() ends with a saved event or raises")


async def _within_the_limit(ctx: ApiContext, job: Job, request: Request, ticket: Ticket,
                            limit_s: float) -> Created | JSONResponse:
    """The generation as a job, waited for until the platform's limit nears: its result (201), its
    failure (the status the same failure has without a limit), or the job itself (202)."""
    base_url = ctx.base_url(request)
    try:
        state, owner_token = ctx.jobs.submit(job, base_url, None, ticket)
    except Busy as e:
        raise ApiError(503, "busy", str(e), {"Retry-After": "60"}) from None
    try:
        async with asyncio.timeout(min(ctx.settings.sync_timeout, LIMIT_SHARE * limit_s)):
            # `state` is the job's own, changed in place as it runs; a client that hangs up cancels it
            await unless_disconnected(request, ctx.jobs.wait(state.id), on_hang_up=lambda: ctx.jobs.cancel(state.id))
    except TimeoutError:  # still running: the job carries on, and the caller follows it
        created = JobCreated(job=JobView(**state.snapshot(present)), owner_token=owner_token)
        return JSONResponse(created.model_dump(mode="json"), status_code=202,
                            headers={"Location": f"{base_url}/api/v1/jobs/{state.id}"})
    if state.status == "failed":
        raise ApiError(state.http_status or 502, state.error["code"], state.error["message"])
    return Created(result=Result(**present(state.result, base_url)), owner_token=owner_token)


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T],
                              on_hang_up: Callable[[], object] | None = None) -> T:
    """`work`, cancelled if the client hangs up first, which stops the model's work too (a plain
    response's handler is not cancelled by its client's leaving: only its receive() says so);
    `on_hang_up` then stops what `work` only waits for (a job)."""
    task, hung_up = asyncio.ensure_future(work), asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, hung_up}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hung_up.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():  # nobody is there to read an answer
        if on_hang_up is not None:
            on_hang_up()
        raise ApiError(499, "client_closed_request", "The client closed the connection: the generation was stopped.")
    return task.result()


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (the body has been read: what receive() says next is that)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass

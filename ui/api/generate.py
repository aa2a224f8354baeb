"""POST /api/v1/images and /api/v1/music: make something now and answer with the saved result."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import asyncio

from fastapi import APIRouter, Request

from models.requests import ImageRequest, MusicRequest
from ui.api.context import ApiContext, ContextDep
from ui.api.schemas import ERRORS, GENERATION_ERRORS, Created, Result, present
from ui.errors import ApiError
from ui.generation import generate, with_input_image

router = APIRouter(prefix="/api/v1", responses=ERRORS, tags=["generate"])


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
    ticket = ctx.take_generation(request)
    timeout_s = ctx.settings.sync_timeout
    try:
        async with asyncio.timeout(timeout_s):
            async for event in generate(ctx.backend, ctx.store, job, ticket):
                if event["type"] == "saved":
                    result = Result(**present(event["record"], ctx.base_url(request)))
                    return Created(result=result, owner_token=event["owner_token"])
    except TimeoutError:
        raise ApiError(504, "timeout", f"The generation took longer than {timeout_s:g} s and was stopped: "
                                       "use POST /api/v1/jobs for long generations.") from None
    raise AssertionError("generate() ends with a saved event or raises")

"""Guided images over REST: what each preset can be guided with, a control picture before generating,
and the one-click follow-ups of a result (Vary, Upscale).

    GET  /api/v1/controlnets              each image preset's controls, references, upscale control
    POST /api/v1/annotate                 a picture → the mode's control picture (PNG)
    POST /api/v1/results/{id}/vary        the result again, redrawn subtly or strongly, new seed  (201)
    POST /api/v1/results/{id}/upscale     the result at twice its size, redrawn in tiles            (201)

Controls and references themselves are fields of image requests and jobs (models/image/guide_request.py).
A follow-up's record names its parent (`lineage`), which the share page shows.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from models.image import guide_request, guides
from models.presets import IMAGE_PRESETS, get_preset
from ui.api.context import ContextDep
from ui.api.generate import generate_now
from ui.api.schemas import (
    ERRORS,
    GENERATION_ERRORS,
    NOT_FOUND,
    AnnotateRequest,
    Created,
    FollowUpRequest,
    GuideList,
    GuideListing,
    VaryRequest,
)
from ui.generation import follow_up, result_image

router = APIRouter(prefix="/api/v1", responses=ERRORS)

PNG_ANSWER = {200: {"content": {"image/png": {}}, "description": "The control picture: a PNG of the picture's size."}}


@router.get("/controlnets", tags=["guides"])
async def list_controlnets(
    preset: Annotated[str | None, Query(max_length=64, description="Only this image preset.")] = None,
) -> GuideList:
    """Each image preset's controls (its ControlNets' modes, whether each is installed), whether it takes
    reference images (an IP-Adapter), and what an upscale redraws with. Name a mode in an image request's
    `controls`."""
    names = [get_preset("image", preset).name] if preset else list(IMAGE_PRESETS)  # unknown preset → 422
    listed = await asyncio.to_thread(lambda: [guides.listing(name) for name in names])  # looks at files
    return GuideList(presets=[GuideListing(**entry) for entry in listed])


@router.post("/annotate", response_class=Response, responses=PNG_ANSWER | GENERATION_ERRORS | NOT_FOUND,
             tags=["guides"])
async def annotate(body: AnnotateRequest, request: Request, ctx: ContextDep) -> Response:
    """The control picture the mode's annotator makes from a picture (Canny edges, a depth map, a pose...),
    as a control with `preprocess: true` would use it: to see it before generating. The preset's model
    makes it, between its generations; it keeps the last ones it made, per picture and mode."""
    preset = body.preset or ctx.backend.defaults["image"]
    get_preset("image", preset)  # unknown → 422
    guides.check_mode(body.mode, preset, preprocess=True)  # a mode the family lacks → 422, before any model
    image = body.image if body.image is not None else await asyncio.to_thread(result_image, ctx.store,
                                                                                body.image_result)
    ticket = ctx.take_generation(request)  # a model call: the gate admits and counts it as a generation
    with ticket.running():
        made = await ctx.backend.annotate(preset, image, body.mode)
    return Response(made, media_type="image/png")


@router.post("/results/{result_id}/vary", status_code=201, responses=GENERATION_ERRORS | NOT_FOUND, tags=["results"])
async def vary(result_id: str, request: Request, ctx: ContextDep, body: VaryRequest | None = None) -> Created:
    """The result's image redrawn by image-to-image, with its prompt and settings and a new seed (or
    `seed`): `subtle` keeps most of it, `strong` its layout and colours. The new result's record names
    this one as its parent."""
    body = body or VaryRequest()
    follow = await asyncio.to_thread(follow_up, ctx.store, result_id, f"vary-{body.vary}", body.seed, body.image - 1)
    return await generate_now(ctx, follow, request)


UPSCALE = (f"The result's image at {guide_request.UPSCALE_FACTOR}× its size (up to {guide_request.MAX_UPSCALED_SIDE} "
           f"px a side), redrawn tile by tile at strength {guide_request.UPSCALE_STRENGTH:g} with the family's tile or "
           "blur control where it has one. The new result's record names this one as its parent.")


@router.post("/results/{result_id}/upscale", status_code=201, responses=GENERATION_ERRORS | NOT_FOUND,
             tags=["results"], description=UPSCALE)
async def upscale(result_id: str, request: Request, ctx: ContextDep, body: FollowUpRequest | None = None) -> Created:
    body = body or FollowUpRequest()
    follow = await asyncio.to_thread(follow_up, ctx.store, result_id, "upscale", body.seed, body.image - 1)
    return await generate_now(ctx, follow, request)

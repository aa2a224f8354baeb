"""/api/v1/results: published results, one result, and its owner's actions."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from ui.api.context import ContextDep
from ui.api.schemas import (
    ERRORS,
    NOT_FOUND,
    OWNER_ERRORS,
    OwnerToken,
    Result,
    ResultList,
    present,
)

router = APIRouter(prefix="/api/v1", responses=ERRORS, tags=["results"])


@router.get("/results")
async def list_results(
    request: Request,
    ctx: ContextDep,
    kind: Literal["image", "music", "video"] | None = None,
    before: Annotated[str | None, Query(max_length=64, description="`next` from the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
    q: Annotated[str | None, Query(max_length=200, description="Only results whose prompt has these words.")] = None,
) -> ResultList:
    """Published results, newest first; `q` searches their prompts."""
    records = ctx.store.list(kind=kind, before=before, limit=limit, search=q)
    base = ctx.base_url(request)
    return ResultList(
        results=[Result(**present(r, base)) for r in records],
        next=records[-1]["id"] if len(records) == limit else None,
    )


@router.get("/results/{result_id}", responses=NOT_FOUND)
async def get_result(result_id: str, request: Request, ctx: ContextDep, x_owner_token: OwnerToken = None) -> Result:
    """One result, published or not (an unpublished result is reachable by its id only). One the
    site's owner hid answers 404, except to its own owner (X-Owner-Token), who sees `"moderation": "hidden"`."""
    return Result(**present(ctx.store.get(result_id, x_owner_token), ctx.base_url(request)))


@router.post("/results/{result_id}/publish", responses=OWNER_ERRORS)
async def publish(result_id: str, request: Request, ctx: ContextDep, x_owner_token: OwnerToken = None) -> Result:
    """List the result in the gallery. Owner only."""
    record = await asyncio.to_thread(ctx.store.set_published, result_id, x_owner_token, True)
    return Result(**present(record, ctx.base_url(request)))


@router.post("/results/{result_id}/unpublish", responses=OWNER_ERRORS)
async def unpublish(result_id: str, request: Request, ctx: ContextDep, x_owner_token: OwnerToken = None) -> Result:
    """Take the result out of the gallery; it stays reachable by id. Owner only."""
    record = await asyncio.to_thread(ctx.store.set_published, result_id, x_owner_token, False)
    return Result(**present(record, ctx.base_url(request)))


@router.delete("/results/{result_id}", status_code=204, responses=OWNER_ERRORS)
async def delete_result(result_id: str, ctx: ContextDep, x_owner_token: OwnerToken = None) -> None:
    """Delete the result and its files. Owner only."""
    await asyncio.to_thread(ctx.store.delete, result_id, x_owner_token)

"""/api/v1/jobs: start a generation and answer at once; follow it by polling, SSE or webhook;
cancel it. The jobs themselves run in ui/generation/jobs.py."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ui.api.context import ContextDep
from ui.api.schemas import (
    ERRORS,
    NOT_FOUND,
    ErrorBody,
    JobCreated,
    JobSubmission,
    JobView,
    present,
)
from ui.errors import ApiError
from ui.generation import Busy, JobState, checked_job

router = APIRouter(prefix="/api/v1", responses=ERRORS, tags=["jobs"])


def job_of(job_id: str, ctx: ContextDep) -> JobState:
    return ctx.jobs.get(job_id)  # NotFound → 404, before any stream starts


JobDep = Annotated[JobState, Depends(job_of)]


@router.post("/jobs", status_code=202, responses={503: {"model": ErrorBody}})
async def start_job(body: JobSubmission, request: Request, response: Response, ctx: ContextDep) -> JobCreated:
    """Start a generation and answer at once; follow it at /jobs/{id}, its /events, or a webhook."""
    job = await checked_job(ctx.backend, ctx.store, body.request)
    if body.callback_url and not ctx.settings.webhook_secret:
        raise ApiError(422, "webhooks_not_configured",
                       "This server has no webhook secret (ATELIER_WEBHOOK_SECRET), so it can't sign "
                       "callbacks: leave callback_url out and poll the job instead.")
    ticket = ctx.take_generation(request)
    base_url = ctx.base_url(request)
    try:
        state, owner_token = ctx.jobs.submit(job, base_url, str(body.callback_url or "") or None, ticket)
    except Busy as e:
        raise ApiError(503, "busy", str(e), {"Retry-After": "60"}) from None
    response.headers["Location"] = f"{base_url}/api/v1/jobs/{state.id}"
    return JobCreated(job=JobView(**state.snapshot(present)), owner_token=owner_token)


@router.get("/jobs/{job_id}", responses=NOT_FOUND)
async def get_job(job: JobDep) -> JobView:
    """A job's status (queued, running, succeeded, failed, cancelled), place in line, progress, and result or error."""
    return JobView(**job.snapshot(present))


@router.post("/jobs/{job_id}/cancel", responses=NOT_FOUND)
async def cancel_job(job: JobDep, ctx: ContextDep) -> JobView:
    """Cancel a queued or running job: it leaves the line, or its model stops at the next step,
    and it ends as `cancelled` (its webhook says so; nothing is saved). Answers with the job as it
    stands: watch it (or its events) reach `cancelled`. Idempotent: cancelling a job again, or one
    that has finished, changes nothing. Anyone holding the job's id may cancel it, as they may read it."""
    return JobView(**ctx.jobs.cancel(job.id).snapshot(present))


@router.get(
    "/jobs/{job_id}/events",
    response_class=EventSourceResponse,
    responses={**NOT_FOUND, 200: {"description": "status, queued (again whenever its place in line changes), running, "
                                                 "progress (and preview, when asked), then succeeded, failed or cancelled"}},
)
async def job_events(
    job: JobDep,
    ctx: ContextDep,
    previews: Annotated[bool, Query(description="Also send `preview` events: a small picture (base64 WEBP) of "
                                                "an image or a clip's middle frame as it forms, now and then.")] = False,
) -> AsyncIterable[ServerSentEvent]:
    """Server-sent events: the job's state now, then each change, ending when it finishes."""
    async for event in ctx.jobs.events(job.id, previews=previews):
        yield ServerSentEvent(data=event, event=event["type"])

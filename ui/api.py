"""The REST API, /api/v1: make images and music, run jobs, manage results. OpenAPI at /docs.

    POST   /api/v1/images                 make images now; answers with the result  (201)
    POST   /api/v1/music                  make a clip now                           (201)
    POST   /api/v1/jobs                   start a job; answers at once with its id  (202)
    GET    /api/v1/jobs/{id}              its status, progress, result or error
    GET    /api/v1/jobs/{id}/events       the same as a stream of server-sent events
    GET    /api/v1/results                published results, newest first
    GET    /api/v1/results/{id}           one result, with its media URLs
    POST   /api/v1/results/{id}/publish   owner only (X-Owner-Token): list it in the gallery
    POST   /api/v1/results/{id}/unpublish owner only: take it out again
    DELETE /api/v1/results/{id}           owner only: delete it and its files

Requests are validated by the shared schemas (models/requests.py): the bounds and messages
there are the only ones. Every generation goes through ui.generation.generate, so it is
saved in the result store like the studio's. Owner tokens appear only in the response to
whoever created the result. Auth, rate limits, body limits and CORS are in ui/security.py;
settings in ui/api_settings.py; the error shape in ui/api_errors.py.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, which refer
# to this instance's dependencies (Depends(self._job)), and strings can't be resolved to those.
import asyncio
from collections.abc import AsyncIterable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from starlette.routing import Match

from models.requests import ImageRequest, MusicRequest
from ui.api_errors import ApiError, install_error_handlers
from ui.api_settings import ApiSettings
from ui.backends import Backend
from ui.generation import generate
from ui.jobs import Busy, JobManager, JobState
from ui.security import PROTECTED_PREFIX, Guard, RateLimiter, client_key
from ui.store import ResultStore
from ui.webhooks import WebhookSender

# --- what the API answers with (for the docs, and to check our own answers) ---------------


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_request"])
    message: str = Field(examples=["Prompt must not be empty."])


class ErrorBody(BaseModel):
    error: ErrorDetail


class MediaFile(BaseModel):
    name: str = Field(examples=["image-0.png"])
    mime: str = Field(examples=["image/png"])
    bytes: int
    url: str = Field(description="Where to download it.")


class Result(BaseModel):
    """A saved generation: its files, and the record of how it was made."""

    model_config = ConfigDict(extra="allow")  # the model's record: model, parameters, timings, ...

    id: str
    kind: Literal["image", "music"]
    created_at: float = Field(description="Unix time.")
    published: bool = Field(description="Listed in the gallery. Unpublished results are unlisted, not secret.")
    seed: int | None = None
    parameters: dict = Field(default_factory=dict, description="The complete, resolved request.")
    files: list[MediaFile]
    permalink: str = Field(description="A page to share.")


class Created(BaseModel):
    result: Result
    owner_token: str = Field(
        description="Shown only this once: send it as X-Owner-Token to publish, unpublish or delete the result."
    )


class ResultList(BaseModel):
    results: list[Result]
    next: str | None = Field(None, description="Pass as `before` for the next page; absent on the last one.")


class Progress(BaseModel):
    done: int
    total: int
    stage: str


class WebhookState(BaseModel):
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None = None


class JobView(BaseModel):
    id: str
    kind: Literal["image", "music"]
    status: Literal["queued", "running", "succeeded", "failed"]
    position: int | None = Field(None, description="Place in the queue for a model, when known.")
    progress: Progress | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: Result | None = None
    error: ErrorDetail | None = None
    webhook: WebhookState | None = None


class JobCreated(BaseModel):
    job: JobView
    owner_token: str = Field(description="Shown only this once: the owner token the job's result will have.")


class _Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    callback_url: HttpUrl | None = Field(
        None, description="Called with a signed POST (X-Atelier-Signature) when the job succeeds or fails."
    )


class ImageJobSubmission(_Submission):
    kind: Literal["image"]
    request: ImageRequest


class MusicJobSubmission(_Submission):
    kind: Literal["music"]
    request: MusicRequest


JobSubmission = Annotated[ImageJobSubmission | MusicJobSubmission, Field(discriminator="kind")]

_ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 413, 415, 422, 429)}
_GENERATION_ERRORS = {status: {"model": ErrorBody} for status in (502, 503, 504)}
_NOT_FOUND = {404: {"model": ErrorBody}}
_OWNER_ERRORS = {403: {"model": ErrorBody}, 404: {"model": ErrorBody}}


# --- assembly -------------------------------------------------------------------------------


def install_api(app: FastAPI, backend: Backend, store: ResultStore, settings: ApiSettings | None = None) -> None:
    """Add the API, its error handlers and its guards to the app. Call before the studio's "/" mount."""
    settings = settings or ApiSettings.from_env()
    api = Api(backend, store, settings)
    app.state.jobs, app.state.api_settings = api.jobs, settings
    install_error_handlers(app)
    app.include_router(api.router)
    for prefix in ("/api", "/results"):  # JSON 404/405 there, rather than the studio's page
        app.add_api_route(prefix + "/{rest:path}", _unknown_path, methods=_ALL_METHODS, include_in_schema=False)
    app.add_middleware(Guard, settings=settings)
    if settings.cors_origins:  # added last, so it is outermost: refusals carry CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Owner-Token"],
            expose_headers=["Retry-After", "Location"],
        )
    if settings.api_tokens:
        _document_bearer_auth(app)


class Api:
    def __init__(self, backend: Backend, store: ResultStore, settings: ApiSettings):
        self.backend, self.store, self.settings = backend, store, settings
        webhooks = (
            WebhookSender(
                settings.webhook_secret,
                attempts=settings.webhook_attempts,
                backoff_s=settings.webhook_backoff_s,
                timeout_s=settings.webhook_timeout_s,
                allow_private=settings.webhook_allow_private,
            )
            if settings.webhook_secret
            else None
        )
        self.jobs = JobManager(
            backend, store, present, webhooks, max_active=settings.max_active_jobs, ttl_s=settings.job_ttl_s
        )
        self.generations = RateLimiter(settings.generation_rate_limit)
        self.router = self._routes()

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix="/api/v1", responses=_ERRORS)

        @router.post("/images", status_code=201, tags=["generate"], responses=_GENERATION_ERRORS)
        async def make_images(body: ImageRequest, request: Request) -> Created:
            """Make images and wait for them. Long generations are better as a job (POST /api/v1/jobs)."""
            return await self._generate_now(body, request)

        @router.post("/music", status_code=201, tags=["generate"], responses=_GENERATION_ERRORS)
        async def make_music(body: MusicRequest, request: Request) -> Created:
            """Make a clip and wait for it. Clips longer than a minute are better as a job."""
            return await self._generate_now(body, request)

        @router.post("/jobs", status_code=202, tags=["jobs"], responses={503: {"model": ErrorBody}})
        async def start_job(body: JobSubmission, request: Request, response: Response) -> JobCreated:
            """Start a generation and answer at once; follow it at /jobs/{id}, its /events, or a webhook."""
            job = self.backend.resolve(body.request)
            if body.callback_url and not self.settings.webhook_secret:
                raise ApiError(422, "webhooks_not_configured",
                               "This server has no webhook secret (ATELIER_WEBHOOK_SECRET), so it can't sign "
                               "callbacks: leave callback_url out and poll the job instead.")
            self._take_generation(request)
            try:
                state, owner_token = self.jobs.submit(job, self._base_url(request), str(body.callback_url or "") or None)
            except Busy as e:
                raise ApiError(503, "busy", str(e), {"Retry-After": "60"}) from None
            response.headers["Location"] = f"{self._base_url(request)}/api/v1/jobs/{state.id}"
            return JobCreated(job=JobView(**state.snapshot(present)), owner_token=owner_token)

        @router.get("/jobs/{job_id}", tags=["jobs"], responses=_NOT_FOUND)
        async def get_job(job: Annotated[JobState, Depends(self._job)]) -> JobView:
            """A job's status (queued, running, succeeded, failed), progress, and result or error."""
            return JobView(**job.snapshot(present))

        @router.get(
            "/jobs/{job_id}/events",
            tags=["jobs"],
            response_class=EventSourceResponse,
            responses={**_NOT_FOUND, 200: {"description": "status, queued, running, progress, then succeeded or failed"}},
        )
        async def job_events(job: Annotated[JobState, Depends(self._job)]) -> AsyncIterable[ServerSentEvent]:
            """Server-sent events: the job's state now, then each change, ending when it finishes."""
            async for event in self.jobs.events(job.id):
                yield ServerSentEvent(data=event, event=event["type"])

        @router.get("/results", tags=["results"])
        async def list_results(
            request: Request,
            kind: Literal["image", "music"] | None = None,
            before: Annotated[str | None, Query(max_length=64, description="`next` from the previous page.")] = None,
            limit: Annotated[int, Query(ge=1, le=100)] = 24,
        ) -> ResultList:
            """Published results, newest first."""
            records = self.store.list(kind=kind, before=before, limit=limit)
            base = self._base_url(request)
            return ResultList(
                results=[Result(**present(r, base)) for r in records],
                next=records[-1]["id"] if len(records) == limit else None,
            )

        @router.get("/results/{result_id}", tags=["results"], responses=_NOT_FOUND)
        async def get_result(result_id: str, request: Request) -> Result:
            """One result, published or not (an unpublished result is reachable by its id only)."""
            return Result(**present(self.store.get(result_id), self._base_url(request)))

        @router.post("/results/{result_id}/publish", tags=["results"], responses=_OWNER_ERRORS)
        async def publish(result_id: str, request: Request, x_owner_token: OwnerToken = None) -> Result:
            """List the result in the gallery. Owner only."""
            record = await asyncio.to_thread(self.store.set_published, result_id, x_owner_token, True)
            return Result(**present(record, self._base_url(request)))

        @router.post("/results/{result_id}/unpublish", tags=["results"], responses=_OWNER_ERRORS)
        async def unpublish(result_id: str, request: Request, x_owner_token: OwnerToken = None) -> Result:
            """Take the result out of the gallery; it stays reachable by id. Owner only."""
            record = await asyncio.to_thread(self.store.set_published, result_id, x_owner_token, False)
            return Result(**present(record, self._base_url(request)))

        @router.delete("/results/{result_id}", status_code=204, tags=["results"], responses=_OWNER_ERRORS)
        async def delete_result(result_id: str, x_owner_token: OwnerToken = None) -> None:
            """Delete the result and its files. Owner only."""
            await asyncio.to_thread(self.store.delete, result_id, x_owner_token)

        return router

    async def _generate_now(self, body: ImageRequest | MusicRequest, request: Request) -> Created:
        job = self.backend.resolve(body)  # RequestError → 422, before any quota is spent
        self._take_generation(request)
        try:
            async with asyncio.timeout(self.settings.sync_timeout_s):
                async for event in generate(self.backend, self.store, job):
                    if event["type"] == "saved":
                        result = Result(**present(event["record"], self._base_url(request)))
                        return Created(result=result, owner_token=event["owner_token"])
        except TimeoutError:
            raise ApiError(504, "timeout", f"The generation took longer than {self.settings.sync_timeout_s:g} s and "
                                           "was stopped: use POST /api/v1/jobs for long generations.") from None
        raise AssertionError("generate() ends with a saved event or raises")

    def _take_generation(self, request: Request) -> None:
        if (wait := self.generations.retry_after(client_key(request.scope, self.settings))) is not None:
            raise ApiError(429, "rate_limited", f"Too many generations: try again in {wait} s.", {"Retry-After": str(wait)})

    def _job(self, job_id: str) -> JobState:
        return self.jobs.get(job_id)  # NotFound → 404, before any stream starts

    def _base_url(self, request: Request) -> str:
        return self.settings.public_url or str(request.base_url).rstrip("/")


OwnerToken = Annotated[
    str | None,
    Header(alias="X-Owner-Token", description="The owner_token from the response that created the result."),
]


def present(record: dict, base_url: str) -> dict:
    """A public record with its media URLs and its page."""
    return {
        **record,
        "files": [{**f, "url": f"{base_url}/results/{record['id']}/{f['name']}"} for f in record["files"]],
        "permalink": f"{base_url}/r/{record['id']}",
    }


# --- the rest of /api/ and /results/: JSON 404s and 405s, not the studio's page ----------------

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _unknown_path(request: Request, rest: str) -> None:
    allowed = _allowed_methods(request)
    if allowed:
        raise ApiError(405, "method_not_allowed", f"{request.method} is not accepted here; use {', '.join(allowed)}.",
                       {"Allow": ", ".join(allowed)})
    where = request.url.path
    raise ApiError(404, "not_found", f"There is no API endpoint at {where}: see /docs." if where.startswith("/api/")
                   else "There is nothing at this address.")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route takes at this path: each asked, in routing order, up to the catch-alls."""
    allowed = []
    for method in _ALL_METHODS:
        probe = {**request.scope, "method": method}
        for route in request.app.router.routes:
            if getattr(route, "endpoint", None) is _unknown_path:
                break
            if route.matches(probe)[0] is Match.FULL:
                allowed.append(method)
                break
    return allowed


def _document_bearer_auth(app: FastAPI) -> None:
    """Tell the OpenAPI document that /api/v1 needs a bearer token (ui.security enforces it)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http", "scheme": "bearer"}
            for path, operations in schema["paths"].items():
                if path.startswith(PROTECTED_PREFIX):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
        return app.openapi_schema

    app.openapi = openapi

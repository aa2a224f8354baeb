"""Async jobs: accept a generation now, run it in the background, report on it as it goes.

A job is an asyncio task in the web process running the same `generate` path as every
other entry point (so its result lands in the result store), while its state — queued,
running, succeeded or failed, with progress — is kept here for polling
(GET /api/v1/jobs/{id}), streamed to listeners (SSE), and, if the caller gave a
callback URL, announced by a signed webhook when it ends.

The owner token of a job's result is issued when the job is accepted (the only response
the caller is sure to see) and handed to the result when it is saved; it is never part
of the job's state that anyone polling sees.

Jobs live in memory: finished ones are kept for ATELIER_JOB_TTL seconds, and a restart
forgets them (their results stay in the store). On Modal the web container awaits the GPU
classes in these tasks too. `Cls.method.spawn.aio()` was considered, since a spawned call
survives a restart of the web container; but `spawn` returns only the final value of a
call, so a generator's progress events would be lost, and the result would still have to
come back through the web container to be saved. One container (max_containers=1) with
tasks keeps progress, saving and webhooks in one place.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

from models.requests import Job
from ui.errors import ModelUnavailable, NotFound, failure
from ui.generation.backend import Backend
from ui.generation.flow import generate
from ui.generation.webhooks import Delivery, WebhookSender
from ui.store import ResultStore

log = logging.getLogger("atelier.jobs")

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
Status = Literal["queued", "running", "succeeded", "failed"]
FINISHED: tuple[Status, ...] = ("succeeded", "failed")
MAX_FINISHED_KEPT = 10_000

# (record, base_url) → how a result is shown (with its media URLs); given by the API.
Present = Callable[[dict, str], dict]


class Busy(ModelUnavailable):
    """Too many jobs are waiting already."""


@dataclass
class JobState:
    id: str
    kind: str
    base_url: str  # for the media URLs in what this job reports
    created_at: float = field(default_factory=time.time)
    status: Status = "queued"
    position: int | None = None
    progress: dict | None = None
    started_at: float | None = None
    finished_at: float | None = None
    result: dict | None = None  # the public record
    error: dict | None = None  # {"code", "message"}
    webhook: Delivery | None = None
    owner_token: str | None = field(default=None, repr=False)  # until the result takes it
    listeners: set[asyncio.Queue] = field(default_factory=set, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def snapshot(self, present: Present) -> dict:
        """The job as anyone holding its id may see it: no owner token, no callback URL."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "position": self.position,
            "progress": self.progress,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "result": present(self.result, self.base_url) if self.result else None,
            "error": self.error,
            "webhook": vars(self.webhook).copy() if self.webhook else None,
        }


class JobManager:
    def __init__(
        self,
        backend: Backend,
        store: ResultStore,
        present: Present,
        webhooks: WebhookSender | None = None,
        max_active: int = 100,
        ttl_s: float = 3600.0,
    ):
        self.backend = backend
        self.store = store
        self.present = present
        self.webhooks = webhooks
        self.max_active = max_active
        self.ttl_s = ttl_s
        self._jobs: dict[str, JobState] = {}
        self._tasks: set[asyncio.Task] = set()  # strong references: the loop only keeps weak ones

    def submit(self, job: Job, base_url: str, callback_url: str | None = None) -> tuple[JobState, str]:
        """Start a checked job; returns its state and the owner token its result will have."""
        self._prune()
        if self.active() >= self.max_active:
            raise Busy(f"{self.max_active} jobs are already waiting or running: try again in a minute.")
        if callback_url and self.webhooks is None:
            raise RuntimeError("callback_url given but webhooks are not configured")  # the API checks first
        state = JobState(id=secrets.token_urlsafe(12), kind=job.kind, base_url=base_url)
        owner_token = state.owner_token = secrets.token_urlsafe(24)
        if callback_url:
            state.webhook = Delivery()
        self._jobs[state.id] = state
        task = asyncio.create_task(self._run(state, job, callback_url), name=f"atelier-job-{state.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return state, owner_token

    def get(self, job_id: str) -> JobState:
        self._prune()
        job = self._jobs.get(job_id) if isinstance(job_id, str) and JOB_ID.match(job_id) else None
        if job is None:
            raise NotFound("No job with that id (finished jobs are kept for a while, and not across restarts).")
        return job

    def active(self) -> int:
        return sum(not j.finished for j in self._jobs.values())

    def counts(self) -> dict[str, int]:
        counts = {status: 0 for status in ("queued", "running", "succeeded", "failed")}
        for job in self._jobs.values():
            counts[job.status] += 1
        return counts

    async def events(self, job_id: str) -> AsyncIterator[dict]:
        """The job's state now, then each change as it happens, ending with succeeded or failed."""
        job = self.get(job_id)
        listener: asyncio.Queue = asyncio.Queue()
        job.listeners.add(listener)  # before the snapshot, so no change falls in between
        try:
            snapshot = job.snapshot(self.present)
            yield {"type": "status", "job": snapshot}
            if snapshot["status"] in FINISHED:
                return
            while True:  # every change after the snapshot is in the queue, the last one included
                event = await listener.get()
                yield event
                if event["type"] in FINISHED:
                    return
        finally:
            job.listeners.discard(listener)

    async def wait(self, job_id: str) -> JobState:
        """Until the job has finished (tests and callers that want to block)."""
        async for _ in self.events(job_id):
            pass
        return self.get(job_id)

    # --- running ------------------------------------------------------------------------------

    async def _run(self, state: JobState, job: Job, callback_url: str | None) -> None:
        try:
            async for event in generate(self.backend, self.store, job):
                if event["type"] == "queued":
                    state.position = event.get("position")
                    self._publish(state, {"type": "queued", "position": state.position})
                elif event["type"] == "progress":
                    self._start(state)
                    state.progress = {k: event[k] for k in ("done", "total", "stage")}
                    self._publish(state, {"type": "progress", **state.progress})
                elif event["type"] == "saved":
                    self._start(state)
                    record = event["record"]
                    await asyncio.to_thread(self.store.set_owner_token, record["id"], event["owner_token"], state.owner_token)
                    state.result = record
            state.status = "succeeded"
        except Exception as e:
            status, code, message = failure(e)
            if status >= 500 and code == "internal_error":
                log.exception("job %s failed unexpectedly", state.id)
            state.status, state.error = "failed", {"code": code, "message": message}
        state.owner_token = None
        state.finished_at = time.time()
        self._publish(state, {"type": state.status, "job": state.snapshot(self.present)})
        if callback_url and self.webhooks and state.webhook:
            payload = {"event": f"job.{state.status}", "job": state.snapshot(self.present)}
            await self.webhooks.deliver(callback_url, f"job.{state.status}", payload, state.webhook)

    def _start(self, state: JobState) -> None:
        if state.status == "queued":
            state.status, state.position, state.started_at = "running", None, time.time()
            self._publish(state, {"type": "running"})

    def _publish(self, state: JobState, event: dict) -> None:
        for listener in state.listeners:
            listener.put_nowait(event)

    def _prune(self) -> None:
        """Forget finished jobs past their time, and the oldest beyond MAX_FINISHED_KEPT."""
        cutoff = time.time() - self.ttl_s
        finished = [j for j in self._jobs.values() if j.finished]
        expired = [j for j in finished if j.finished_at is not None and j.finished_at < cutoff]
        overflow = sorted(finished, key=lambda j: j.finished_at or 0)[: max(0, len(finished) - MAX_FINISHED_KEPT)]
        for job in (*expired, *overflow):
            self._jobs.pop(job.id, None)

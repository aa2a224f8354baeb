"""Async jobs: accept a generation now, run it in the background, report on it as it goes.

A job is an asyncio task in the web process running the same `generate` path as every
other entry point (so its result lands in the result store), while its state — queued (with
its place in line, as it changes), running, then succeeded, failed or cancelled, with
progress — is kept for polling (GET /api/v1/jobs/{id}), streamed to listeners (SSE), and, if
the caller gave a callback URL, announced by a signed webhook when it ends.

Cancelling (POST /api/v1/jobs/{id}/cancel): the job's generation task is cancelled, which stops
its model's work (ui/generation/backend.py), and the job ends as `cancelled`, its webhook sent
as `job.cancelled`. Asking again, or asking a finished job, changes nothing. `cancelled` is a new
status; clients written when a job could only end succeeded or failed keep working because a
job is only ever cancelled by a call to that route, which such a client never makes (the
server itself never cancels: a restart still reports `failed` with code "interrupted", below),
and because an event stream still ends after its last event, `cancelled` included.

Durable: each job's state is written to the store's index (ui/store/jobs.py) when it is
accepted and as it changes (progress at most once a second), so an id once given out
always answers. The process that opens a store runs its jobs (one server per store: the
single web container on Modal, one `atelier serve` locally); when it starts, jobs the last
one left queued or running are marked failed with the error code "interrupted" and a
message saying so, and their webhooks (and any a restart cut short) are delivered. They
are reported as `failed`, not with a new status, so every client that already stops
polling at succeeded/failed stops here too; the code tells them apart. Finished jobs stay
queryable for ATELIER_JOB_TTL seconds.

The owner token of a job's result is issued when the job is accepted (the only response
the caller is sure to see) and handed to the result when it is saved; it is held in memory
only, never written anywhere, and never part of the job's state that anyone polling sees.

GPU work and a web-container restart on Modal: the web container awaits the GPU classes
in these tasks (`remote_gen.aio`, which streams progress), so a restart loses the work in
flight, and the job is reported as interrupted. Modal's job-processing pattern (`.spawn()`
a call, keep its `FunctionCall` id, `FunctionCall.from_id(id).get(timeout=0)` after a
restart) would let the GPU call outlive the container; it was weighed and not built here:
`spawn` returns only a call's final value, so progress would have to travel through a
`modal.Dict`/`modal.Queue`, and the result would still come back through the web
container to be saved (the index has one writer). None of that can run offline, so it is
left for a change that can be tested against Modal; the stored job row is where its call
id would go.
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

from models.common.events import progress_event
from models.requests import Job
from ui.errors import ModelUnavailable, NotFound, failure
from ui.gate import Ticket
from ui.generation.backend import Backend
from ui.generation.events import (
    JobEvent,
    finished_event,
    job_queued_event,
    preview_event,
    running_event,
    status_event,
)
from ui.generation.flow import generate
from ui.generation.webhooks import Delivery, WebhookSender
from ui.store import ResultStore

log = logging.getLogger("atelier.jobs")

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: tuple[Status, ...] = ("succeeded", "failed", "cancelled")
MAX_FINISHED_KEPT = 10_000
PROGRESS_WRITE_S = 1.0  # progress is written at most this often; status changes always
INTERRUPTED = {
    "code": "interrupted",
    "message": "The server restarted while this job was waiting or running, and its work was lost: submit it again.",
}
CANCELLED = {"code": "cancelled", "message": "The job was cancelled before it finished: nothing was saved."}

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
    http_status: int | None = field(default=None, repr=False)  # a failure's, for a synchronous caller waiting on it
    listeners: dict[asyncio.Queue[JobEvent], bool] = field(default_factory=dict, repr=False)  # → wants previews
    task: asyncio.Task | None = field(default=None, repr=False)  # what runs it, in this process
    cancelling: bool = False  # someone asked to cancel it (once is enough)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_row(cls, row: dict, store: ResultStore) -> JobState:
        """A job as the index has it (one this process is not running)."""
        result = None
        if row["result_id"]:
            try:
                result = store.get(row["result_id"])
            except NotFound:  # deleted by its owner since: the job still succeeded
                result = None
        webhook = Delivery(**row["webhook"]) if row["webhook"] else None
        return cls(
            id=row["id"], kind=row["kind"], base_url=row["base_url"], created_at=row["created_at"],
            status=row["status"], position=row["position"], progress=row["progress"], started_at=row["started_at"],
            finished_at=row["finished_at"], result=result, error=row["error"], webhook=webhook,
        )

    def snapshot(self, present: Present) -> dict:
        """The job as anyone holding its id may see it: no owner token, no callback URL."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "queue_position": self.position,
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
        self.table = store.jobs
        self.present = present
        self.webhooks = webhooks
        self.max_active = max_active
        self.ttl_s = ttl_s
        self._jobs: dict[str, JobState] = {}  # this process's jobs until they and their webhooks end
        self._tasks: set[asyncio.Task] = set()  # strong references: the loop only keeps weak ones
        self._progress_written: dict[str, float] = {}
        self._last_prune = 0.0
        # Whatever the last process left unfinished can't finish now: say so, and announce it.
        interrupted = self.table.interrupt_unfinished(INTERRUPTED)
        if interrupted:
            log.warning("%d job(s) were interrupted by a restart", len(interrupted))
        self._to_announce = self.table.undelivered()
        self._announcing = False

    def submit(self, job: Job, base_url: str, callback_url: str | None, ticket: Ticket) -> tuple[JobState, str]:
        """Start a checked job, admitted by the gate; returns its state and the owner token its result will have."""
        self.resume()
        self._prune()
        if self.active() >= self.max_active:
            raise Busy(f"{self.max_active} jobs are already waiting or running: try again in a minute.")
        if callback_url and self.webhooks is None:
            raise RuntimeError("callback_url given but webhooks are not configured")  # the API checks first
        state = JobState(id=secrets.token_urlsafe(12), kind=job.kind, base_url=base_url)
        owner_token = state.owner_token = secrets.token_urlsafe(24)
        if callback_url:
            state.webhook = Delivery()
        # Written before the id is handed out: from here on, that id always answers.
        self.table.add(state.id, kind=state.kind, status=state.status, base_url=base_url, created_at=state.created_at,
                       webhook=vars(state.webhook) if state.webhook else None, callback_url=callback_url)
        self._jobs[state.id] = state
        # The generation is a task of its own, which cancel() cancels (even before it starts);
        # _run awaits it and, whatever its end, records it and announces it.
        state.task = asyncio.ensure_future(self._generate(state, job, ticket))
        self._spawn(self._run(state, callback_url), f"atelier-job-{state.id}")
        return state, owner_token

    def cancel(self, job_id: str) -> JobState:
        """Stop a queued or running job: it leaves the line, or its model stops at the next step,
        and it ends as `cancelled` (its webhook says so). A job already finished, or already
        being cancelled, is left as it is: asking again changes nothing. A job whose model has
        already finished is saved, and succeeds."""
        job = self.get(job_id)
        if not job.finished and not job.cancelling and job.task is not None:
            job.cancelling = True
            job.task.cancel()
        return job

    def get(self, job_id: str) -> JobState:
        self.resume()
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            raise NotFound("No job with that id.")
        if (job := self._jobs.get(job_id)) is not None:
            return job
        row = self.table.get(job_id)
        if row is None or (row["finished_at"] is not None and row["finished_at"] < time.time() - self.ttl_s):
            self._prune()
            raise NotFound(f"No job with that id (finished jobs are kept for {self.ttl_s:g} s).")
        return JobState.from_row(row, self.store)

    def active(self) -> int:
        return sum(not j.finished for j in self._jobs.values())

    def counts(self) -> dict[str, int]:
        return {status: 0 for status in ("queued", "running", *FINISHED)} | self.table.counts()

    async def events(self, job_id: str, previews: bool = False) -> AsyncIterator[JobEvent]:
        """The job's state now, then each change as it happens, ending with succeeded, failed or cancelled;
        with `previews`, also pictures of an image forming ({"type": "preview", "mime", "data": base64}).
        The kinds are declared in ui/generation/events.py."""
        job = self.get(job_id)
        listener: asyncio.Queue[JobEvent] = asyncio.Queue()
        job.listeners[listener] = previews  # before the snapshot, so no change falls in between
        try:
            snapshot = job.snapshot(self.present)
            yield status_event(snapshot)
            if snapshot["status"] in FINISHED:
                return
            while True:  # every change after the snapshot is in the queue, the last one included
                event = await listener.get()
                yield event
                if event["type"] in FINISHED:
                    return
        finally:
            job.listeners.pop(listener, None)

    async def wait(self, job_id: str) -> JobState:
        """Until the job has finished (tests and callers that want to block)."""
        async for _ in self.events(job_id):
            pass
        return self.get(job_id)

    def resume(self) -> None:
        """Deliver the webhooks a restart left owed (interrupted jobs', and deliveries cut short).
        Needs the event loop: called at start-up (the API's lifespan) and, in case that never
        ran, on the first request; only the first call does anything."""
        if self._announcing:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._announcing = True
        for row in self._to_announce:
            if row["callback_url"] and self.webhooks is not None:
                state = JobState.from_row(row, self.store)
                self._jobs[state.id] = state
                self._spawn(self._announce(state, row["callback_url"]), f"atelier-job-{state.id}-webhook")
        self._to_announce = []

    # --- running ------------------------------------------------------------------------------

    async def _run(self, state: JobState, callback_url: str | None) -> None:
        try:
            await state.task
            state.status = "succeeded"
        except asyncio.CancelledError:
            if not state.cancelling:  # this process is stopping: the next one reports it interrupted
                raise
            state.status, state.error = "cancelled", dict(CANCELLED)  # its model's work stopped too
        except Exception as e:
            status, code, message = failure(e)
            if status >= 500 and code == "internal_error":
                log.exception("job %s failed unexpectedly", state.id)
            state.status, state.error, state.http_status = "failed", {"code": code, "message": message}, status
        state.owner_token = None
        state.finished_at = time.time()
        self._progress_written.pop(state.id, None)
        self._save(state, "status", "finished_at", "progress", "error", "position")
        self._publish(state, finished_event(state.status, state.snapshot(self.present)))
        await self._announce(state, callback_url)

    async def _generate(self, state: JobState, job: Job, ticket: Ticket) -> None:
        """The generation, its events kept in the job's state and passed to its listeners."""
        async for event in generate(self.backend, self.store, job, ticket):
            if event["type"] == "queued":
                state.position = event.get("position")
                self._written_at_most_each_second(state)
                self._publish(state, job_queued_event(state.position))
            elif event["type"] == "progress":
                self._start(state)
                state.progress = {k: event[k] for k in ("done", "total", "stage")}
                self._written_at_most_each_second(state)
                self._publish(state, progress_event(event["done"], event["total"], event["stage"]))
                if event.get("preview") and any(state.listeners.values()):  # opt-in: base64 costs
                    self._publish(state, preview_event(event["done"], event["preview"]))
            elif event["type"] == "saved":
                self._start(state)
                record = event["record"]
                await asyncio.to_thread(self.store.set_owner_token, record["id"], event["owner_token"], state.owner_token)
                state.result = record

    async def _announce(self, state: JobState, callback_url: str | None) -> None:
        """The webhook of a finished job, if it has one; then the job lives in the index only."""
        try:
            if callback_url and self.webhooks and state.webhook:
                payload = {"event": f"job.{state.status}", "job": state.snapshot(self.present)}
                await self.webhooks.deliver(callback_url, f"job.{state.status}", payload, state.webhook)
                self._save(state, "webhook")
        finally:
            self._jobs.pop(state.id, None)

    def _written_at_most_each_second(self, state: JobState) -> None:
        """Progress and the queue position move often: the index gets them at most once a second
        (a snapshot of a job in this process reads them from memory)."""
        if time.monotonic() - self._progress_written.get(state.id, 0) >= PROGRESS_WRITE_S:
            self._progress_written[state.id] = time.monotonic()
            self._save(state, "progress", "position")

    def _start(self, state: JobState) -> None:
        if state.status == "queued":
            state.status, state.position, state.started_at = "running", None, time.time()
            self._save(state, "status", "position", "started_at")
            self._publish(state, running_event())

    def _save(self, state: JobState, *fields: str) -> None:
        """Write these fields of the job to the index (a few ms at most: local disk)."""
        values = {name: getattr(state, name) for name in fields}
        if "webhook" in values:
            values["webhook"] = vars(state.webhook) if state.webhook else None
        if state.result is not None:
            values["result_id"] = state.result["id"]
        self.table.update(state.id, **values)

    def _publish(self, state: JobState, event: JobEvent) -> None:
        for listener, wants_previews in state.listeners.items():
            if event["type"] != "preview" or wants_previews:
                listener.put_nowait(event)

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _prune(self) -> None:
        """Forget finished jobs past their time, and the oldest beyond MAX_FINISHED_KEPT
        (at most once a minute: get() already hides expired ones)."""
        if time.monotonic() - self._last_prune < 60:
            return
        self._last_prune = time.monotonic()
        self.table.prune(time.time() - self.ttl_s, MAX_FINISHED_KEPT)

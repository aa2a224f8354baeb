"""One model, many visitors: requests that can share a pipeline call are run as one.

A few-step turbo model on a GPU makes eight images in little more than the time of one, so
when several visitors' requests reach the same model instance at once (Modal's
`@modal.concurrent` on the GPU class; the local backend letting several calls in), the
`Batcher` gathers the compatible ones — same `key`, e.g. same size, steps and guidance —
for at most `window_s` and runs them as one call. Everything else runs as before.

    caller threads ──submit(job, report)──▶ waiting list ──▶ one model thread ──▶ run(batch)
         ▲ blocks until its own outcome        (oldest first,          (the only thread that
         └── its own progress events            compatible ones          touches the model:
                                                 join it)                 an instance is not
                                                                          thread-safe)

Bounded: a batch starts at most `window_s` after its oldest request arrived, and no later than
a tenth of the model's last call after it (sooner when it is full); it holds at most `max_size`
units of work (images). If a batch of several fails, each
of its requests is run again alone, so one bad request fails only itself and the model goes on.
A model's quick side work (the image model's annotations) goes through `call`: it runs on the same
thread, between batches, never beside one.

Cancelled (each request's Stop, models/common/cancel.py): a request still waiting leaves the list
at once; one inside a running batch is let go at once (its caller gets Cancelled, its outcome is
dropped) while the call goes on unchanged for the others, so they get the very bytes they would
have had; and when every request of a batch has left, the next step (`Batch.check`, which `report`
runs) raises Cancelled and the call ends there, freeing the model.

Why not Modal's `@modal.batched`: it takes a list and returns a list, so its method can't be a
generator, and per-visitor progress (the studio's live bar, the API's job events) would be
lost; and a class with a batched method may have no other methods. `@modal.concurrent` lets
one container take several inputs, each a normal generator call, and this batcher groups them.

No torch here: the batcher knows nothing of models, only of jobs, keys, sizes and outcomes (for
the image model, each job's result event).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from models.common.cancel import Stop
from models.common.errors import Cancelled
from models.common.progress import ModelThread, Report

Job = TypeVar("Job")
Outcome = TypeVar("Outcome")
Value = TypeVar("Value")

# How long the first request of a batch waits for company. Short: a lone visitor pays at most
# this much, and under load requests pile up while the model is busy anyway.
WINDOW_S = 0.025
# And at most this share of what the model's last call took. A turbo model on a GPU makes an
# image in about 0.1 s, where the whole window would be a fifth of a lone visitor's wait; a
# burst of visitors arriving within the shorter window still shares one call.
WINDOW_SHARE = 0.10


@dataclass
class Batch(Generic[Job]):
    """What `run` is given: the jobs, and for each its own progress reporter and Stop."""

    jobs: list[Job]
    reports: list[Report]
    stops: list[Stop] = field(default_factory=list)

    def report(self, done: int, total: int, stage: str) -> None:
        """One step of the shared call is one step of every request in it."""
        self.check()
        for report in self.reports:
            report(done, total, stage)

    def check(self) -> None:
        """Between steps: raise Cancelled once every request in the batch has been cancelled."""
        if self.stops and all(stop.is_set() for stop in self.stops):
            raise Cancelled("Every request in this batch was cancelled.")


@dataclass
class _Waiting(Generic[Job]):
    job: Job
    report: Report
    key: Hashable
    size: int
    stop: Stop
    arrived: float = field(default_factory=time.monotonic)
    finished: threading.Event = field(default_factory=threading.Event)
    outcome: Any = None
    error: BaseException | None = None


@dataclass
class _Call:
    """Side work for the model thread (Batcher.call), and what came of it."""

    work: Callable[[], Any]
    finished: threading.Event = field(default_factory=threading.Event)
    outcome: Any = None
    error: BaseException | None = None

    def run(self) -> None:
        try:
            self.outcome = self.work()
        except BaseException as e:  # handed to the caller, which re-raises it
            self.error = e
        self.finished.set()


class Batcher(Generic[Job, Outcome]):
    """Runs `run(batch) -> one outcome per job` on one model thread, for jobs submitted from many.

    `key(job)`: jobs with equal keys may share a call. `size(job)`: the units a job adds to a
    batch (images), at most `max_size` together. `run` may return an exception instance in a
    job's place to fail that job alone.
    """

    def __init__(
        self,
        run: Callable[[Batch[Job]], Sequence[Outcome | BaseException]],
        key: Callable[[Job], Hashable],
        size: Callable[[Job], int] = lambda job: 1,
        max_size: int = 1,
        window_s: float = WINDOW_S,
        name: str = "atelier-batcher",
    ):
        self._run, self._key, self._size = run, key, size
        self.max_size, self.window_s = max_size, window_s
        self.window_share = WINDOW_SHARE  # read here, so a benchmark can build one with the old rule
        self._name = name
        self._waiting: list[_Waiting[Job]] = []
        self._calls: list[_Call] = []  # side work, run before the next batch
        self._changed = threading.Condition()
        self._working = False  # the model thread is running batches; it stops when none is left
        self._last_call_s: float | None = None  # how long the model's last call took
        self._thread = ModelThread(name)  # runs every batch: see ModelThread for why one, kept

    @property
    def pending(self) -> int:
        """Requests waiting for a batch (not counting the one running)."""
        with self._changed:
            return len(self._waiting)

    @property
    def busy(self) -> bool:
        """Whether the model thread is running batches (it stops when none is left)."""
        with self._changed:
            return self._working

    @property
    def window(self) -> float:
        """How long a batch's first request waits for company now: `window_s`, and at most
        `window_share` (WINDOW_SHARE) of the last call once there has been one."""
        last = self._last_call_s
        return self.window_s if last is None else min(self.window_s, self.window_share * last)

    def submit(self, job: Job, report: Report, stop: Stop | None = None) -> Outcome:
        """Run `job` (alone or with others) and return its outcome; blocks this thread meanwhile.
        Once `stop` is set, Cancelled is raised here at once (see the module's docstring)."""
        waiting = _Waiting(job, report, self._key(job), self._size(job), stop or Stop())
        with self._changed:
            self._waiting.append(waiting)
            if not self._working:
                self._working = True
                self._thread.submit(self._work)
            self._changed.notify_all()
        waiting.stop.on_set(lambda: self._let_go(waiting))
        waiting.finished.wait()
        if waiting.error is not None:
            raise waiting.error
        return waiting.outcome

    def _let_go(self, waiting: _Waiting[Job]) -> None:
        """A request was cancelled: out of the waiting list, or out of its running batch, now."""
        with self._changed:
            if waiting.finished.is_set():
                return
            if waiting in self._waiting:
                self._waiting.remove(waiting)
            waiting.error = Cancelled("The request was cancelled by its caller.")
            waiting.finished.set()
            self._changed.notify_all()

    def call(self, work: Callable[[], Value]) -> Value:
        """Run `work()` on the model thread between batches and return its value (or raise its error);
        blocks this thread meanwhile. A model instance is not thread-safe: whatever else touches it
        (an annotation between generations) must run where the batches do, never beside one."""
        call = _Call(work)
        with self._changed:
            self._calls.append(call)
            if not self._working:
                self._working = True
                self._thread.submit(self._work)
            self._changed.notify_all()
        call.finished.wait()
        if call.error is not None:
            raise call.error
        return call.outcome

    # --- the model thread ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._changed:
                calls, self._calls = self._calls, []
                if not calls and not self._waiting:
                    self._working = False
                    return
            for call in calls:  # side work first: it is quick, and a batch may be waiting on its window
                call.run()
            with self._changed:
                batch = self._next_batch() if self._waiting else None
            if batch:
                self._execute(batch)

    def _next_batch(self) -> list[_Waiting[Job]]:
        """The oldest request and the compatible ones behind it, once the window closes or the
        batch is full; empty if the oldest was cancelled meanwhile. Lock held (released while
        waiting); only this thread and a cancellation remove requests."""
        first = self._waiting[0]
        deadline = first.arrived + self.window
        while True:
            if first not in self._waiting:
                return []
            batch = self._compatible(first)
            remaining = deadline - time.monotonic()
            if sum(w.size for w in batch) >= self.max_size or remaining <= 0:
                break
            self._changed.wait(remaining)
        for w in batch:
            self._waiting.remove(w)
        return batch

    def _compatible(self, first: _Waiting[Job]) -> list[_Waiting[Job]]:
        batch, total = [first], first.size
        for w in self._waiting[1:]:
            if w.key == first.key and total + w.size <= self.max_size:
                batch.append(w)
                total += w.size
        return batch

    def _execute(self, batch: list[_Waiting[Job]]) -> None:
        try:
            outcomes = self._call(batch)
        except BaseException as e:
            if len(batch) == 1 or isinstance(e, Cancelled):  # a Cancelled call: every request had left
                outcomes = [e] * len(batch)
            else:  # find the one at fault: each alone, so the others still get their result
                outcomes = [self._alone(w) for w in batch]
        with self._changed:
            for w, outcome in zip(batch, outcomes, strict=True):
                if w.finished.is_set():  # cancelled meanwhile: its caller has gone
                    continue
                if isinstance(outcome, BaseException):
                    w.error = outcome
                else:
                    w.outcome = outcome
                w.finished.set()

    def _alone(self, waiting: _Waiting[Job]) -> Outcome | BaseException:
        if waiting.finished.is_set():  # cancelled: nobody to run it for
            return Cancelled("The request was cancelled by its caller.")
        try:
            return self._call([waiting])[0]
        except BaseException as e:
            return e

    def _call(self, batch: list[_Waiting[Job]]) -> Sequence[Outcome | BaseException]:
        started = time.perf_counter()
        try:
            outcomes = self._run(Batch([w.job for w in batch], [w.report for w in batch], [w.stop for w in batch]))
        finally:
            self._last_call_s = time.perf_counter() - started
        if len(outcomes) != len(batch):
            raise RuntimeError(f"a batch of {len(batch)} jobs gave {len(outcomes)} outcomes")
        return outcomes

"""Generation as a stream of events: progress while the model works, then the result.

The model classes' methods are generators, so the same events reach a caller in-process
(iterating `.local()`), on Modal (`remote_gen.aio`) and, through the backends, the browser.
The events are declared, and made, in models/common/events.py: plain dicts, so they cross
process boundaries without our classes. Here: how a model reports a step (`Report`, and
`throttled` for models with more steps than a bar can show), the one thread a model's work
runs on (`ModelThread`), and `stream`, which turns a model's step callbacks into events.

Web side too: no torch here.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from models.common.events import ModelEvent, Preview, ProgressEvent, ResultEvent, progress_event


class Report(Protocol):
    """How a model reports a step: `done` of `total` in `stage`, with a preview now and then."""

    def __call__(self, done: int, total: int, stage: str, preview: Preview | None = None) -> None: ...


def throttled(report: Report, every_s: float = 0.2) -> Report:
    """`report`, passing on a step only if it is the last (done == total) or `every_s` has passed
    since the last one passed on; steps with a preview always pass. For step counts a bar can't
    show: MusicGen takes 50 steps per second of audio, and every event is a handoff between the
    model's thread and the caller's in the middle of the token loop."""
    last = [float("-inf")]

    def report_some(done: int, total: int, stage: str, preview: Preview | None = None) -> None:
        now = time.monotonic()
        if preview is not None or done >= total or now - last[0] >= every_s:
            last[0] = now
            report(done, total, stage, **({"preview": preview} if preview is not None else {}))

    return report_some


class ModelThread:
    """The one thread that runs a model instance's work, the same one for every request.

    With a new thread per request, Atelier's SDXL-Turbo twin call took 0.46 s on an H200 where
    the plain call took 0.12 s (bench/results/models-2026-11-28-h200-sdxl-turbo.md). PyTorch keeps
    state per thread (cuDNN's convolution plans are thread_local in ATen's cudnn/Conv_v8.cpp), so
    one long-lived thread is the cheap, safe shape whatever the cause; but pytorch/pytorch#191617
    measured new threads reusing plans quickly on Linux with cudnn.benchmark off, so that gap's
    cause is not established. bench_models' `plain[thread]` row on the next GPU run tells.
    The thread starts at the first request, so a memory snapshot sees none; the executor's
    thread holds it only weakly, so a dropped model takes its thread with it.
    """

    def __init__(self, name: str):
        self.name = name
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, work: Callable[[], Any]) -> Future:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        return self._executor.submit(work)


def stream(work: Callable[[Report], ResultEvent], on: ModelThread | None = None) -> Iterator[ModelEvent]:
    """Run `work(report)` in another thread (a new one, or the model thread `on`) and yield its
    progress events as they happen.

    The models' step callbacks run deep inside library code, where a generator can't yield;
    a thread and a queue turn those callbacks into events. `work`'s return value is yielded
    last; its exception is re-raised here, in the caller's thread.
    """
    events: queue.Queue[ProgressEvent | None] = queue.Queue()  # None: `work` has ended
    outcome: dict[str, Any] = {}

    def report(done: int, total: int, stage: str, preview: Preview | None = None) -> None:
        events.put(progress_event(done, total, stage, preview))

    def run() -> None:
        try:
            outcome["value"] = work(report)
        except BaseException as e:  # handed to the consumer, which re-raises it
            outcome["error"] = e
        finally:
            events.put(None)

    if on is not None:
        on.submit(run)  # `run` puts None last: once it is here, nothing of `run` is left to wait for
    else:
        threading.Thread(target=run, name="atelier-generate", daemon=True).start()
    while (event := events.get()) is not None:
        yield event
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["value"]

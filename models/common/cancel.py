"""Stopping a call partway: every call has an id, whoever started it may ask it to stop, and the
model looks between steps and stops there.

    web side (ui/generation/)                   model side (a GPU container, or this process)
    a backend starts call <id> ───────────────▶ STOPS.watch(<id>) → a Stop, looked at every step
    its caller went away: ask <id> to stop ───▶ Stop.set(): its callbacks run at once (a request
                                                still waiting leaves its line), and the next
                                                step's check() raises Cancelled

Locally the web side and the models share a process: the local backend calls STOPS.request(id),
which sets the Stop directly. On Modal they don't. The web container writes the id as a key of a
`modal.Dict` (app.py defines it, named by `flags_name`; the ModalBackend writes it), and each GPU
container that is running calls reads that Dict for the ids of its own calls every POLL_S
seconds, in one thread per container, only while it has calls (app.py hands the Dict to STOPS
with `use_flags`). So a Modal call stops within POLL_S plus one step of being asked, and its
container is free for the next input.

Why flags, and not Modal's own cancellation (read in modal 1.6.4's _functions.py): the backends
stream progress with `remote_gen`, which makes no FunctionCall anyone could cancel (only
`spawn` returns one, and `spawn` can't run a generator); closing the stream does not end the
remote input (`_Invocation.run_generator` only stops reading); and an image container takes
several visitors' inputs at once (`@modal.concurrent`, one batch), so even where a FunctionCall
exists, ending its input means `cancel(terminate_containers=True)`, which would end every other
visitor's work in that container. A flag lets the model drop one caller's work at a step.

Web side too: no torch here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from models.common.errors import Cancelled
from models.common.events import Preview
from models.common.progress import Report

log = logging.getLogger("atelier.cancel")

POLL_S = 0.5  # how often a GPU container reads the flags of the calls it is running
EARLY_KEPT_S = 600.0  # a request for a call this process hasn't started yet is kept this long


def flags_name(app_name: str) -> str:
    """The modal.Dict of a deployment's stop flags (`atelier-stops`): one per app, as its Volumes."""
    return f"{app_name}-stops"


class Stop:
    """One call's stop flag. Set once, by whoever cancels; looked at by the model between steps
    (`check`); `on_set` callbacks run when it is set, in the setter's thread (or at once, if it
    already is)."""

    def __init__(self) -> None:
        self._set = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def set(self) -> None:
        with self._lock:
            if self._set.is_set():
                return
            self._set.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def is_set(self) -> bool:
        return self._set.is_set()

    def check(self) -> None:
        """Raise Cancelled if the call has been asked to stop: the model calls this between steps."""
        if self._set.is_set():
            raise Cancelled("The call was cancelled by its caller.")

    def on_set(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self._set.is_set():
                self._callbacks.append(callback)
                return
        callback()


def stopping(report: Report, stop: Stop) -> Report:
    """`report`, which first raises Cancelled once `stop` is set. A model calls its report at every
    step deep inside a library's loop (a MusicGen token, an audiocraft LM step), where nothing
    else of ours runs: raising there ends the library's call at that step."""

    def report_or_stop(done: int, total: int, stage: str, preview: Preview | None = None) -> None:
        stop.check()
        report(done, total, stage, **({"preview": preview} if preview is not None else {}))

    return report_or_stop


class Flags(Protocol):
    """Where stop requests arrive from another process: a `modal.Dict` is one (its `get` and `pop`)."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def pop(self, key: str, default: Any = None) -> Any: ...


class Stops:
    """The Stops of the calls this process runs, by call id, and where requests to stop them land."""

    def __init__(self, flags: Flags | None = None, poll_s: float = POLL_S) -> None:
        self.flags, self.poll_s = flags, poll_s
        self._lock = threading.Lock()
        self._watched: dict[str, Stop] = {}
        self._early: dict[str, float] = {}  # asked before the call started here: id → when
        self._polling = False

    @contextmanager
    def watch(self, call_id: str | None) -> Iterator[Stop]:
        """The call's Stop while it runs (a call without an id gets one nobody can set)."""
        stop = Stop()
        if call_id is None:
            yield stop
            return
        with self._lock:
            self._watched[call_id] = stop
            early = self._early.pop(call_id, None) is not None
            start_polling = self.flags is not None and not self._polling
            self._polling = self._polling or start_polling
        if early:
            stop.set()
        if start_polling:
            threading.Thread(target=self._poll, name="atelier-stop-flags", daemon=True).start()
        try:
            yield stop
        finally:
            with self._lock:
                self._watched.pop(call_id, None)

    def request(self, call_id: str) -> None:
        """Ask a call of this process to stop: at once if it is running, else when it starts."""
        now = time.monotonic()
        with self._lock:
            stop = self._watched.get(call_id)
            if stop is None:
                self._early = {k: at for k, at in self._early.items() if now - at < EARLY_KEPT_S}
                self._early[call_id] = now
        if stop is not None:
            stop.set()

    def _poll(self) -> None:
        """Read the flags of the calls running here until none is left (GPU containers)."""
        while True:
            with self._lock:
                watched = dict(self._watched)
                if not watched:
                    self._polling = False
                    return
            for call_id, stop in watched.items():
                if stop.is_set():
                    continue
                try:
                    if self.flags.get(call_id) is not None:
                        self.flags.pop(call_id, None)  # read once: the call is stopping
                        stop.set()
                except Exception as e:  # a flag read failed: the call goes on, and the next poll asks again
                    log.warning("reading the stop flag of call %s failed: %s: %s", call_id, type(e).__name__, e)
            time.sleep(self.poll_s)


STOPS = Stops()  # this process's calls; app.py gives it the deployment's flags in GPU containers


def use_flags(flags: Flags) -> None:
    """Stop requests for this process's calls arrive through `flags` (app.py: the deployment's modal.Dict)."""
    STOPS.flags = flags

"""Stopping a call partway, on the model side (models/common/cancel.py): the Batcher lets a
cancelled request go at once, waiting or running, while the others in its batch get the very
bytes they would have had; music stops at its next decoding step; and a GPU container reads its
calls' flags from a modal.Dict, here a named test double of one."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from models.common.batching import Batch, Batcher
from models.common.cancel import STOPS, Stop, Stops
from models.common.errors import Cancelled
from models.requests import ImageRequest, MusicRequest
from tests.support.images import placed_generator

# --- the Batcher, on a test double of a model call ----------------------------------------------


class SteppingRun:
    """TEST DOUBLE of a model call: `steps` steps of `step_s` each, reporting each (the Batch
    checks its Stops there, as a pipeline's step callback does); records each batch it ran and
    whether it ran to the end."""

    def __init__(self, steps: int = 20, step_s: float = 0.02):
        self.steps, self.step_s = steps, step_s
        self.batches: list[list[str]] = []
        self.finished: list[list[str]] = []

    def __call__(self, batch: Batch[dict]) -> list[str]:
        names = [job["name"] for job in batch.jobs]
        self.batches.append(names)
        for step in range(1, self.steps + 1):
            time.sleep(self.step_s)
            batch.report(step, self.steps, "working")
        self.finished.append(names)
        return [f"done {name}" for name in names]


def run_in_threads(batcher: Batcher, jobs: list[dict], stops: dict[str, Stop]) -> dict:
    """Submit every job from its own thread at once; each one's outcome or exception, and when it came."""
    outcomes: dict = {}

    def one(job):
        try:
            outcome = batcher.submit(job, lambda *a, **k: None, stops.get(job["name"]))
        except Exception as e:
            outcome = e
        outcomes[job["name"]] = (outcome, time.monotonic())

    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(one, jobs))
    return outcomes


def test_a_cancelled_request_leaves_its_running_batch_at_once_and_the_others_go_on():
    run = SteppingRun(steps=25, step_s=0.02)  # half a second
    batcher = Batcher(run, key=lambda job: 0, max_size=4, window_s=0.2)
    stops = {"b": Stop()}
    threading.Timer(0.35, stops["b"].set).start()  # while the batch of four is running
    started = time.monotonic()
    outcomes = run_in_threads(batcher, [{"name": n} for n in "abcd"], stops)
    assert [sorted(b) for b in run.batches] == [list("abcd")] and len(run.finished) == 1
    assert isinstance(outcomes["b"][0], Cancelled)
    assert outcomes["b"][1] - started < 0.5  # let go when asked, not when the call ended
    assert {n: outcomes[n][0] for n in "acd"} == {n: f"done {n}" for n in "acd"}


def test_a_cancelled_request_that_is_waiting_leaves_the_line_at_once():
    run = SteppingRun(steps=25, step_s=0.02)
    batcher = Batcher(run, key=lambda job: job["key"], max_size=1, window_s=0.0)
    stops = {"second": Stop()}
    threading.Timer(0.1, stops["second"].set).start()  # "first" is running, "second" waits behind it
    started = time.monotonic()
    outcomes = run_in_threads(batcher, [{"name": "first", "key": 1}, {"name": "second", "key": 1}], stops)
    assert isinstance(outcomes["second"][0], Cancelled) and outcomes["second"][1] - started < 0.3
    assert run.batches == [["first"]] and outcomes["first"][0] == "done first"  # never run at all


def test_a_batch_whose_every_request_was_cancelled_ends_at_its_next_step():
    run = SteppingRun(steps=100, step_s=0.02)  # two seconds if it ran to the end
    batcher = Batcher(run, key=lambda job: 0, max_size=2, window_s=0.1)
    stops = {"a": Stop(), "b": Stop()}
    threading.Timer(0.2, stops["a"].set).start()
    threading.Timer(0.3, stops["b"].set).start()
    outcomes = run_in_threads(batcher, [{"name": "a"}, {"name": "b"}], stops)
    assert all(isinstance(outcome, Cancelled) for outcome, _ in outcomes.values())
    deadline = time.monotonic() + 1
    while batcher.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not batcher.busy and run.finished == []  # the call stopped; nothing ran to the end, nor again alone
    assert batcher.submit({"name": "next"}, lambda *a, **k: None) == "done next"  # the model is free


# --- the real tiny image model -----------------------------------------------------------------


@pytest.fixture(scope="module")
def generator():
    return placed_generator("tiny")


def test_a_batch_of_four_with_one_cancelled_gives_the_other_three_their_usual_images(generator):
    jobs = [ImageRequest(prompt=f"visitor {i}", seed=40 + i, steps=6).resolve("tiny") for i in range(4)]
    generator.batcher.window_s = 1.0  # wide: the four threads below surely meet in one batch

    def batch(cancel: int | None) -> list:
        stops = [Stop() for _ in jobs]

        def one(i: int):
            def report(done, total, stage, preview=None):
                if i == cancel and done >= 2:  # two steps into the shared call
                    stops[i].set()
            try:
                return generator.batcher.submit(jobs[i], report, stops[i])
            except Cancelled as e:
                return e

        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(one, range(4)))

    usual, cancelled = batch(cancel=None), batch(cancel=1)
    assert isinstance(cancelled[1], Cancelled)
    for i in (0, 2, 3):
        assert cancelled[i]["record"]["batch"] == {"requests": 4, "images": 4}  # they shared one call
        assert cancelled[i]["files"][0]["data"] == usual[i]["files"][0]["data"]  # byte for byte


def test_an_image_call_asked_to_stop_ends_its_stream_without_a_result(model_classes):
    model = model_classes["image"](preset="tiny")
    job = ImageRequest(prompt="stop me", seed=1, steps=10).resolve("tiny")
    list(model.generate.local(job))  # loaded
    events = []
    for event in model.generate.local(job, "call-image-1"):
        events.append(event)
        if event["type"] == "progress" and event["done"] >= 2:
            STOPS.request("call-image-1")
    assert events and all(e["type"] == "progress" for e in events)


# --- the real tiny music model -----------------------------------------------------------------


def test_a_200_s_tiny_clip_cancelled_after_1_s_frees_its_model_within_2_s(model_classes):
    model = model_classes["music"](preset="tiny")
    list(model.generate.local(MusicRequest(prompt="warm up", duration=1).resolve("tiny")))  # loaded
    job = MusicRequest(prompt="a very long one", duration=200, seed=3).resolve("tiny")
    events: list = []
    consumer = threading.Thread(target=lambda: events.extend(model.generate.local(job, "call-music-1")))
    consumer.start()
    time.sleep(1.0)
    asked = time.monotonic()
    STOPS.request("call-music-1")
    consumer.join(timeout=10)
    freed = time.monotonic() - asked
    assert not consumer.is_alive() and freed < 2.0, f"freed after {freed:.2f} s"
    assert events and events[-1]["type"] == "progress" and events[-1]["done"] < 200_000  # stopped partway
    started = time.monotonic()
    *_, result = model.generate.local(MusicRequest(prompt="next", duration=1).resolve("tiny"))
    assert result["type"] == "result" and time.monotonic() - started < 10  # the model serves the next one


# --- flags from another process (Modal): a named test double of modal.Dict --------------------


class ModalDictDouble:
    """TEST DOUBLE of a `modal.Dict` (its get/pop/put): what the web container writes and a GPU
    container reads, in memory; counts reads, so a test sees polling start and stop."""

    def __init__(self):
        self.items: dict = {}
        self.reads = 0
        self.lock = threading.Lock()

    def get(self, key, default=None):
        with self.lock:
            self.reads += 1
            return self.items.get(key, default)

    def pop(self, key, default=None):
        with self.lock:
            return self.items.pop(key, default)

    def put(self, key, value):
        with self.lock:
            self.items[key] = value


def test_a_gpu_container_reads_its_calls_flags_and_stops_within_a_poll():
    flags = ModalDictDouble()
    stops = Stops(flags, poll_s=0.05)
    with stops.watch("remote-call") as stop:
        time.sleep(0.12)
        assert not stop.is_set() and flags.reads >= 2  # polling while the call runs
        flags.put("remote-call", time.time())  # what ModalBackend writes when the caller goes away
        deadline = time.monotonic() + 1
        while not stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stop.is_set() and "remote-call" not in flags.items  # read once, and cleared
    time.sleep(0.15)
    reads = flags.reads
    time.sleep(0.15)
    assert flags.reads == reads  # no call left: no more reads


def test_a_request_that_arrives_before_its_call_starts_stops_it_as_it_starts():
    stops = Stops()
    stops.request("early")
    with stops.watch("early") as stop:
        assert stop.is_set()
        with pytest.raises(Cancelled):
            stop.check()
    with stops.watch("early") as stop:  # used once
        assert not stop.is_set()

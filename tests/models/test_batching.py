"""Batching across visitors: which requests share a call, what each still gets for itself, and
that the tiny image model makes the same image for a seed alone or in a batch.

The Batcher tests run it on a recording test double (a `run` that notes each batch), which
isolates the grouping rules from any model; the image tests use the real tiny pipeline.
"""

from __future__ import annotations

import asyncio
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from models.common import batching
from models.common.batching import Batch, Batcher
from models.image.generator import ImageGenerator, batch_key
from models.requests import ImageRequest
from tests.support.images import placed_generator
from ui.errors import GenerationError
from ui.generation import LocalBackend

# --- the Batcher, on a test double -----------------------------------------------------------


class RecordingRun:
    """A stand-in model call: holds the first batch until released, records every batch, and
    fails any job named "bad" (the whole call fails, as a real pipeline would)."""

    def __init__(self, hold_first: bool = True):
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, batch: Batch[dict]) -> list[str]:
        names = [job["name"] for job in batch.jobs]
        self.batches.append(names)
        self.release.wait(10)
        for step in range(1, 3):
            batch.report(step, 2, "working")
        if "bad" in names:
            raise ValueError("a bad job")
        return [f"done {name}" for name in names]


def submit_all(batcher: Batcher, run: RecordingRun, jobs: list[dict]) -> tuple[list, dict[str, list]]:
    """Submit each job from its own thread, in order, while the model is held busy with the
    first; then let it go. (outcomes or exceptions, progress per job)."""
    progress: dict[str, list] = {job["name"]: [] for job in jobs}

    def one(job):
        try:
            return batcher.submit(job, lambda done, total, stage: progress[job["name"]].append(done))
        except Exception as e:
            return e

    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = []
        futures.append(pool.submit(one, jobs[0]))
        wait_until(lambda: run.batches == [[jobs[0]["name"]]])  # the model is now busy with it
        for job in jobs[1:]:
            futures.append(pool.submit(one, job))
            wait_until(lambda: batcher.pending == len(futures) - 1)
        run.release.set()
        return [f.result() for f in futures], progress


def wait_until(condition, timeout_s: float = 10) -> None:
    done = threading.Event()
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        done.wait(0.005)
    raise AssertionError("timed out")


def key_of(job: dict):
    return job["size"]


def test_compatible_requests_that_wait_together_share_one_call():
    run = RecordingRun(hold_first=True)
    batcher = Batcher(run, key=key_of, max_size=8, window_s=0)
    jobs = [{"name": "first", "size": 64}] + [{"name": f"v{i}", "size": 64} for i in range(4)]
    outcomes, progress = submit_all(batcher, run, jobs)  # the model is busy with "first" meanwhile
    assert run.batches == [["first"], ["v0", "v1", "v2", "v3"]]
    assert outcomes == [f"done {job['name']}" for job in jobs]
    assert all(steps == [1, 2] for steps in progress.values())  # every visitor sees every step


def test_incompatible_requests_run_apart_and_batches_respect_their_size():
    run = RecordingRun(hold_first=True)
    batcher = Batcher(run, key=key_of, size=lambda job: job["images"], max_size=4, window_s=0)
    jobs = [
        {"name": "first", "size": 64, "images": 1},
        {"name": "a", "size": 64, "images": 3},
        {"name": "b", "size": 128, "images": 1},  # another size: another call
        {"name": "c", "size": 64, "images": 2},  # a + c would be 5 images: over the limit
        {"name": "d", "size": 64, "images": 1},
    ]
    outcomes, _ = submit_all(batcher, run, jobs)
    assert run.batches == [["first"], ["a", "d"], ["b"], ["c"]]  # oldest first, compatible ones join it
    assert all(isinstance(o, str) for o in outcomes)


def test_a_failing_request_fails_alone_and_its_batch_mates_get_their_results():
    run = RecordingRun(hold_first=True)
    batcher = Batcher(run, key=key_of, max_size=8, window_s=0)
    jobs = [{"name": "first", "size": 64}, {"name": "ok1", "size": 64}, {"name": "bad", "size": 64},
            {"name": "ok2", "size": 64}]
    outcomes, _ = submit_all(batcher, run, jobs)
    assert run.batches[:2] == [["first"], ["ok1", "bad", "ok2"]]
    assert run.batches[2:] == [["ok1"], ["bad"], ["ok2"]]  # the failed batch, each alone
    assert outcomes[0] == "done first" and outcomes[1] == "done ok1" and outcomes[3] == "done ok2"
    assert isinstance(outcomes[2], ValueError)
    assert batcher.submit({"name": "after", "size": 64}, lambda *a: None) == "done after"  # still serving


def test_a_lone_request_does_not_wait_for_company_beyond_the_window():
    run = RecordingRun(hold_first=False)
    batcher = Batcher(run, key=key_of, max_size=8, window_s=0.01)
    assert batcher.submit({"name": "alone", "size": 64}, lambda *a: None) == "done alone"
    assert run.batches == [["alone"]]
    wait_until(lambda: not batcher.busy)  # idle again: nothing running


def test_after_a_call_a_lone_request_waits_at_most_a_tenth_of_it():
    """The window shrinks to WINDOW_SHARE of the model's last call, so a lone visitor of a fast
    model (a turbo model on a GPU) pays a tenth of a call for the chance of company, not 25 ms."""
    import time

    def run(batch):  # a stand-in model call of at least 50 ms
        time.sleep(0.05)
        return ["done"] * len(batch.jobs)

    # A window no test could sit out; max_size 1, so the first request's batch is full at once.
    batcher = Batcher(run, key=key_of, max_size=1, window_s=10.0)
    assert batcher.window == 10.0  # before any call: the whole window
    started = time.perf_counter()
    batcher.submit({"name": "first", "size": 64}, lambda *a: None)
    whole = time.perf_counter() - started
    # The call took at least 50 ms, and less than the whole request around it.
    assert batching.WINDOW_SHARE * 0.05 <= batcher.window < batching.WINDOW_SHARE * whole


def test_every_batch_runs_on_the_same_model_thread_which_goes_with_its_batcher():
    """One thread per model instance, the same from one request to the next, whatever PyTorch
    keeps per thread (models/common/progress.py `ModelThread`)."""
    import gc
    import weakref

    threads = []

    def run(batch):
        threads.append(threading.current_thread())
        return ["done"] * len(batch.jobs)

    def three_bursts() -> weakref.ref:
        batcher = Batcher(run, key=key_of, max_size=8, window_s=0.0, name="atelier-batcher-test")
        for name in ("one", "two", "three"):
            assert batcher.submit({"name": name, "size": 64}, lambda *a: None) == "done"
            wait_until(lambda: not batcher.busy)  # each its own burst of work
        return weakref.ref(batcher)

    gone = three_bursts()
    assert len(set(threads)) == 1 and threads[0] is not threading.current_thread()
    assert threads[0].name.startswith("atelier-batcher-test")
    thread = weakref.ref(threads.pop())
    gc.collect()
    assert gone() is None  # the idle thread doesn't keep the batcher (and its model) alive
    wait_until(lambda: thread() is None or not thread().is_alive())


def test_side_work_runs_on_the_model_thread_between_batches_never_beside_one():
    """Batcher.call (an annotation, say) waits for the running batch, runs on the model thread before the
    next batch, and hands back its value or its error."""
    run = RecordingRun(hold_first=True)
    batcher = Batcher(run, key=key_of, max_size=8, window_s=0, name="atelier-batcher-side")
    order, threads = [], []

    def side(value):
        threads.append(threading.current_thread().name)
        order.append(("call", list(run.batches)))
        if value == "bad":
            raise ValueError("a bad picture")
        return value

    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(batcher.submit, {"name": "first", "size": 64}, lambda *a: None)
        wait_until(lambda: run.batches == [["first"]])  # a batch is running
        called = pool.submit(batcher.call, lambda: side("edges"))
        wait_until(lambda: batcher._calls)
        later = pool.submit(batcher.submit, {"name": "later", "size": 64}, lambda *a: None)
        wait_until(lambda: batcher.pending == 1)
        assert order == []  # nothing ran beside the batch
        run.release.set()
        assert (first.result(), called.result(), later.result()) == ("done first", "edges", "done later")
    assert order == [("call", [["first"]])]  # after the first batch, before the later one
    assert threads[0].startswith("atelier-batcher-side")
    with pytest.raises(ValueError, match="a bad picture"):
        batcher.call(lambda: side("bad"))
    assert batcher.submit({"name": "after", "size": 64}, lambda *a: None) == "done after"


# --- the tiny image model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator() -> ImageGenerator:
    return placed_generator("tiny")


def jobs(guidance: float) -> list:
    return [
        ImageRequest(prompt=p, seed=s, num_images=n, guidance=guidance, negative_prompt=neg).resolve("tiny")
        for p, s, n, neg in (("a red fox", 1, 1, ""), ("a harbour at dusk", 2, 2, ""), ("snow", 3, 1, ""))
    ]


def pixels(result: dict) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(f["data"]))) for f in result["files"]]


def no_progress(*_, **__):
    return None


def test_without_guidance_a_batch_keeps_each_seeds_image(generator):
    """Turbo presets run without classifier-free guidance: a batch changes a seed's image by at
    most one 8-bit level on a few pixels. (On the Xeon measured first, not at all; on an AMD EPYC
    without AVX-512, one pixel in 12,288 moved by one level: the CPU's matrix kernels block a
    batch of four differently from a batch of one, so sums run in another order.)"""
    together = generator._run_batch(Batch(jobs(0.0), [no_progress] * 3))
    for job, batched in zip(jobs(0.0), together, strict=True):
        (alone,) = generator._run_batch(Batch([job], [no_progress]))
        for a, b in zip(pixels(alone), pixels(batched), strict=True):
            moved = np.abs(a.astype(int) - b.astype(int))
            assert moved.max() <= 1 and (moved > 0).mean() < 0.001, job.prompt
        assert batched["record"]["batch"] == {"requests": 3, "images": 4}
        assert alone["record"]["batch"] == {"requests": 1, "images": 1 * job.num_images}


def test_with_guidance_a_batch_keeps_each_seeds_image_to_within_rounding(generator):
    """With classifier-free guidance the batched float maths differs from the lone call in the
    last bits (1e-6 here), which can move a pixel by one 8-bit level; nothing more."""
    together = generator._run_batch(Batch(jobs(5.0), [no_progress] * 3))
    for job, batched in zip(jobs(5.0), together, strict=True):
        (alone,) = generator._run_batch(Batch([job], [no_progress]))
        for a, b in zip(pixels(alone), pixels(batched), strict=True):
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_batch_key_separates_what_changes_the_call():
    base = ImageRequest(prompt="x", seed=1).resolve("tiny")
    same = [base.model_copy(update=u) for u in ({"prompt": "other"}, {"seed": 9}, {"num_images": 3})]
    different = [base.model_copy(update=u) for u in ({"width": 128}, {"steps": 3}, {"guidance": 2.0},
                                                      {"negative_prompt": "blurry"})]
    assert all(batch_key(j) == batch_key(base) for j in same)
    assert all(batch_key(j) != batch_key(base) for j in different)


# --- the local backend lets compatible requests meet ------------------------------------------


def test_local_backend_batches_simultaneous_visitors(model_classes, monkeypatch):
    monkeypatch.setattr(batching, "WINDOW_S", 1.0)  # read when the model loads; wide, so the test can't miss it
    backend = LocalBackend(model_classes, {"image": "tiny", "music": "tiny", "video": "tiny-video"})

    async def one(prompt: str, seed: int) -> dict:
        async for event in backend.generate(ImageRequest(prompt=prompt, seed=seed).resolve("tiny")):
            if event["type"] == "result":
                return event
        raise AssertionError("no result")

    async def scenario():
        await one("warm up: loads the model", 1)
        return await asyncio.gather(*(one(f"visitor {i}", 10 + i) for i in range(4)))

    results = asyncio.run(scenario())
    assert [r["record"]["parameters"]["prompt"] for r in results] == [f"visitor {i}" for i in range(4)]
    assert {r["record"]["batch"]["requests"] for r in results} == {4}
    alone = list(model_classes["image"](preset="tiny").generate.local(
        ImageRequest(prompt="visitor 2", seed=12).resolve("tiny")))[-1]
    assert alone["files"][0]["data"] == results[2]["files"][0]["data"]  # as if it had come alone


def test_local_backend_still_reports_a_model_failure_as_such(model_classes):
    backend = LocalBackend(model_classes, {"image": "tiny", "music": "tiny", "video": "tiny-video"})

    async def scenario():
        async for _ in backend.generate(ImageRequest(prompt="x", preset="sd-turbo").resolve("tiny")):
            pass

    with pytest.raises(GenerationError, match="sd-turbo"):  # no weights here: unavailable, said so
        asyncio.run(scenario())

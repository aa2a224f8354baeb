"""The local backend under concurrency: real tiny models, plus a test double for timing."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from models.common.errors import RequestError
from models.common.events import progress_event, result_event
from models.requests import ImageJob, ImageRequest, MusicJob, MusicRequest
from ui.errors import GenerationError, ModelUnavailable
from ui.generation import LocalBackend


async def collect(backend, request) -> list[dict]:
    return [event async for event in backend.generate(backend.resolve(request))]


def test_several_generations_at_once_all_complete_with_ordered_progress(backend):
    requests = [ImageRequest(prompt=f"fox {i}", seed=i, steps=3) for i in range(4)] + [
        MusicRequest(prompt=f"beat {i}", duration=1, seed=i) for i in range(2)
    ]

    async def main():
        return await asyncio.gather(*(collect(backend, r) for r in requests))

    results = asyncio.run(main())
    for request, events in zip(requests, results):
        assert events[-1]["type"] == "result"
        assert events[-1]["record"]["seed"] == request.seed
        progress = [e["done"] for e in events if e["type"] == "progress"]
        assert progress == sorted(progress) and progress[-1] == events[1]["total"]
    # Four image jobs on one model instance: the first loads it alone, the rest wait and say so,
    # then go in together (the tiny preset batches), each with its own result.
    queued = [e for events in results[:4] for e in events if e["type"] == "queued"]
    assert sorted(e["position"] for e in queued) == [1, 2, 3]
    # Two music jobs: music doesn't batch, so the second waited for the first.
    assert [e["position"] for events in results[4:] for e in events if e["type"] == "queued"] == [1]


def test_a_failing_request_does_not_affect_the_others(backend):
    # sd-turbo's weights are not on this machine (the tests run with HF_HUB_OFFLINE=1).
    async def main():
        return await asyncio.gather(
            collect(backend, ImageRequest(prompt="fox", seed=1)),
            collect(backend, ImageRequest(prompt="fox", preset="sd-turbo")),
            collect(backend, MusicRequest(prompt="beat", duration=1)),
            return_exceptions=True,
        )

    ok_image, failed, ok_music = asyncio.run(main())
    assert isinstance(failed, ModelUnavailable)
    assert "stabilityai/sd-turbo is not in the local cache" in str(failed) and "--preset tiny" in str(failed)
    assert ok_image[-1]["type"] == "result" and ok_music[-1]["type"] == "result"
    states = {m["preset"]: m for m in backend.health()["models"]}
    assert states["sd-turbo"]["state"] == "failed" and "HF_HUB_OFFLINE" in states["sd-turbo"]["error"]
    assert states["tiny"]["state"] == "ready"


# --- serialisation, with a test double ------------------------------------------------------


class SleepyModelDouble:
    """Test double for a model class: sleeps instead of generating, and records overlap."""

    active = 0
    max_active = 0
    lock = threading.Lock()

    def __init__(self, preset: str):
        self.preset = preset
        self.generate = SimpleNamespace(local=self._generate)

    def _generate(self, job: ImageJob | MusicJob, call_id: str | None = None):
        with self.lock:
            SleepyModelDouble.active += 1
            SleepyModelDouble.max_active = max(SleepyModelDouble.max_active, SleepyModelDouble.active)
        try:
            for step in range(3):
                time.sleep(0.02)
                yield progress_event(step + 1, 3, "sleeping")
            if job.prompt == "fail":
                raise RuntimeError("boom")
            if job.prompt == "refuse":
                raise RequestError("This model refuses that request.")
            yield result_event([], {"seed": job.seed})
        finally:
            with self.lock:
                SleepyModelDouble.active -= 1


@pytest.mark.parametrize(("request_type", "capacity"), [(MusicRequest, 1), (ImageRequest, 8)], ids=["music", "image"])
def test_an_instance_never_takes_more_calls_than_it_can_even_when_callers_go_away(request_type, capacity):
    """Music runs one call at a time per instance; the tiny image preset takes up to its
    max_batch (8) at once, for its batcher. The first call, which loads the model, runs alone."""
    SleepyModelDouble.max_active = 0
    backend = LocalBackend({"image": SleepyModelDouble, "music": SleepyModelDouble}, {"image": "tiny", "music": "tiny", "video": "tiny-video"})

    async def abandon_early():
        agen = backend.generate(backend.resolve(request_type(prompt="fox")))
        await agen.__anext__()  # start it, then walk away mid-generation
        await agen.aclose()

    async def main():
        await abandon_early()
        return await asyncio.gather(*(collect(backend, request_type(prompt="fox", seed=i)) for i in range(12)))

    results = asyncio.run(main())
    assert SleepyModelDouble.max_active == capacity
    assert [r[-1]["record"]["seed"] for r in results] == list(range(12))


def test_a_model_error_becomes_a_generation_error_and_the_model_keeps_serving():
    backend = LocalBackend({"image": SleepyModelDouble, "music": SleepyModelDouble}, {"image": "tiny", "music": "tiny", "video": "tiny-video"})

    async def main():
        with pytest.raises(GenerationError, match="The tiny image model failed: RuntimeError: boom"):
            await collect(backend, ImageRequest(prompt="fail"))
        return await collect(backend, ImageRequest(prompt="fine", seed=3))

    assert asyncio.run(main())[-1]["record"]["seed"] == 3


def test_a_request_the_model_itself_refuses_stays_a_request_error():
    """A model's own check (e.g. a feature its preset lacks) is the caller's to fix: a 4xx, not a 502."""
    backend = LocalBackend({"image": SleepyModelDouble, "music": SleepyModelDouble}, {"image": "tiny", "music": "tiny", "video": "tiny-video"})
    with pytest.raises(RequestError, match="refuses"):
        asyncio.run(collect(backend, ImageRequest(prompt="refuse")))


def test_generation_never_blocks_the_event_loop():
    backend = LocalBackend({"image": SleepyModelDouble, "music": SleepyModelDouble}, {"image": "tiny", "music": "tiny", "video": "tiny-video"})
    ticks = []

    async def ticker():
        for _ in range(10):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    async def main():
        await asyncio.gather(collect(backend, ImageRequest(prompt="fox")), ticker())

    asyncio.run(main())
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.05  # a blocked loop would stall for the whole 60 ms generation

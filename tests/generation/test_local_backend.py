"""The local backend under concurrency: real tiny models, plus a test double for timing."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from models.requests import ImageRequest, MusicRequest
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
    # Four image jobs on one model instance: all but the first waited their turn, and said so.
    queued = [e for events in results[:4] for e in events if e["type"] == "queued"]
    assert sorted(e["position"] for e in queued) == [1, 2, 3]


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

    def _generate(self, job: dict):
        with self.lock:
            SleepyModelDouble.active += 1
            SleepyModelDouble.max_active = max(SleepyModelDouble.max_active, SleepyModelDouble.active)
        try:
            for step in range(3):
                time.sleep(0.02)
                yield {"type": "progress", "done": step + 1, "total": 3, "stage": "sleeping"}
            if job["prompt"] == "fail":
                raise RuntimeError("boom")
            yield {"type": "result", "files": [], "record": {"seed": job["seed"]}}
        finally:
            with self.lock:
                SleepyModelDouble.active -= 1


def test_one_instance_runs_one_call_at_a_time_even_when_callers_go_away():
    backend = LocalBackend({"image": SleepyModelDouble, "music": SleepyModelDouble}, {"image": "tiny", "music": "tiny"})

    async def abandon_early():
        agen = backend.generate(backend.resolve(ImageRequest(prompt="fox")))
        await agen.__anext__()  # start it, then walk away mid-generation
        await agen.aclose()

    async def main():
        await abandon_early()
        return await asyncio.gather(*(collect(backend, ImageRequest(prompt="fox", seed=i)) for i in range(5)))

    results = asyncio.run(main())
    assert SleepyModelDouble.max_active == 1
    assert [r[-1]["record"]["seed"] for r in results] == list(range(5))


def test_a_model_error_becomes_a_generation_error_and_the_model_keeps_serving():
    backend = LocalBackend({"image": SleepyModelDouble, "music": SleepyModelDouble}, {"image": "tiny", "music": "tiny"})

    async def main():
        with pytest.raises(GenerationError, match="The tiny image model failed: RuntimeError: boom"):
            await collect(backend, ImageRequest(prompt="fail"))
        return await collect(backend, ImageRequest(prompt="fine", seed=3))

    assert asyncio.run(main())[-1]["record"]["seed"] == 3


def test_generation_never_blocks_the_event_loop():
    backend = LocalBackend({"image": SleepyModelDouble, "music": SleepyModelDouble}, {"image": "tiny", "music": "tiny"})
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

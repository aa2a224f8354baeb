"""Stopping work from the web side: a caller who goes away frees its model, a job can be cancelled
(and says so, to its listeners and its webhook), a synchronous request whose client hangs up
stops, and every caller waiting for a model is told its place in line as the line moves.
The Modal backend is driven offline with named test doubles of a GPU class and of modal.Dict."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import httpx
import pytest

from models.common.events import progress_event
from models.requests import ImageRequest, MusicRequest
from tests.support.api_doubles import WebhookReceiver, serving
from ui.gate import Ticket
from ui.generation import LocalBackend, ModalBackend, generate
from ui.settings import API_ENV_VARS
from ui.web import create_app

TINY = {"image": "tiny", "music": "tiny"}
SECRET = "whsec-test-0123456789"


def music_slot(backend: LocalBackend):
    return backend._slots[("music", "tiny")]


async def until(condition, timeout_s: float) -> float:
    """Seconds until `condition()` holds; fails after `timeout_s`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def warm(backend, store) -> None:
    async for _ in generate(backend, store, MusicRequest(prompt="warm up", duration=1).resolve("tiny"), Ticket.local()):
        pass


# --- the local backend ---------------------------------------------------------------------------


def test_a_200_s_clip_whose_caller_goes_away_after_1_s_frees_its_model_within_2_s(backend, store):
    async def scenario():
        await warm(backend, store)
        saved_before = len(store)
        long_clip = MusicRequest(prompt="long", duration=200).resolve("tiny")
        long = asyncio.ensure_future(_drain(generate(backend, store, long_clip, Ticket.local())))
        await asyncio.sleep(1.0)
        assert music_slot(backend).running == 1
        long.cancel()  # the visitor closed the tab, pressed Stop, hung up...
        freed = await until(lambda: music_slot(backend).running == 0, timeout_s=5)
        return freed, len(store) - saved_before

    freed, saved = asyncio.run(scenario())
    assert freed < 2.0, f"freed after {freed:.2f} s"
    assert saved == 0  # nothing was saved for it


async def _drain(events) -> list:
    return [event async for event in events]


def test_callers_waiting_for_a_model_are_told_their_place_as_the_line_moves(backend, store):
    """Music takes one call at a time: the callers behind it wait, first come first served; one
    who leaves the line leaves it at once, and those behind move up."""

    async def scenario():
        await warm(backend, store)
        seen: dict[int, list] = {i: [] for i in range(4)}

        async def caller(i: int, duration: float):
            clip = MusicRequest(prompt=f"c{i}", duration=duration).resolve("tiny")
            async for event in generate(backend, store, clip, Ticket.local()):
                if event["type"] == "queued":
                    seen[i].append(event["position"])

        first = asyncio.ensure_future(caller(0, 3))
        await until(lambda: music_slot(backend).running == 1, 10)
        waiting = [asyncio.ensure_future(caller(i, 1)) for i in (1, 2, 3)]
        await until(lambda: len(music_slot(backend).line) == 3, 10)
        waiting[0].cancel()  # the first in line goes away
        await until(lambda: len(music_slot(backend).line) == 2, 1)
        await asyncio.gather(first, *waiting[1:])
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == [] and seen[1] == [1]
    assert seen[2] == [2, 1] and seen[3] == [3, 2, 1]


# --- jobs ------------------------------------------------------------------------------------------


@pytest.fixture
def api(store, monkeypatch):
    def make(backend, **env):
        for name in API_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = create_app(backend, store)
        return app, httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://atelier.test")

    return make


def test_a_cancelled_job_ends_cancelled_frees_its_model_and_its_webhook_says_so(backend, store, api):
    with WebhookReceiver() as hook:
        app, client = api(backend, ATELIER_WEBHOOK_SECRET=SECRET, ATELIER_WEBHOOK_ALLOW_PRIVATE="1")

        async def scenario():
            async with client as c:
                await warm(backend, store)
                saved_before = len(store)
                job = (await c.post("/api/v1/jobs", json={"kind": "music", "request": {"prompt": "long", "duration": 200},
                                                          "callback_url": hook.url})).json()["job"]
                await until(lambda: music_slot(backend).running == 1, 10)
                listening = asyncio.ensure_future(c.get(f"/api/v1/jobs/{job['id']}/events"))  # ends with the job
                await asyncio.sleep(0.5)
                answer = await c.post(f"/api/v1/jobs/{job['id']}/cancel")
                again = await c.post(f"/api/v1/jobs/{job['id']}/cancel")  # idempotent
                freed = await until(lambda: music_slot(backend).running == 0, 5)
                stream = await asyncio.wait_for(listening, 10)
                final = (await c.get(f"/api/v1/jobs/{job['id']}")).json()
                later = await c.post(f"/api/v1/jobs/{job['id']}/cancel")  # a finished job: as it is
                await asyncio.to_thread(hook.arrived.wait, 10)
                return answer, again, freed, stream, final, later, len(store) - saved_before

        answer, again, freed, stream, final, later, saved = asyncio.run(scenario())
    assert answer.status_code == 200 and answer.json()["status"] in ("queued", "running")
    assert again.status_code == 200 and freed < 2.0
    assert final["status"] == "cancelled" and final["error"]["code"] == "cancelled" and final["result"] is None
    assert later.status_code == 200 and later.json()["status"] == "cancelled"
    assert [line for line in stream.text.splitlines() if line.startswith("event: ")][-1] == "event: cancelled"
    assert saved == 0
    (delivery,) = hook.payloads()
    assert delivery["event"] == "job.cancelled" and delivery["job"]["status"] == "cancelled"


def test_a_job_waiting_in_line_says_its_place_and_leaves_the_line_when_cancelled(backend, store, api):
    app, client = api(backend)

    async def scenario():
        async with client as c:
            await warm(backend, store)
            first = (await c.post("/api/v1/jobs", json={"kind": "music", "request": {"prompt": "a", "duration": 30}})).json()["job"]
            await until(lambda: music_slot(backend).running == 1, 10)
            second = (await c.post("/api/v1/jobs", json={"kind": "music", "request": {"prompt": "b", "duration": 1}})).json()["job"]
            await until(lambda: len(music_slot(backend).line) == 1, 10)
            await asyncio.sleep(0.1)
            waiting = (await c.get(f"/api/v1/jobs/{second['id']}")).json()
            await c.post(f"/api/v1/jobs/{second['id']}/cancel")
            gone = await until(lambda: len(music_slot(backend).line) == 0, 1)
            await c.post(f"/api/v1/jobs/{first['id']}/cancel")
            await app.state.jobs.wait(first["id"])
            return waiting, gone, (await c.get(f"/api/v1/jobs/{second['id']}")).json()

    waiting, gone, cancelled = asyncio.run(scenario())
    assert waiting["status"] == "queued" and waiting["queue_position"] == 1 and waiting["position"] == 1
    assert gone < 0.5 and cancelled["status"] == "cancelled" and cancelled["started_at"] is None


def test_unknown_job_ids_get_a_404_from_cancel(api, backend):
    app, client = api(backend)

    async def scenario():
        async with client as c:
            return await c.post("/api/v1/jobs/AAAAAAAAAAAAAAAA/cancel"), await c.post("/api/v1/jobs/nope/cancel")

    for answer in asyncio.run(scenario()):
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


# --- a synchronous request whose client hangs up ----------------------------------------------------


def test_a_synchronous_request_whose_client_hangs_up_stops_its_generation(backend, store, monkeypatch):
    for name in API_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    asyncio.run(warm(backend, store))
    saved_before = len(store)
    with serving(create_app(backend, store)) as url:
        with pytest.raises(httpx.ReadTimeout):  # the client gives up after a second and hangs up
            httpx.post(f"{url}/api/v1/music", json={"prompt": "long", "duration": 200}, timeout=1.0)
        hung_up = time.monotonic()
        while music_slot(backend).running and time.monotonic() - hung_up < 5:
            time.sleep(0.02)
        freed = time.monotonic() - hung_up
    assert freed < 2.0, f"freed after {freed:.2f} s"
    assert len(store) == saved_before


# --- the Modal backend, offline ------------------------------------------------------------------


class RemoteClassDouble:
    """TEST DOUBLE of a Modal GPU class: `generate.remote_gen.aio(job, call_id)` streams progress
    until its call's flag appears in the flags double (as a container polling it would stop), and
    holds every call before its first event until `admit` is set (Modal waiting for a container)."""

    admit: asyncio.Event
    flags: dict

    def __init__(self, preset: str):
        self.generate = SimpleNamespace(remote_gen=SimpleNamespace(aio=self._generate))

    async def _generate(self, job, call_id):
        await RemoteClassDouble.admit.wait()
        for step in range(1, 1000):
            if call_id in RemoteClassDouble.flags:
                return
            yield progress_event(step, 1000, "composing")
            await asyncio.sleep(0.01)


class ModalDictDouble:
    """TEST DOUBLE of a modal.Dict as the web side uses it: `put.aio(key, value)`."""

    def __init__(self, items: dict):
        self.items = items
        self.put = SimpleNamespace(aio=self._put)

    async def _put(self, key, value):
        self.items[key] = value


def test_the_modal_backend_tells_waiting_callers_their_place_and_flags_abandoned_calls():
    async def scenario():
        RemoteClassDouble.admit, RemoteClassDouble.flags = asyncio.Event(), {}
        backend = ModalBackend({"image": RemoteClassDouble, "music": RemoteClassDouble}, TINY,
                               flags=ModalDictDouble(RemoteClassDouble.flags))
        seen: dict[int, list] = {0: [], 1: []}

        async def caller(i: int):
            async for event in backend.generate(MusicRequest(prompt=f"c{i}", duration=1).resolve("tiny")):
                seen[i].append(event["type"] if event["type"] != "queued" else event["position"])

        callers = [asyncio.ensure_future(caller(i)) for i in (0, 1)]
        await asyncio.sleep(0.1)
        callers[0].cancel()  # the first goes away while still waiting for a GPU
        await asyncio.sleep(0.1)
        RemoteClassDouble.admit.set()
        await asyncio.sleep(0.1)
        callers[1].cancel()  # the second goes away while its model works
        await asyncio.gather(*callers, return_exceptions=True)
        await asyncio.sleep(0.1)
        return seen, set(RemoteClassDouble.flags)

    seen, flagged = asyncio.run(scenario())
    assert seen[0] == [1] and seen[1][:2] == [2, 1] and "progress" in seen[1]
    assert len(flagged) == 2  # both calls' flags written: a container would stop (or skip) them


def test_without_stop_flags_the_modal_backend_says_so_and_goes_on():
    async def scenario():
        RemoteClassDouble.admit, RemoteClassDouble.flags = asyncio.Event(), {}
        RemoteClassDouble.admit.set()
        backend = ModalBackend({"image": RemoteClassDouble, "music": RemoteClassDouble}, TINY)
        events = backend.generate(ImageRequest(prompt="x").resolve("tiny"))
        assert (await anext(events))["type"] == "queued"
        await events.aclose()

    asyncio.run(scenario())


def test_a_job_cancelled_before_its_task_ever_ran_still_ends_cancelled(backend, store, api):
    app, client = api(backend)

    async def scenario():
        async with client:
            jobs = app.state.jobs
            state, _ = jobs.submit(ImageRequest(prompt="x").resolve("tiny"), "http://atelier.test", None, Ticket.local())
            jobs.cancel(state.id)  # in the same tick: its task has not started
            return await jobs.wait(state.id)

    assert asyncio.run(scenario()).status == "cancelled"

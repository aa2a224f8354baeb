"""The one web container as Modal runs it: nothing slow on its event loop, and no synchronous request
past the platform's request limit (issue 20: Modal answers a plain request still running at 150 s
with a bare 303 to a result URL no client expects).

Scaled down: a request limit of 2 s stands for Modal's 150 s, a backend double's delays for a model.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from models.image import loras
from tests.support.api_doubles import FailingBackendDouble, InstantBackendDouble
from ui.errors import ModelUnavailable

pytestmark = pytest.mark.anyio


async def test_a_generation_past_the_request_limit_is_answered_in_time_with_its_job(client_for):
    # 4 steps of 1 s: 4 s of work against a limit of 2 s (an answer due by 1.8 s).
    async with client_for(InstantBackendDouble(steps=4, delay_s=1.0), ATELIER_REQUEST_LIMIT="2") as client:
        started = time.monotonic()
        response = await client.post("/api/v1/images", json={"prompt": "a slow fox"})
        waited = time.monotonic() - started
        assert response.status_code == 202, response.text
        assert 1.5 < waited < 2.0  # nine tenths of the limit, not the whole of it
        body = response.json()
        assert body["job"]["status"] in ("queued", "running") and body["owner_token"]
        assert response.headers["location"] == f"http://atelier.test/api/v1/jobs/{body['job']['id']}"
        while (job := (await client.get(response.headers["location"])).json())["status"] != "succeeded":
            assert job["status"] in ("queued", "running"), job
            await asyncio.sleep(0.2)
        result = job["result"]
        published = await client.post(f"/api/v1/results/{result['id']}/publish",
                                      headers={"X-Owner-Token": body["owner_token"]})
        assert published.status_code == 200  # the 202's owner token is the result's


async def test_within_the_limit_the_answer_is_the_result_and_failures_keep_their_status(client_for):
    async with client_for(InstantBackendDouble(steps=2, delay_s=0.1), ATELIER_REQUEST_LIMIT="2") as client:
        made = await client.post("/api/v1/images", json={"prompt": "a quick fox"})
        assert made.status_code == 201 and made.json()["result"]["kind"] == "image" and made.json()["owner_token"]
    failing = FailingBackendDouble(ModelUnavailable("The tiny model is not available: try again."))
    async with client_for(failing, ATELIER_REQUEST_LIMIT="2") as client:
        refused = await client.post("/api/v1/images", json={"prompt": "a fox"})
    async with client_for(failing) as client:  # the same failure without a limit
        plain = await client.post("/api/v1/images", json={"prompt": "a fox"})
    assert refused.status_code == plain.status_code == 503
    assert refused.json() == plain.json()


async def test_a_slow_adapter_lookup_holds_up_neither_the_health_check_nor_another_visitor(client_for, monkeypatch):
    """Resolving a request that names an adapter reads the LoRA library, which on Modal first reloads
    the weights Volume (and in hybrid mode asks the deployed app): here a Volume double that takes
    2 s. While it does, the one web container must keep answering everyone else."""
    def slow_volume_reload() -> None:  # test double of modal.Volume.reload on a busy Volume
        time.sleep(2.0)

    monkeypatch.setattr(loras, "_before_read", slow_volume_reload)
    async with client_for(InstantBackendDouble(steps=1)) as client:
        async def with_adapter():
            return await client.post("/api/v1/images", json={"prompt": "a fox", "loras": "some-adapter:0.8"})

        async def timed(call) -> float:
            started = time.monotonic()
            response = await call
            assert response.status_code in (200, 201), response.text
            return time.monotonic() - started

        slow = asyncio.create_task(with_adapter())
        await asyncio.sleep(0.2)  # the adapter lookup is under way
        health = await timed(client.get("/api/health"))
        other = await timed(client.post("/api/v1/images", json={"prompt": "a plain fox"}))
        refused = await slow
    assert health < 0.5 and other < 1.0
    assert refused.status_code == 422 and "some-adapter" in refused.json()["error"]["message"]

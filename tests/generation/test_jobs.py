"""Async jobs: lifecycle, progress events (SSE), failures, capacity, webhooks, and an app restart."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import time

import httpx
import pytest
from PIL import Image

from tests.support.api_doubles import (
    FailingBackendDouble,
    GatedBackendDouble,
    InstantBackendDouble,
    TricklingReceiver,
    WebhookReceiver,
)
from ui.errors import ModelUnavailable
from ui.generation.webhooks import Delivery, WebhookSender, sign, verify
from ui.settings import API_ENV_VARS
from ui.store import ResultStore
from ui.web import create_app

pytestmark = pytest.mark.anyio
SECRET = "whsec-test-0123456789"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def app_with(store, monkeypatch):
    def make(backend, store_=None, **env: str):
        for name in API_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return create_app(backend, store_ if store_ is not None else store)

    return make


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://atelier.test")


def sse_events(text: str) -> list[tuple[str, dict]]:
    """(event name, data) for each event of a text/event-stream body; keep-alive comments skipped."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "data" in fields:
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


# --- lifecycle ------------------------------------------------------------------------------------------


async def test_a_job_runs_in_the_background_and_streams_its_progress(app_with, backend):
    app = app_with(backend)
    async with client(app) as c:
        started = time.perf_counter()
        submitted = await c.post("/api/v1/jobs", json={"kind": "music", "request": {"prompt": "lofi", "duration": 2, "seed": 4}})
        answered_in = time.perf_counter() - started
        assert submitted.status_code == 202, submitted.text
        job, owner_token = submitted.json()["job"], submitted.json()["owner_token"]
        assert job["status"] == "queued" and job["result"] is None and answered_in < 1.0
        assert submitted.headers["location"] == f"http://atelier.test/api/v1/jobs/{job['id']}"

        stream = await asyncio.wait_for(c.get(f"/api/v1/jobs/{job['id']}/events"), 60)  # ends when the job does
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse_events(stream.text)
        names = [name for name, _ in events]
        assert names[0] == "status" and names[-1] == "succeeded" and "running" in names
        progress = [data for name, data in events if name == "progress"]
        # a few a second (models/common/progress.py `throttled`), the first step and the last among them
        assert len(progress) >= 2 and [p["done"] for p in progress] == sorted(p["done"] for p in progress)
        assert progress[-1]["done"] == progress[-1]["total"]
        final = events[-1][1]["job"]
        assert final["result"]["audio"]["seconds"] == pytest.approx(2.0, abs=0.05)

        polled = (await c.get(f"/api/v1/jobs/{job['id']}")).json()
        assert polled["status"] == "succeeded" and polled["error"] is None
        assert polled["started_at"] <= polled["finished_at"] and polled["progress"] == {k: progress[-1][k] for k in ("done", "total", "stage")}
        result = polled["result"]
        assert result == final["result"] and "owner_token" not in json.dumps(polled)
        assert (await c.get(result["files"][0]["url"])).content[:4] == b"RIFF"
        # The token from the submission owns the result.
        published = await c.post(f"/api/v1/results/{result['id']}/publish", headers={"X-Owner-Token": owner_token})
        assert published.status_code == 200 and published.json()["published"] is True

        # A stream opened after the end gives the final state at once.
        late = sse_events((await asyncio.wait_for(c.get(f"/api/v1/jobs/{job['id']}/events"), 5)).text)
        assert [name for name, _ in late] == ["status"] and late[0][1]["job"]["status"] == "succeeded"


async def test_job_events_carry_previews_of_an_image_forming_when_asked(app_with, backend):
    app = app_with(backend)
    async with client(app) as c:
        submitted = await c.post("/api/v1/jobs", json={"kind": "image", "request": {
            "prompt": "a fox", "steps": 8, "width": 256, "height": 256, "seed": 3}})
        job_id = submitted.json()["job"]["id"]
        with_previews, without = await asyncio.wait_for(asyncio.gather(
            c.get(f"/api/v1/jobs/{job_id}/events", params={"previews": "true"}),
            c.get(f"/api/v1/jobs/{job_id}/events"),
        ), 120)
    previews = [data for name, data in sse_events(with_previews.text) if name == "preview"]
    assert previews, "no preview in eight steps"
    for preview in previews:
        assert preview["mime"] == "image/webp" and 0 < preview["done"] < 8
        assert Image.open(io.BytesIO(base64.b64decode(preview["data"]))).format == "WEBP"
    plain = sse_events(without.text)
    assert plain[-1][0] == "succeeded" and not [name for name, _ in plain if name == "preview"]  # opt-in only


async def test_job_events_carry_the_waveform_of_a_long_clip_so_far_when_asked(app_with, backend):
    app = app_with(backend)
    async with client(app) as c:  # the tiny preset's window is 4 s: 13 s takes four passes
        submitted = await c.post("/api/v1/jobs", json={"kind": "music", "request": {
            "prompt": "lofi beat", "duration": 13, "overlap": 1, "seed": 3}})
        job_id = submitted.json()["job"]["id"]
        events = await asyncio.wait_for(c.get(f"/api/v1/jobs/{job_id}/events", params={"previews": "true"}), 120)
    previews = [data for name, data in sse_events(events.text) if name == "preview"]
    assert previews, "no waveform between four windows"
    for preview in previews:
        assert preview["mime"] == "image/png" and preview["done"] in (4000, 7000, 10000)
        assert Image.open(io.BytesIO(base64.b64decode(preview["data"]))).format == "PNG"


async def test_queued_and_running_are_visible_while_a_job_waits(app_with):
    backend = GatedBackendDouble()
    app = app_with(backend)
    async with client(app) as c:
        job_id = (await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"}})).json()["job"]["id"]
        while backend.calls < 1:
            await asyncio.sleep(0.01)
        queued = (await c.get(f"/api/v1/jobs/{job_id}")).json()
        assert queued["status"] == "queued" and queued["position"] == 1 and queued["started_at"] is None
        backend.admit()
        while backend.started < 1:
            await asyncio.sleep(0.01)
        running = (await c.get(f"/api/v1/jobs/{job_id}")).json()
        assert running["status"] == "running" and running["position"] is None and running["started_at"]
        assert running["progress"] == {"done": 1, "total": 2, "stage": "working"}
        backend.release()
        done = await app.state.jobs.wait(job_id)
        assert done.status == "succeeded"


async def test_a_failing_job_reports_its_error_and_saves_nothing(app_with, store):
    app = app_with(FailingBackendDouble())
    async with client(app) as c:
        job_id = (await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"}})).json()["job"]["id"]
        events = sse_events((await asyncio.wait_for(c.get(f"/api/v1/jobs/{job_id}/events"), 5)).text)
        assert events[-1][0] in ("status", "failed") and events[-1][1]["job"]["status"] == "failed"
        polled = (await c.get(f"/api/v1/jobs/{job_id}")).json()
    assert polled["status"] == "failed" and polled["result"] is None
    assert polled["error"] == {"code": "generation_failed", "message": "The tiny image model failed: RuntimeError: test double says no"}
    assert len(store) == 0


async def test_an_unavailable_model_fails_the_job_with_its_reason(app_with):
    app = app_with(FailingBackendDouble(ModelUnavailable("The Modal app isn't deployed: run `modal deploy app.py` first.")))
    async with client(app) as c:
        job_id = (await c.post("/api/v1/jobs", json={"kind": "music", "request": {"prompt": "x"}})).json()["job"]["id"]
        await app.state.jobs.wait(job_id)
        error = (await c.get(f"/api/v1/jobs/{job_id}")).json()["error"]
    assert error["code"] == "model_unavailable" and "modal deploy" in error["message"]


async def test_bad_job_requests_are_refused_before_anything_starts(app_with):
    backend = InstantBackendDouble()
    async with client(app_with(backend)) as c:
        bad = [
            ({"kind": "sculpture", "request": {"prompt": "x"}}, "does not match any of the expected tags"),
            ({"kind": "image"}, "is required"),
            ({"kind": "image", "request": {"prompt": ""}}, "must not be empty"),
            ({"kind": "image", "request": {"prompt": "x", "width": 4096}}, "less than or equal to 2048"),
            ({"kind": "image", "request": {"prompt": "x", "preset": "nope"}}, "nope"),
            ({"kind": "image", "request": {"prompt": "x"}, "callback_url": "ftp://example.com/hook"}, "URL scheme"),
            ({"kind": "image", "request": {"prompt": "x"}, "surprise": 1}, "Unknown field"),
        ]
        for body, words in bad:
            response = await c.post("/api/v1/jobs", json=body)
            assert response.status_code == 422, body
            assert words in response.json()["error"]["message"], (body, response.json())
        no_secret = await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "x"}, "callback_url": "https://example.com/h"})
        assert no_secret.status_code == 422 and no_secret.json()["error"]["code"] == "webhooks_not_configured"
        for job_id in ["AAAAAAAAAAAAAAAA", "..", "%2e%2e%2f", "x" * 300]:
            assert (await c.get(f"/api/v1/jobs/{job_id}")).status_code == 404
            missing = await c.get(f"/api/v1/jobs/{job_id}/events")
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert backend.calls == 0


async def test_too_many_waiting_jobs_get_503_with_retry_after(app_with):
    backend = GatedBackendDouble()
    app = app_with(backend, ATELIER_MAX_ACTIVE_JOBS="2")
    async with client(app) as c:
        ids = [(await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"}})).json()["job"]["id"] for _ in range(2)]
        busy = await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"}})
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy" and busy.headers["retry-after"] == "60"
        backend.release()
        assert [(await app.state.jobs.wait(i)).status for i in ids] == ["succeeded", "succeeded"]
        assert (await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"}})).status_code == 202


async def test_finished_jobs_are_forgotten_after_their_ttl(app_with):
    app = app_with(InstantBackendDouble(), ATELIER_JOB_TTL="0.2")
    async with client(app) as c:
        job_id = (await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"}})).json()["job"]["id"]
        await app.state.jobs.wait(job_id)
        assert (await c.get(f"/api/v1/jobs/{job_id}")).status_code == 200
        await asyncio.sleep(0.3)
        assert (await c.get(f"/api/v1/jobs/{job_id}")).status_code == 404


async def test_after_a_restart_results_remain_and_finished_jobs_still_answer(app_with, tmp_path):
    folder = tmp_path / "shared-store"
    first = app_with(InstantBackendDouble(), ResultStore(folder))
    async with client(first) as c:
        submitted = (await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"}})).json()
        job_id, owner_token = submitted["job"]["id"], submitted["owner_token"]
        rid = (await first.state.jobs.wait(job_id)).result["id"]
        assert (await c.post(f"/api/v1/results/{rid}/publish", headers={"X-Owner-Token": owner_token})).status_code == 200
        private = (await c.post("/api/v1/images", json={"prompt": "owl"})).json()["result"]["id"]
        before = (await c.get(f"/api/v1/jobs/{job_id}")).json()

    second = app_with(InstantBackendDouble(), ResultStore(folder))  # a new process over the same folder
    async with client(second) as c:
        listed = (await c.get("/api/v1/results")).json()["results"]
        assert [r["id"] for r in listed] == [rid]
        assert (await c.get(f"/api/v1/results/{private}")).status_code == 200
        assert (await c.get(listed[0]["files"][0]["url"])).status_code == 200
        after = (await c.get(f"/api/v1/jobs/{job_id}")).json()
        assert after["status"] == "succeeded" and after["result"]["id"] == rid
        assert {k: v for k, v in after.items() if k != "result"} == {k: v for k, v in before.items() if k != "result"}
        assert after["result"]["published"] is True  # the result as it is now
        events = sse_events((await asyncio.wait_for(c.get(f"/api/v1/jobs/{job_id}/events"), 5)).text)
        assert [name for name, _ in events] == ["status"] and events[0][1]["job"]["status"] == "succeeded"
        assert (await c.delete(f"/api/v1/results/{rid}", headers={"X-Owner-Token": owner_token})).status_code == 204
        gone = (await c.get(f"/api/v1/jobs/{job_id}")).json()  # its result deleted: the job still answers
        assert gone["status"] == "succeeded" and gone["result"] is None


async def test_jobs_cut_off_by_a_restart_are_reported_interrupted_and_announced(app_with, tmp_path):
    folder = tmp_path / "shared-store"
    with WebhookReceiver() as receiver:
        env = dict(ATELIER_WEBHOOK_SECRET=SECRET, ATELIER_WEBHOOK_ALLOW_PRIVATE="1")
        gated = GatedBackendDouble()
        first = app_with(gated, ResultStore(folder), **env)
        async with client(first) as c:
            body = {"kind": "image", "request": {"prompt": "fox"}, "callback_url": receiver.url}
            running = (await c.post("/api/v1/jobs", json=body)).json()["job"]["id"]
            while gated.calls < 1:
                await asyncio.sleep(0.01)
            gated.admit()
            while gated.started < 1:
                await asyncio.sleep(0.01)
            queued = (await c.post("/api/v1/jobs", json={"kind": "music", "request": {"prompt": "lofi"}})).json()["job"]["id"]
            assert (await c.get(f"/api/v1/jobs/{running}")).json()["status"] == "running"
        # The process dies: its tasks end without another word to the store.
        for task in list(first.state.jobs._tasks):
            task.cancel()
        await asyncio.sleep(0)

        second = app_with(InstantBackendDouble(), ResultStore(folder), **env)
        async with client(second) as c:
            for job_id in (running, queued):
                job = (await c.get(f"/api/v1/jobs/{job_id}")).json()
                assert job["status"] == "failed" and job["finished_at"] and job["result"] is None
                assert job["error"]["code"] == "interrupted" and "restarted" in job["error"]["message"]
                events = sse_events((await asyncio.wait_for(c.get(f"/api/v1/jobs/{job_id}/events"), 5)).text)
                assert [name for name, _ in events] == ["status"] and events[0][1]["job"]["status"] == "failed"
            assert await asyncio.to_thread(receiver.arrived.wait, 10)
            for _ in range(100):
                webhook = (await c.get(f"/api/v1/jobs/{running}")).json()["webhook"]
                if webhook["state"] != "pending":
                    break
                await asyncio.sleep(0.02)
        assert webhook == {"state": "delivered", "attempts": 1, "last_error": None}
    [delivery] = receiver.payloads()  # the job with a callback, once; the other had none
    assert delivery["event"] == "job.failed" and delivery["job"]["id"] == running
    assert delivery["job"]["error"]["code"] == "interrupted"
    assert len(second.state.store) == 0  # nothing half-made was saved


# --- webhooks --------------------------------------------------------------------------------------------


async def test_a_webhook_is_delivered_signed_and_retried_with_backoff(app_with):
    with WebhookReceiver(statuses=[500, 503, 200]) as receiver:
        app = app_with(InstantBackendDouble(), ATELIER_WEBHOOK_SECRET=SECRET, ATELIER_WEBHOOK_ALLOW_PRIVATE="1",
                       ATELIER_WEBHOOK_BACKOFF="0.1")
        async with client(app) as c:
            submitted = await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"},
                                                           "callback_url": receiver.url})
            assert submitted.status_code == 202
            job_id, owner_token = submitted.json()["job"]["id"], submitted.json()["owner_token"]
            assert submitted.json()["job"]["webhook"] == {"state": "pending", "attempts": 0, "last_error": None}
            await app.state.jobs.wait(job_id)
            assert await asyncio.to_thread(receiver.arrived.wait, 10)
            await asyncio.sleep(0.05)
            job = (await c.get(f"/api/v1/jobs/{job_id}")).json()

    assert len(receiver.received) == 3
    gaps = [b["at"] - a["at"] for a, b in zip(receiver.received, receiver.received[1:])]
    assert 0.1 <= gaps[0] < gaps[1] and gaps[1] >= 0.2  # 0.1 s, then 0.2 s: doubling
    assert len({r["headers"]["X-Atelier-Delivery"] for r in receiver.received}) == 1  # one delivery, retried
    assert job["webhook"] == {"state": "delivered", "attempts": 3, "last_error": None}
    assert "callback_url" not in json.dumps(job) and receiver.url not in json.dumps(job)

    last = receiver.received[-1]
    assert last["path"] == "/hook?source=atelier"
    headers, body = last["headers"], last["body"]
    assert headers["Content-Type"] == "application/json" and headers["X-Atelier-Event"] == "job.succeeded"
    # Check the signature from first principles, as a receiver in any language would.
    expected = hmac.new(SECRET.encode(), headers["X-Atelier-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Atelier-Signature"] == f"sha256={expected}"
    assert abs(time.time() - int(headers["X-Atelier-Timestamp"])) < 30
    payload = json.loads(body)
    assert payload["event"] == "job.succeeded" and payload["job"]["id"] == job_id
    assert payload["job"]["result"]["files"][0]["url"].startswith("http://atelier.test/results/")
    assert owner_token not in body.decode() and SECRET not in body.decode()


async def test_a_failed_job_is_announced_too(app_with):
    with WebhookReceiver() as receiver:
        app = app_with(FailingBackendDouble(), ATELIER_WEBHOOK_SECRET=SECRET, ATELIER_WEBHOOK_ALLOW_PRIVATE="1")
        async with client(app) as c:
            job_id = (await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"},
                                                         "callback_url": receiver.url})).json()["job"]["id"]
            await app.state.jobs.wait(job_id)
            assert await asyncio.to_thread(receiver.arrived.wait, 10)
    [delivery] = receiver.payloads()
    assert delivery["event"] == "job.failed" and delivery["job"]["error"]["code"] == "generation_failed"


async def test_webhooks_to_private_addresses_are_refused_unless_allowed(app_with):
    with WebhookReceiver() as receiver:
        app = app_with(InstantBackendDouble(), ATELIER_WEBHOOK_SECRET=SECRET)
        async with client(app) as c:
            job_id = (await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"},
                                                         "callback_url": receiver.url})).json()["job"]["id"]
            await app.state.jobs.wait(job_id)
            for _ in range(100):
                webhook = (await c.get(f"/api/v1/jobs/{job_id}")).json()["webhook"]
                if webhook["state"] != "pending":
                    break
                await asyncio.sleep(0.02)
    assert webhook["state"] == "failed" and webhook["attempts"] == 1
    assert "not a public address (127.0.0.1)" in webhook["last_error"]
    assert receiver.received == []


async def test_a_receiver_that_says_no_is_not_asked_again_and_one_that_keeps_failing_is_given_up_on():
    sleeps: list[float] = []

    async def no_wait(seconds: float) -> None:
        sleeps.append(seconds)

    sender = WebhookSender(SECRET, attempts=5, backoff_s=1.0, allow_private=True, sleep=no_wait)
    with WebhookReceiver(statuses=[404]) as receiver:
        delivery = Delivery()
        await sender.deliver(receiver.url, "job.succeeded", {"x": 1}, delivery)
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("failed", 1, "the receiver answered 404")
    assert sleeps == []

    with WebhookReceiver(statuses=[500] * 5) as receiver:
        delivery = Delivery()
        await sender.deliver(receiver.url, "job.succeeded", {"x": 1}, delivery)
    assert (delivery.state, delivery.attempts) == ("failed", 5) and len(receiver.received) == 5
    assert sleeps == [1.0, 2.0, 4.0, 8.0]  # exponential backoff between the five attempts

    sleeps.clear()
    delivery = Delivery()
    await WebhookSender(SECRET, attempts=2, allow_private=True, sleep=no_wait).deliver(
        "http://127.0.0.1:9/nothing-listens-here", "job.succeeded", {}, delivery)  # port 9: connection refused
    assert (delivery.state, delivery.attempts) == ("failed", 2) and "ConnectError" in delivery.last_error


async def test_an_attempt_ends_at_its_deadline_however_slowly_the_receiver_answers():
    """httpx's timeout bounds each read, not an attempt: a receiver trickling its answer could keep
    a delivery going as long as it liked. Each attempt ends at timeout_s, so the longest delivery
    is known (on Modal the web container stays up that long after a job: app.py)."""

    async def no_wait(seconds: float) -> None:
        pass

    sender = WebhookSender(SECRET, attempts=2, timeout_s=1.0, allow_private=True, sleep=no_wait)
    assert sender.longest_delivery_s() == 2 * 1.0 + 1.0
    with TricklingReceiver(seconds=12) as receiver:
        delivery = Delivery()
        await sender.deliver(receiver.url, "job.succeeded", {"x": 1}, delivery)
        for _ in range(100):  # each connection notices the hang-up at its next byte
            if len(receiver.finished) == 2:
                break
            await asyncio.sleep(0.05)
    assert (delivery.state, delivery.attempts) == ("failed", 2)
    assert delivery.last_error == "the receiver took longer than 1 s"
    assert receiver.finished == [False, False]  # both attempts hung up before the 12-second answer ended


def test_signatures_verify_only_for_the_same_secret_body_and_a_fresh_timestamp():
    body, now = b'{"event":"job.succeeded"}', 1_800_000_000
    signature = sign(SECRET, str(now), body)
    assert verify(SECRET, str(now), body, signature, now=now + 10)
    assert not verify("other-secret", str(now), body, signature, now=now)
    assert not verify(SECRET, str(now), body + b" ", signature, now=now)
    assert not verify(SECRET, str(now + 1), body, signature, now=now)
    assert not verify(SECRET, str(now), body, signature, now=now + 3600)  # a replay, an hour later
    assert not verify(SECRET, "yesterday", body, signature, now=now)

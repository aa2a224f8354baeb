"""Per-visitor GPU budgets: spent by what each generation's record says it took, refused with one
sentence saying when it refills, shown in the studio's masthead, and a token holder's own."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from models.requests import ImageRequest
from tests.support.servers import FixedLatencyBackend, serving
from tests.support.studio_routes import Credentials, call_event, studio_app
from ui.gate import Gate, Ticket, Visitor, gpu_seconds
from ui.gate.buckets import Buckets
from ui.gate.budget import duration
from ui.gate.visitors import address_key, visitor_of
from ui.generation import generate
from ui.settings import API_ENV_VARS, ApiSettings
from ui.store import ResultStore
from ui.web import create_app

TOKEN = "token-with-its-own-budget"


class CostlyBackend(FixedLatencyBackend):
    """TEST DOUBLE: FixedLatencyBackend whose records say each generation took `seconds` of GPU time."""

    def __init__(self, seconds: float):
        super().__init__(latency=0.0, steps=1)
        self.seconds = seconds

    async def generate(self, job):
        async for event in super().generate(job):
            if event["type"] == "result":
                event["record"]["seconds"] = {"load": 30.0, "generate": self.seconds}  # loading is never charged
            yield event


# --- what a generation costs -----------------------------------------------------------------------


def test_a_batch_s_time_is_shared_by_the_images_each_request_asked_for():
    record = {"seconds": {"load": 9.0, "generate": 8.0}, "parameters": {"num_images": 3},
              "batch": {"requests": 2, "images": 4}}
    assert gpu_seconds(record) == pytest.approx(6.0)
    assert gpu_seconds({**record, "parameters": {"num_images": 1}}) == pytest.approx(2.0)
    assert gpu_seconds({"seconds": {"generate": 41.5}}) == 41.5  # music: never batched
    assert gpu_seconds({"kind": "image"}) == 0.0  # a record without timings costs nothing


def test_a_budget_goes_into_debt_and_refills_evenly():
    now = [0.0]
    buckets = Buckets(capacity=60, period_s=3600, clock=lambda: now[0])
    assert buckets.wait_until_positive("a") is None
    buckets.charge("a", 90)  # a long generation: 30 s of debt
    assert buckets.level("a") == pytest.approx(-30)
    assert buckets.wait_until_positive("a") == 1801  # 60 an hour, one a minute: the first second above zero
    now[0] = 1800.0
    assert buckets.wait_until_positive("a") == 1  # at zero: nothing left yet
    now[0] = 1801.0
    assert buckets.wait_until_positive("a") is None and buckets.level("a") == pytest.approx(0.0167, abs=1e-3)
    now[0] = 10_000.0
    assert buckets.level("a") == 60  # never above its capacity


def test_visitors_are_tokens_or_addresses_and_ipv6_counts_by_its_64():
    settings = ApiSettings(api_tokens=(TOKEN,))
    assert visitor_of({"authorization": f"Bearer {TOKEN}"}, "203.0.113.5", settings).has_token
    assert visitor_of({"authorization": "Bearer guess"}, "203.0.113.5", settings).key == "ip:203.0.113.5"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:198.51.100.7") == "198.51.100.7"
    forwarded = ApiSettings(client_ip_header="x-forwarded-for")
    assert visitor_of({"x-forwarded-for": "198.51.100.9, 10.0.0.1"}, "10.0.0.1", forwarded).key == "ip:198.51.100.9"


def test_durations_read_as_a_person_would_say_them():
    assert [duration(s) for s in (0, 42, 60, 125, 3600, 3725)] == ["0 s", "42 s", "1 min", "2 min 5 s", "1 h", "1 h 2 min"]


def test_the_gate_charges_the_ticket_s_holder_and_no_one_else():
    gate = Gate(ApiSettings(visitor_gpu_seconds=10, generation_rate_limit=0))
    alice, bob = Visitor("ip:198.51.100.1"), Visitor("ip:198.51.100.2")
    gate.admit(alice).spend({"seconds": {"generate": 11.0}})
    with pytest.raises(Exception, match="Your GPU time is used up for now"):
        gate.admit(alice)
    gate.admit(bob)  # another visitor's budget is untouched
    Ticket.local().spend({"seconds": {"generate": 1e9}})  # the command line is charged nothing, anywhere
    assert gate.admit(bob).visitor == bob


# --- through the app: REST, the studio, the masthead -----------------------------------------------------


@pytest.fixture
def costly_site(monkeypatch, tmp_path):
    for name in API_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATELIER_VISITOR_GPU_SECONDS", "10")
    monkeypatch.setenv("ATELIER_TOKEN_GPU_SECONDS", "100")
    monkeypatch.setenv("ATELIER_API_TOKENS", TOKEN)
    store = ResultStore(tmp_path / "store")
    app = create_app(CostlyBackend(seconds=6.0), store)
    with serving(app) as url:
        yield url, app, store


def test_a_spent_budget_is_refused_everywhere_with_when_it_refills(costly_site):
    url, app, store = costly_site
    generate = next(fn for fn in studio_app(app).get_blocks().fns.values() if fn.api_name == "generate_image")
    nobody, holder = Credentials("nobody", {}, {}), Credentials("holder", {"Authorization": f"Bearer {TOKEN}"}, {})
    budget = httpx.get(f"{url}/api/budget").json()
    assert budget == {"limited": True, "seconds_per_hour": 10.0, "left": 10.0, "refills_in": 0,
                      "summary": "GPU time: 10 s of 10 s left this hour"}
    assert "GPU time: 10 s of 10 s left this hour" in httpx.get(f"{url}/").text  # the masthead

    assert call_event(url, "/gradio_api/call/{api_name}", generate, nobody) == "done"  # 10 → 4 left
    assert call_event(url, "/gradio_api/queue/join", generate, nobody) == "done"  # 4 > 0: may start; → -2
    refused = call_event(url, "/gradio_api/call/{api_name}", generate, nobody)
    wait = httpx.get(f"{url}/api/budget").json()["refills_in"]
    assert 700 <= wait <= 721  # 2 s of debt at 10 s an hour
    sentence = re.escape(f"Your GPU time is used up for now (10 s an hour for each visitor): you can generate again "
                         f"in {duration(wait)}.")
    assert re.fullmatch(f"error: {sentence}", refused), refused
    assert "GPU time used up: more in 12 min" in httpx.get(f"{url}/").text

    # The token's holder has a budget of their own, on every way in, and sees it.
    made = httpx.post(f"{url}/api/v1/images", json={"prompt": "fox"}, headers=holder.headers)
    assert made.status_code == 201
    assert call_event(url, "/gradio_api/call/{api_name}", generate, holder) == "done"
    assert httpx.get(f"{url}/api/budget", headers=holder.headers).json()["left"] == pytest.approx(88.0, abs=0.1)
    assert len(store) == 4


def test_no_budget_no_badge(monkeypatch, tmp_path):
    for name in API_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    with serving(create_app(CostlyBackend(seconds=6.0), ResultStore(tmp_path))) as url:
        assert httpx.get(f"{url}/api/budget").json()["limited"] is False
        assert 'id="gpu-budget"' not in httpx.get(f"{url}/").text


def test_rest_answers_429_with_the_sentence_and_retry_after(monkeypatch, store):
    for name in API_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATELIER_VISITOR_GPU_SECONDS", "5")
    app = create_app(CostlyBackend(seconds=6.0), store)

    async def run():
        transport = httpx.ASGITransport(app, client=("198.51.100.20", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://atelier.test") as c:
            assert (await c.post("/api/v1/images", json={"prompt": "fox"})).status_code == 201
            refused = await c.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "fox"}})
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "gpu_budget_spent"
            assert int(refused.headers["retry-after"]) == pytest.approx(720, abs=2)
            assert refused.json()["error"]["message"].startswith("Your GPU time is used up for now (5 s an hour")
            bad = await c.post("/api/v1/images", json={"prompt": ""})
            assert bad.status_code == 422  # bad input is judged first, and spends nothing

    import asyncio
    asyncio.run(run())
    assert len(store) == 1


def test_a_generation_stopped_partway_is_charged_the_seconds_the_model_worked(tmp_path):
    """It has no record, but the GPU worked on it: stopping just before the end must not be free."""
    gate = Gate(ApiSettings(visitor_gpu_seconds=100, generation_rate_limit=0))
    alice = Visitor("ip:198.51.100.7")
    backend = FixedLatencyBackend(latency=60.0, steps=60)  # a step a second
    store = ResultStore(tmp_path / "store")

    async def stopped_after(seconds: float) -> None:
        async def drain():
            async for _ in generate(backend, store, ImageRequest(prompt="x").resolve("tiny"), gate.admit(alice)):
                pass
        task = asyncio.ensure_future(drain())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(stopped_after(1.5))
    spent = 100 - gate.budget.view(alice).left
    assert 1.4 <= spent < 5, spent  # about the 1.5 s it ran (a busy machine may add a little)
    assert len(store) == 0 and gate.active == 0  # nothing saved, its place given back

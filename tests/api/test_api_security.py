"""Auth, rate limits, CORS, body limits and the studio's access option, on the whole app."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.support.api_doubles import InstantBackendDouble
from ui.gate import RateLimiter, token_matches
from ui.settings import API_ENV_VARS, ApiSettings
from ui.web import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def app_with(store, monkeypatch):
    """app_with(**env) → the app with exactly these API settings, over a test-double backend."""

    def make(backend=None, **env: str):
        for name in API_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return create_app(backend or InstantBackendDouble(), store)

    return make


def client(app, address: str = "127.0.0.1", **kwargs) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app, client=(address, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://atelier.test", **kwargs)


# --- bearer tokens ---------------------------------------------------------------------------------


async def test_without_tokens_configured_the_api_is_open(app_with):
    async with client(app_with()) as c:
        assert (await c.post("/api/v1/images", json={"prompt": "fox"})).status_code == 201


async def test_with_tokens_configured_every_api_call_needs_one(app_with):
    app = app_with(ATELIER_API_TOKENS="alpha-token-1, beta-token-2")
    async with client(app) as c:
        made = await c.post("/api/v1/images", json={"prompt": "fox"}, headers={"Authorization": "Bearer beta-token-2"})
        assert made.status_code == 201
        rid = made.json()["result"]["id"]
        for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "},
                        {"Authorization": "Basic YWxwaGEtdG9rZW4tMQ=="}, {"Authorization": "alpha-token-1"},
                        {"Authorization": "Bearer alpha-token-1x"}]:
            for method, path in [("POST", "/api/v1/images"), ("GET", f"/api/v1/results/{rid}"), ("GET", "/api/v1/results"),
                                 ("POST", "/api/v1/jobs"), ("GET", "/api/v1/jobs/AAAAAAAAAAAAAAAA"), ("GET", "/api/v1/nope")]:
                response = await c.request(method, path, headers=headers, json={"prompt": "fox"} if method == "POST" else None)
                assert response.status_code == 401, (headers, path)
                assert response.json()["error"]["code"] == "unauthorized"
                assert response.headers["www-authenticate"].startswith("Bearer")
        ok = await c.get(f"/api/v1/results/{rid}", headers={"Authorization": "bearer alpha-token-1"})
        assert ok.status_code == 200
        # Open without a token: health checks, the docs, and media (reachable by their unguessable id).
        assert (await c.get("/api/health")).status_code == 200
        assert (await c.get("/docs")).status_code == 200
        spec = (await c.get("/openapi.json")).json()
        assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
        assert spec["paths"]["/api/v1/images"]["post"]["security"] == [{"bearer": []}]
        assert (await c.get(made.json()["result"]["files"][0]["url"])).status_code == 200


async def test_a_malformed_body_from_a_stranger_gets_401_not_a_parse_error(app_with):
    async with client(app_with(ATELIER_API_TOKENS="t0ken")) as c:
        response = await c.post("/api/v1/images", content=b"{oops", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_tokens_are_compared_whole():
    tokens = ("alpha", "beta-long-token")
    assert token_matches("alpha", tokens) and token_matches("beta-long-token", tokens)
    for wrong in [None, "", "alph", "alphaa", "beta", "ALPHA", "alpha beta"]:
        assert not token_matches(wrong, tokens)
    assert not token_matches("alpha", ())


async def test_tokens_never_reach_the_logs(app_with, caplog):
    caplog.set_level(logging.DEBUG)
    app = app_with(ATELIER_API_TOKENS="super-secret-token")
    async with client(app) as c:
        await c.get("/api/v1/results", headers={"Authorization": "Bearer wrong-guess-token"})
        made = await c.post("/api/v1/images", json={"prompt": "fox"}, headers={"Authorization": "Bearer super-secret-token"})
    owner_token = made.json()["owner_token"]
    for secret in ["super-secret-token", "wrong-guess-token", owner_token]:
        assert secret not in caplog.text


# --- rate limits ------------------------------------------------------------------------------------


async def test_each_client_gets_its_own_request_budget_then_429_with_retry_after(app_with):
    app = app_with(ATELIER_RATE_LIMIT="3")
    async with client(app, "10.0.0.1") as first, client(app, "10.0.0.2") as second:
        assert [(await first.get("/api/v1/results")).status_code for _ in range(3)] == [200, 200, 200]
        limited = await first.get("/api/v1/results")
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 20  # 3 a minute: one back every 20 s
        assert (await first.get("/api/health")).status_code == 429  # the whole API counts
        assert (await second.get("/api/v1/results")).status_code == 200  # another client is unaffected


async def test_behind_a_proxy_the_forwarded_address_is_the_client(app_with):
    app = app_with(ATELIER_RATE_LIMIT="1", ATELIER_CLIENT_IP_HEADER="X-Forwarded-For")
    async with client(app, "10.9.9.9") as proxy:  # every request arrives from the proxy
        assert (await proxy.get("/api/v1/results", headers={"X-Forwarded-For": "203.0.113.1, 10.9.9.9"})).status_code == 200
        assert (await proxy.get("/api/v1/results", headers={"X-Forwarded-For": "203.0.113.2"})).status_code == 200
        assert (await proxy.get("/api/v1/results", headers={"X-Forwarded-For": "203.0.113.1"})).status_code == 429


async def test_with_tokens_the_budget_follows_the_token(app_with):
    app = app_with(ATELIER_RATE_LIMIT="1", ATELIER_API_TOKENS="team-a,team-b")
    async with client(app) as c:
        assert (await c.get("/api/v1/results", headers={"Authorization": "Bearer team-a"})).status_code == 200
        assert (await c.get("/api/v1/results", headers={"Authorization": "Bearer team-b"})).status_code == 200
        assert (await c.get("/api/v1/results", headers={"Authorization": "Bearer team-a"})).status_code == 429


async def test_generations_have_their_own_smaller_budget_and_bad_requests_spend_none(app_with):
    backend = InstantBackendDouble()
    app = app_with(backend, ATELIER_GENERATION_RATE_LIMIT="2")
    async with client(app) as c:
        for _ in range(3):
            assert (await c.post("/api/v1/images", json={"prompt": ""})).status_code == 422
        assert (await c.post("/api/v1/images", json={"prompt": "fox"})).status_code == 201
        job = await c.post("/api/v1/jobs", json={"kind": "music", "request": {"prompt": "beat", "duration": 1}})
        assert job.status_code == 202
        assert (await app.state.jobs.wait(job.json()["job"]["id"])).status == "succeeded"
        limited = await c.post("/api/v1/music", json={"prompt": "beat", "duration": 1})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "generations" in limited.json()["error"]["message"]
        assert (await c.get("/api/v1/results")).status_code == 200  # reading is not generating
    assert backend.calls == 2


def test_the_token_bucket_refills_over_time():
    now = [0.0]
    limiter = RateLimiter(per_minute=2, clock=lambda: now[0])
    assert limiter.retry_after("a") is None and limiter.retry_after("a") is None
    assert limiter.retry_after("a") == 30  # one request back every 30 s
    now[0] = 29.0
    assert limiter.retry_after("a") == 1
    now[0] = 30.5
    assert limiter.retry_after("a") is None
    assert RateLimiter(per_minute=0).retry_after("a") is None  # 0 = no limit


def test_the_rate_limiter_forgets_idle_clients_to_bound_its_memory():
    now = [0.0]
    limiter = RateLimiter(per_minute=5, clock=lambda: now[0], max_clients=100)
    for i in range(100):
        limiter.retry_after(f"client-{i}")
    now[0] = 120.0
    limiter.retry_after("newcomer")
    assert len(limiter._buckets) == 1
    for i in range(500):  # a flood of distinct clients at one moment: still bounded
        limiter.retry_after(f"flood-{i}")
    assert len(limiter._buckets) <= 100


# --- CORS ------------------------------------------------------------------------------------------------


async def test_no_cross_origin_access_by_default(app_with):
    async with client(app_with()) as c:
        response = await c.get("/api/v1/results", headers={"Origin": "https://elsewhere.example"})
        preflight = await c.options("/api/v1/images", headers={
            "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in preflight.headers


async def test_configured_origins_may_call_the_api_from_a_browser(app_with):
    app = app_with(ATELIER_CORS_ORIGINS="https://app.example, https://other.example", ATELIER_API_TOKENS="tok")
    async with client(app) as c:
        preflight = await c.options("/api/v1/images", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        ok = await c.get("/api/v1/results", headers={"Origin": "https://other.example", "Authorization": "Bearer tok"})
        assert ok.headers["access-control-allow-origin"] == "https://other.example"
        refused = await c.get("/api/v1/results", headers={"Origin": "https://app.example"})  # no token
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "https://app.example"
        stranger = await c.get("/api/v1/results", headers={"Origin": "https://evil.example", "Authorization": "Bearer tok"})
        assert "access-control-allow-origin" not in stranger.headers


# --- bodies ----------------------------------------------------------------------------------------------


async def test_bodies_over_the_limit_are_refused_with_413_whether_declared_or_streamed(app_with):
    backend = InstantBackendDouble()
    async with client(app_with(backend, ATELIER_API_MAX_BODY="1K")) as c:
        declared = await c.post("/api/v1/images", json={"prompt": "x" * 2000})
        assert declared.status_code == 413 and declared.json()["error"]["code"] == "body_too_large"

        async def chunks():  # no Content-Length: sent chunked
            yield b'{"prompt": "'
            for _ in range(40):
                yield b"x" * 100
            yield b'"}'

        streamed = await c.post("/api/v1/images", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert (await c.post("/api/v1/images", json={"prompt": "x" * 500})).status_code == 201
    assert backend.calls == 1


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"])
async def test_bodies_must_be_json(app_with, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    async with client(app_with()) as c:
        response = await c.post("/api/v1/images", content=b'{"prompt": "fox"}', headers=headers)
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "application/vnd.atelier+json"])
async def test_json_bodies_are_accepted_with_any_json_media_type(app_with, content_type):
    async with client(app_with()) as c:
        response = await c.post("/api/v1/images", content=b'{"prompt": "fox"}', headers={"Content-Type": content_type})
    assert response.status_code == 201


# --- the studio's access option ------------------------------------------------------------------------


async def test_the_studio_is_public_by_default(app_with):
    async with client(app_with()) as c:
        assert (await c.get("/")).status_code == 200


async def test_a_locked_studio_asks_for_its_token_once_then_remembers_the_visitor(app_with):
    app = app_with(ATELIER_STUDIO_TOKEN="open-sesame")
    async with client(app) as c:
        locked = await c.get("/")
        assert locked.status_code == 401 and locked.json()["error"]["code"] == "studio_locked"
        assert (await c.get("/?studio_token=wrong")).status_code == 401
        assert (await c.get("/gradio_api/info")).status_code == 401  # the studio's own API too
        opened = await c.get("/?studio_token=open-sesame&tab=music")
        assert opened.status_code == 303 and opened.headers["location"] == "/?tab=music"
        cookie = opened.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "open-sesame" not in cookie
        assert (await c.get("/")).status_code == 200  # the client kept the cookie
    async with client(app) as newcomer:
        elsewhere = await newcomer.get("http://atelier.test//evil.example/?studio_token=open-sesame")
        assert elsewhere.headers["location"] == "/evil.example/"  # a path on this site, not another host
    async with client(app) as stranger:
        stranger.cookies.set("atelier_studio", "forged")
        assert (await stranger.get("/")).status_code == 401
        # Shared things stay shareable, and the API has its own tokens.
        for path in ["/gallery", "/api/health", "/docs", "/openapi.json"]:
            assert (await stranger.get(path)).status_code == 200, path


def test_malformed_settings_stop_the_app_with_a_message_naming_the_variable(monkeypatch):
    def from_env(env: dict[str, str]) -> ApiSettings:
        """The settings from exactly these variables."""
        for name in API_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return ApiSettings.from_env()

    with pytest.raises(ValueError, match="ATELIER_RATE_LIMIT='lots'"):
        from_env({"ATELIER_RATE_LIMIT": "lots"})
    with pytest.raises(ValueError, match="ATELIER_API_MAX_BODY"):
        from_env({"ATELIER_API_MAX_BODY": "-5"})
    with pytest.raises(ValueError, match="ATELIER_WEBHOOK_ALLOW_PRIVATE"):
        from_env({"ATELIER_WEBHOOK_ALLOW_PRIVATE": "maybe"})
    settings = from_env({"ATELIER_API_TOKENS": " a, ,b ", "ATELIER_CORS_ORIGINS": "https://x.example",
                         "ATELIER_API_MAX_BODY": "2M", "ATELIER_PUBLIC_URL": "https://s.example/"})
    assert settings.api_tokens == ("a", "b") and settings.cors_origins == ("https://x.example",)
    assert settings.api_max_body == 2 * 2**20 and settings.public_url == "https://s.example"

"""One gate for every way into a model: which routes generate, with and without each token, and
the limits they share. The routes are found on the mounted app (tests/support/studio_routes.py),
so a new tab's event or a new Gradio route is covered, or fails, without anyone listing it here.

What the tokens protect (README, "Sharing the URL safely"):
- ATELIER_API_TOKENS: the REST API, /api/v1. A valid one also opens a locked studio.
- ATELIER_STUDIO_TOKEN: the studio, its page and all of /gradio_api (so gradio_client too): the
  cookie its link sets, or the token sent as a bearer token.
- Neither closes the other: with API tokens alone the studio is public, within the visitor limits.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.support.servers import FixedLatencyBackend, serving
from tests.support.studio_routes import (
    EVENT_ROUTES,
    NO_EVENT,
    Credentials,
    call_event,
    route_paths,
    studio_app,
)
from tests.support.training import pictures
from ui.api.security import STUDIO_COOKIE, studio_cookie_value
from ui.settings import API_ENV_VARS
from ui.store import ResultStore
from ui.web import create_app

API_TOKEN, STUDIO_TOKEN = "api-token-for-tests", "studio-token-for-tests"
REST_BODIES = {
    "/api/v1/images": {"prompt": "a fox in the snow"},
    "/api/v1/music": {"prompt": "a fox in the snow", "duration": 1},
    "/api/v1/jobs": {"kind": "image", "request": {"prompt": "a fox in the snow"}},
    "/api/v1/videos": {"prompt": "a fox in the snow", "frames": 9, "width": 96, "height": 64, "steps": 1},
    "/api/v1/trainings": {"trigger": "qwerty the fox", "preset": "tiny", "steps": 1,
                          "pictures": [base64.b64encode(p).decode() for p in pictures(3)]},
}
# REST routes that call a model but save nothing: admitted by the same gate (tests/api/test_api_guides.py).
REST_MODEL_CALLS = {"/api/v1/annotate"}
CREDENTIALS = [
    Credentials("nothing", {}, {}),
    Credentials("an API token", {"Authorization": f"Bearer {API_TOKEN}"}, {}),
    Credentials("the studio token as a bearer", {"Authorization": f"Bearer {STUDIO_TOKEN}"}, {}),
    Credentials("the studio's cookie", {}, {STUDIO_COOKIE: studio_cookie_value(STUDIO_TOKEN)}),
]
SETTINGS = {
    "open": {},
    "API tokens": {"ATELIER_API_TOKENS": API_TOKEN},
    "studio token": {"ATELIER_STUDIO_TOKEN": STUDIO_TOKEN},
    "both": {"ATELIER_API_TOKENS": API_TOKEN, "ATELIER_STUDIO_TOKEN": STUDIO_TOKEN},
}


@pytest.fixture
def site(monkeypatch, tmp_path):
    """site(**env) → (url, store, app): the whole app on a real server, with exactly these API settings."""

    def start(**env: str):
        for name in API_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in {"ATELIER_RATE_LIMIT": "0", "ATELIER_GENERATION_RATE_LIMIT": "0", **env}.items():
            monkeypatch.setenv(name, value)
        store = ResultStore(tmp_path / f"store-{len(list(tmp_path.iterdir()))}")
        app = create_app(FixedLatencyBackend(latency=0.0, steps=1), store)  # test double: no model
        return serving(app), store, app

    return start


def rest_call(url: str, path: str, body: dict, credentials: Credentials) -> int:
    """POST to the API; a job is followed to its end (its result is saved after the answer)."""
    with httpx.Client(base_url=url, headers=credentials.headers, cookies=credentials.cookies, timeout=60) as client:
        answer = client.post(path, json=body)
        if answer.status_code == 202:
            events = client.get(f"/api/v1/jobs/{answer.json()['job']['id']}/events").text
            assert "event: succeeded" in events or '"status": "succeeded"' in events
        return answer.status_code


def studio_events(app) -> list:
    """The studio's events that start a generation: each public event that saves a result."""
    blocks = studio_app(app).get_blocks()
    return [fn for fn in blocks.fns.values() if fn.api_name in ("generate_image", "generate_music", "generate_video")]


def test_every_post_route_is_known_to_run_an_event_or_not(site):
    server, _, app = site()
    studio_posts = {p for p in route_paths(studio_app(app).routes)}
    unknown = studio_posts - {p.replace("{api_name}", "{api_name}") for p in EVENT_ROUTES} - set(NO_EVENT)
    assert unknown == set(), "say in tests/support/studio_routes.py whether these run the studio's events"
    rest_posts = {p for p in route_paths(app.router.routes) if p.startswith("/api/v1/") and "{" not in p}
    assert rest_posts == set(REST_BODIES) | REST_MODEL_CALLS, "a new REST route that takes a body: is it a generation?"


def test_the_only_events_that_generate_are_the_named_ones_and_each_meets_the_gate(site):
    """Every event is run once, open: those that saved a result are exactly the API's named
    generation endpoints; with the generation limit spent, each of them is refused."""
    server, store, app = site()
    blocks = studio_app(app).get_blocks()
    nobody = CREDENTIALS[0]
    with server as url:
        generating = []
        for fn in blocks.fns.values():
            if fn.js is not None and fn.fn is None:  # runs in the browser only
                continue
            before = len(store)
            call_event(url, "/gradio_api/queue/join", fn, nobody)
            if len(store) > before:
                generating.append(fn.api_name)
    assert sorted(generating) == sorted(fn.api_name for fn in studio_events(app))


@pytest.mark.parametrize("setting", SETTINGS)
def test_which_routes_generate_with_and_without_each_token(site, setting):
    env = SETTINGS[setting]
    server, store, app = site(**env)
    outcomes = {}
    with server as url:
        for credentials in CREDENTIALS:
            for path, body in REST_BODIES.items():
                outcomes[(path, credentials.name)] = rest_call(url, path, body, credentials)
            for fn in studio_events(app):
                for route in EVENT_ROUTES:
                    before = len(store)
                    outcome = call_event(url, route, fn, credentials)
                    saved = len(store) > before
                    assert saved == (outcome == "done"), (route, fn.api_name, credentials.name, outcome)
                    outcomes[(route.replace("{api_name}", fn.api_name), credentials.name)] = outcome
    for (where, who), outcome in outcomes.items():
        if where.startswith("/api/v1/"):
            opened = "ATELIER_API_TOKENS" not in env or who == "an API token"
            assert outcome in ((201, 202) if opened else (401,)), (where, who, outcome)
        else:
            opened = "ATELIER_STUDIO_TOKEN" not in env or who != "nothing"
            if "ATELIER_STUDIO_TOKEN" in env and who == "an API token":
                opened = "ATELIER_API_TOKENS" in env  # an API token opens the studio only where it is one
            assert outcome == ("done" if opened else "http 401"), (where, who, outcome)


def test_the_generation_limit_is_one_for_rest_and_every_studio_route_together(site):
    server, store, app = site(ATELIER_GENERATION_RATE_LIMIT="3")
    nobody = CREDENTIALS[0]
    with server as url:
        assert httpx.post(url + "/api/v1/images", json=REST_BODIES["/api/v1/images"]).status_code == 201
        fn = studio_events(app)[0]
        assert call_event(url, "/gradio_api/call/{api_name}", fn, nobody) == "done"
        assert call_event(url, "/gradio_api/queue/join", fn, nobody) == "done"  # the third: the bucket is empty
        refused = httpx.post(url + "/api/v1/music", json=REST_BODIES["/api/v1/music"])
        assert refused.status_code == 429 and "Too many generations" in refused.json()["error"]["message"]
        for route in EVENT_ROUTES:
            for event in studio_events(app):
                outcome = call_event(url, route, event, nobody)
                assert outcome.startswith("error: Too many generations: try again in"), (route, outcome)
    assert len(store) == 3

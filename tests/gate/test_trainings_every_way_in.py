"""Who may train and how many trainings at once: one rule (ui/gate/trainings.py) that both ways into
training meet, POST /api/v1/trainings and the studio's Train tab. The rule on its own; then one whole
app (create_app, as `atelier serve` builds it), its REST API over httpx and its Train tab's event run
as Gradio runs it, for the same visitor (the same address): a training started one way fills the
visitor's place for the other, and on Modal the tab is closed or open exactly as the API is."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import httpx
import pytest
from gradio.context import LocalContext

from tests.support.api_pictures import b64
from tests.support.studio_routes import studio_app
from tests.support.training import finished, pictures
from ui.errors import ApiError
from ui.gate import Visitor
from ui.gate.trainings import Trainings
from ui.settings import API_ENV_VARS, ApiSettings
from ui.web import create_app

pytestmark = pytest.mark.anyio
ADDRESS = "127.0.0.1"  # httpx's ASGI transport's client: the Train tab's visitor below comes from it too
API_TOKEN = "api-token-for-tests"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def settings(monkeypatch, **env: str) -> ApiSettings:
    for name in API_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ApiSettings.from_env()


# --- the rule ---------------------------------------------------------------------------------------

ADDRESSED, TOKEN_HOLDER = Visitor(f"ip:{ADDRESS}"), Visitor("token:abc", has_token=True)


@pytest.mark.parametrize("where, way_in, visitor, env, allowed", [
    ("local", "api", ADDRESSED, {}, True),  # one's own machine: the owner is at the keyboard
    ("hybrid", "studio", ADDRESSED, {}, True),
    ("modal", "api", ADDRESSED, {}, False),
    ("modal", "studio", ADDRESSED, {}, False),
    ("modal", "api", TOKEN_HOLDER, {"ATELIER_API_TOKENS": API_TOKEN}, True),
    ("modal", "studio", TOKEN_HOLDER, {"ATELIER_API_TOKENS": API_TOKEN}, True),  # a token opens the studio too
    ("modal", "studio", ADDRESSED, {"ATELIER_API_TOKENS": API_TOKEN}, False),  # API tokens leave the studio public
    ("modal", "studio", ADDRESSED, {"ATELIER_STUDIO_TOKEN": "s"}, True),  # a locked studio's visitors are trusted
    ("modal", "api", ADDRESSED, {"ATELIER_STUDIO_TOKEN": "s"}, False),  # the lock doesn't close the API
    ("modal", "api", ADDRESSED, {"ATELIER_OPEN_TRAINING": "1"}, True),
    ("modal", "studio", ADDRESSED, {"ATELIER_OPEN_TRAINING": "1"}, True),
])
def test_on_modal_only_trusted_callers_train_unless_the_owner_opens_it(monkeypatch, where, way_in, visitor, env,
                                                                       allowed):
    trainings = Trainings(settings(monkeypatch, **env))
    if allowed:
        trainings.closed(visitor, where, way_in)
        return
    with pytest.raises(ApiError) as refused:
        trainings.closed(visitor, where, way_in)
    assert (refused.value.status_code, refused.value.code) == (403, "training_closed")
    assert "ATELIER_OPEN_TRAINING=1" in refused.value.detail


def test_a_visitors_trainings_count_until_they_end_whichever_way_they_came(monkeypatch):
    trainings = Trainings(settings(monkeypatch, ATELIER_TRAININGS_PER_CLIENT="2"))
    job = SimpleNamespace(finished=False)
    trainings.hold(ADDRESSED, "job j0b", lambda: job.finished)
    with trainings.held_while(ADDRESSED, "one in the studio's Train tab"):
        with pytest.raises(ApiError) as refused:
            trainings.check_room(ADDRESSED)
        trainings.check_room(TOKEN_HOLDER)  # another visitor has places of their own
    assert refused.value.status_code == 429 and refused.value.code == "too_many_trainings"
    assert "2 trainings waiting or running (job j0b, one in the studio's Train tab)" in refused.value.detail
    trainings.check_room(ADDRESSED)  # the tab's ended: one place free
    trainings.hold(ADDRESSED, "job j1b", lambda: False)
    with pytest.raises(ApiError):
        trainings.check_room(ADDRESSED)
    job.finished = True
    trainings.check_room(ADDRESSED)


# --- both ways in, on one app ---------------------------------------------------------------------


def train_event(app):
    """The Train tab's Start event, as Gradio runs it: the function its click calls."""
    blocks = studio_app(app).get_blocks()
    [fn] = [f for f in blocks.fns.values() if any(getattr(b, "elem_id", None) == "train-pictures" for b in f.inputs)
            and f.fn is not None and getattr(f.fn, "__name__", "") == "train"]
    return fn.fn


def as_gradio_calls(headers: dict | None = None) -> None:
    """The request Gradio hands an event (a test double: the two fields the gate reads), from ADDRESS."""
    LocalContext.request.set(SimpleNamespace(headers=headers or {}, client=SimpleNamespace(host=ADDRESS)))


async def test_a_rest_training_fills_the_visitors_place_in_the_train_tab_and_the_tab_its_place_over_rest(
        backend, store, monkeypatch, tmp_path):
    settings(monkeypatch)
    app = create_app(backend, store)
    train = train_event(app)
    paths = []
    for i, data in enumerate(pictures(3, seed=31)):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(data)
    tab_args = ([str(p) for p in paths], "qwerty", "tiny", 2, "subject", 16, 4e-4)
    body = {"trigger": "qwerty", "preset": "tiny", "steps": 2000, "preview_every": 0,
            "images": [b64(p.read_bytes()) for p in paths]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://atelier.test") as client:
        over_rest = await client.post("/api/v1/trainings", json=body)
        assert over_rest.status_code == 202, over_rest.text
        job_id = over_rest.json()["job"]["id"]
        as_gradio_calls()
        with pytest.raises(gr.Error) as refused:
            await anext(train(*tab_args))
        assert f"(job {job_id})" in refused.value.message and "may have 1 at once" in refused.value.message

        assert (await client.post(f"/api/v1/jobs/{job_id}/cancel")).status_code == 200
        assert (await finished(client, job_id))["status"] == "cancelled"
        in_the_tab = train(*tab_args)
        first = await anext(in_the_tab)  # admitted: the training holds the visitor's place from here
        assert "Starting" in str(first.values())
        refused_rest = await client.post("/api/v1/trainings", json=body | {"seed": 1})
        assert refused_rest.status_code == 429, refused_rest.text
        assert "one in the studio's Train tab" in refused_rest.json()["error"]["message"]

        await in_the_tab.aclose()  # Stop (or a closed page): the tab's training ends, its place is free
        again = await client.post("/api/v1/trainings", json=body | {"steps": 1, "seed": 2})
        assert again.status_code == 202, again.text
        assert (await finished(client, again.json()["job"]["id"]))["status"] == "succeeded"


@pytest.mark.parametrize("env, headers, refused", [
    ({}, {}, True),
    ({"ATELIER_STUDIO_TOKEN": "studio-token"}, {}, False),  # a locked studio's visitors are the owner's
    ({"ATELIER_API_TOKENS": API_TOKEN}, {}, True),  # API tokens alone leave the studio public
    ({"ATELIER_API_TOKENS": API_TOKEN}, {"authorization": f"Bearer {API_TOKEN}"}, False),  # gradio_client with one
    ({"ATELIER_OPEN_TRAINING": "1"}, {}, False),
])
async def test_on_modal_the_train_tab_is_closed_or_open_as_the_api_is(backend, store, monkeypatch, tmp_path, env,
                                                                     headers, refused):
    monkeypatch.setattr(backend, "where", "modal")  # the same app as on Modal: only its backend's place differs
    settings(monkeypatch, **env)
    train = train_event(create_app(backend, store))
    too_few = []
    for i, data in enumerate(pictures(2, seed=32)):
        too_few.append(str(tmp_path / f"{i}.png"))
        (tmp_path / f"{i}.png").write_bytes(data)
    as_gradio_calls(headers)
    with pytest.raises(gr.Error) as answer:
        await anext(train(too_few, "qwerty", "tiny", 2, "subject", 16, 4e-4))
    if refused:
        assert "ATELIER_OPEN_TRAINING=1" in answer.value.message
    else:  # let in: then judged on the pictures, as the API judges them
        assert answer.value.message == "Training needs 3 to 30 pictures; this request has 2."

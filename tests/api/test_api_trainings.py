"""POST /api/v1/trainings end to end on the tiny preset (a few steps at 64 px, on this CPU):
JSON with base64 pictures and a saved result's id, a multipart upload, the job's progress (loss,
time left, sample pictures), the adapter then in /api/v1/loras and usable at once; cancel through
/api/v1/jobs/{id}/cancel; the per-client limit; each bad input a 4xx with one sentence."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile

import pytest
from PIL import Image

from models.training import run
from tests.support.api_pictures import b64
from tests.support.training import finished, pictures

pytestmark = pytest.mark.anyio

TRIGGER = "a photo of qwerty the dog"
VIEW = "/api/v1/trainings"  # a training followed by its own view


async def test_a_training_from_json_pictures_and_a_result_id_lands_in_the_library(client_for, backend):
    async with client_for(backend) as client:
        made = await client.post("/api/v1/images", json={"prompt": "a red square", "seed": 1, "steps": 2})
        result_id = made.json()["result"]["id"]
        body = {"trigger": TRIGGER, "preset": "tiny", "steps": 4, "preview_every": 2, "adapter_id": "qwerty-json",
                "pictures": [b64(p) for p in pictures(2)] + [result_id]}
        started = await client.post("/api/v1/trainings", json=body)
        assert started.status_code == 202, started.text
        job = started.json()["job"]
        assert job["kind"] == "training" and job["status"] in ("queued", "running")
        assert started.headers["location"].endswith(f"/api/v1/trainings/{job['id']}")

        async with client.stream("GET", f"/api/v1/trainings/{job['id']}/events") as stream:
            kinds = [line.removeprefix("event: ") async for line in stream.aiter_lines() if line.startswith("event: ")]
        assert kinds[-1] == "succeeded" and "preview" in kinds  # the sample at step 2, shown as it trains
        done = await finished(client, job["id"], VIEW)
        assert done["progress"]["stage"] == "training" and done["progress"]["done"] == 4
        assert done["progress"]["loss"] > 0 and done["progress"]["eta_s"] == 0
        result = done["result"]
        assert result["kind"] == "training" and result["adapter"]["id"] == "qwerty-json"
        assert [f["name"] for f in result["files"]] == ["sample.png", "sample-step-2.webp"]  # and the one drawn

        listed = {a["id"]: a for a in (await client.get("/api/v1/loras")).json()["loras"]}
        assert listed["qwerty-json"]["trigger"] == TRIGGER and listed["qwerty-json"]["training"]["recipe"]["steps"] == 4
        used = await client.post("/api/v1/images", json={"prompt": TRIGGER, "steps": 2, "seed": 1,
                                                         "loras": [{"id": "qwerty-json", "scale": 1.0}]})
        assert used.status_code == 201, used.text

        again = await client.get(f"/api/v1/trainings/{made.json()['result']['id']}")
        assert again.status_code == 404  # not a job id at all


async def test_a_training_from_a_multipart_upload(client_for, backend):
    async with client_for(backend) as client:
        files = [("pictures", (f"{i}.png", data, "image/png")) for i, data in enumerate(pictures(3, seed=4))]
        started = await client.post("/api/v1/trainings", files=files,
                                    data={"trigger": "qwerty", "steps": "2", "adapter_id": "qwerty-form"})
        assert started.status_code == 202, started.text
        done = await finished(client, started.json()["job"]["id"], VIEW)
        assert done["status"] == "succeeded", done
        assert done["result"]["parameters"]["steps"] == 2 and done["result"]["adapter"]["id"] == "qwerty-form"


@pytest.mark.parametrize("name", ["images", "pictures"])  # the documented name, and Atelier's first, still accepted
async def test_the_pictures_come_as_images_or_pictures_in_json_and_forms(client_for, backend, name):
    made = pictures(3, seed=5)
    async with client_for(backend) as client:
        as_json = await client.post("/api/v1/trainings", json={"trigger": "qwerty", "steps": 1, "preview_every": 0,
                                                               "adapter_id": f"named-{name}-json",
                                                               name: [b64(p) for p in made]})
        assert as_json.status_code == 202, as_json.text
        assert (await finished(client, as_json.json()["job"]["id"], VIEW))["status"] == "succeeded"
        as_form = await client.post("/api/v1/trainings", files=[(name, (f"{i}.png", data, "image/png"))
                                                                for i, data in enumerate(made)],
                                    data={"trigger": "qwerty", "steps": "1", "preview_every": "0",
                                          "adapter_id": f"named-{name}-form"})
        assert as_form.status_code == 202, as_form.text
        done = await finished(client, as_form.json()["job"]["id"], VIEW)
    assert done["status"] == "succeeded" and done["result"]["adapter"]["id"] == f"named-{name}-form"


async def test_a_zip_sent_as_images_counts_as_its_pictures(client_for, backend):
    two = zipped({"a.png": pictures(1)[0], "b.png": pictures(1, seed=1)[0]})
    async with client_for(backend) as client:
        answer = await client.post("/api/v1/trainings", files=[("images", ("photos.zip", two, "application/zip"))],
                                   data={"trigger": "qwerty"})
    assert answer.status_code == 422, answer.text
    assert "this request has 2." in answer.json()["error"]["message"]  # unpacked into its two pictures, counted


async def test_a_cancelled_training_stops_keeps_nothing_and_frees_the_client_for_another(client_for, backend):
    async with client_for(backend) as client:
        body = {"trigger": "qwerty", "steps": 2000, "preview_every": 0, "pictures": [b64(p) for p in pictures(3, seed=8)]}
        first = (await client.post("/api/v1/trainings", json=body)).json()["job"]
        refused = await client.post("/api/v1/trainings", json=body | {"seed": 1})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_trainings"
        assert first["id"] in refused.json()["error"]["message"]

        while ((await client.get(f"/api/v1/jobs/{first['id']}")).json()["progress"] or {}).get("stage") != "training":
            await asyncio.sleep(0.5)  # (httpx's ASGI transport reads a stream only once it has ended)
        cancelled = await client.post(f"/api/v1/jobs/{first['id']}/cancel")
        assert cancelled.status_code == 200
        assert (await finished(client, first["id"], VIEW))["status"] == "cancelled"
        runs = run.runs_folder()
        deadline = time.monotonic() + 30  # the trainer stops at its next step, and removes its run's folder
        while runs.exists() and any(runs.iterdir()) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not (runs.exists() and any(runs.iterdir()))
        adapters = [a["id"] for a in (await client.get("/api/v1/loras")).json()["loras"]]
        assert not any(a.startswith("qwerty-") and a not in ("qwerty-json", "qwerty-form") for a in adapters)

        second = await client.post("/api/v1/trainings", json=body | {"steps": 1})
        assert second.status_code == 202, second.text
        assert (await finished(client, second.json()["job"]["id"], VIEW))["status"] == "succeeded"


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), (10, 20, 30)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize("change, status, words", [
    ({"images": [b64(p) for p in pictures(2)]}, 422, "Training needs 3 to 30 pictures; this request has 2."),
    ({"images": [b64(pictures(1)[0])] * 31}, 422, "this request has 31"),
    ({"images": [b64(p) for p in pictures(2)] + [b64(gif())]}, 422, "GIF"),
    ({"images": [b64(p) for p in pictures(2)] + ["AAAAAAAAAAAAAAAA"]}, 422, "Picture 3: Image result"),
    ({"images": [b64(p) for p in pictures(2, size=(20, 20))] + [b64(pictures(1)[0])]}, 422, "Picture 1 is 20×20"),
    ({"pictures": [b64(p) for p in pictures(3)]}, 422, "Send the pictures as `images` or as `pictures`"),  # both names
    ({"preset": "musicgen-small"}, 422, "musicgen-small"),
    ({"trigger": "x" * 500}, 422, "100"),
    ({"trigger": ""}, 422, "Trigger must not be empty."),
    ({"steps": 0}, 422, "Steps should be greater than or equal to 1"),
    ({"colour": "red"}, 422, "colour"),
    ({"callback_url": "not a url"}, 422, "callback_url must be an http or https URL."),
    ({"callback_url": "https://example.com/hook"}, 422, "no webhook secret"),
])
async def test_bad_trainings_get_a_4xx_with_one_sentence(client_for, backend, change, status, words):
    body = {"trigger": "qwerty", "steps": 2, "images": [b64(p) for p in pictures(3)]} | change
    async with client_for(backend) as client:
        answer = await client.post("/api/v1/trainings", json=body)
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]["message"]
    assert words in message and "\n" not in message and "Traceback" not in message


async def test_a_training_body_that_is_not_an_object_or_not_json_or_not_a_form(client_for, backend):
    async with client_for(backend) as client:
        broken = await client.post("/api/v1/trainings", content=b"{nope", headers={"content-type": "application/json"})
        listed = await client.post("/api/v1/trainings", json=["a", "b", "c"])
        text = await client.post("/api/v1/trainings", content=b"hello", headers={"content-type": "text/plain"})
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "malformed_json")
    assert listed.status_code == 422 and "JSON object" in listed.json()["error"]["message"]
    assert text.status_code == 415


async def test_a_job_of_another_kind_is_not_a_training(client_for, backend):
    async with client_for(backend) as client:
        job = (await client.post("/api/v1/jobs", json={"kind": "image", "request": {"prompt": "x", "steps": 1}})).json()
        answer = await client.get(f"/api/v1/trainings/{job['job']['id']}")
    assert answer.status_code == 404 and "another kind" in answer.json()["error"]["message"]


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("upload, words", [
    (zipped({"a.png": pictures(1)[0], "b/c.png": pictures(1, seed=1)[0], "notes.txt": b"x", "__MACOSX/._a.png": b""}),
     "Training needs 3 to 30 pictures; this request has 2."),  # the zip's two pictures, counted as pictures
    (zipped({f"{i}.png": b"\0" * (9 * 2**20) if i == 0 else pictures(1)[0] for i in range(3)}),
     "0.png in the zip is 9.0 MB unpacked; the limit is 8 MB a picture."),  # refused before it is unpacked
    (b"PK\x03\x04 and then nothing a zip has", "The zip can't be read"),
])
async def test_a_zip_of_pictures_counts_as_its_pictures_and_a_bad_one_is_one_sentence(client_for, backend, upload, words):
    async with client_for(backend) as client:
        answer = await client.post("/api/v1/trainings", files=[("pictures", ("photos.zip", upload, "application/zip"))],
                                   data={"trigger": "qwerty"})
    assert answer.status_code == 422 and words in answer.json()["error"]["message"], answer.text


async def test_on_modal_only_token_holders_train_unless_the_owner_opens_it(client_for, backend, monkeypatch):
    monkeypatch.setattr(backend, "where", "modal")  # the same app as on Modal: only its backend's place differs
    body = {"trigger": "qwerty", "steps": 2, "pictures": [b64(p) for p in pictures(2)]}  # refused before it is read
    async with client_for(backend) as client:
        closed = await client.post("/api/v1/trainings", json=body)
    async with client_for(backend, ATELIER_API_TOKENS="t0ken") as client:
        with_token = await client.post("/api/v1/trainings", json=body, headers={"Authorization": "Bearer t0ken"})
    async with client_for(backend, ATELIER_OPEN_TRAINING="1") as client:
        opened = await client.post("/api/v1/trainings", json=body)
    assert closed.status_code == 403 and "ATELIER_OPEN_TRAINING=1" in closed.json()["error"]["message"]
    assert with_token.status_code == opened.status_code == 422  # let in: then judged on the pictures


async def test_the_openapi_body_names_the_pictures_images_in_json_and_forms(client_for, backend):
    async with client_for(backend) as client:
        spec = (await client.get("/openapi.json")).json()
    content = spec["paths"]["/api/v1/trainings"]["post"]["requestBody"]["content"]
    for kind, item in (("application/json", {"type": "string"}), ("multipart/form-data", {"format": "binary"})):
        schema = content[kind]["schema"]
        assert "images" in schema["required"] and "pictures" not in schema["properties"], kind
        assert item.items() <= schema["properties"]["images"]["items"].items()
        assert "`pictures` is accepted" in schema["properties"]["images"]["description"]

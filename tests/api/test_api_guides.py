"""Guided images through the REST API on the tiny models: controls and references (base64 or a result's
image by id) on image requests and jobs, the annotate call, Vary and Upscale of a result with its
lineage, the ControlNet listing, and bad guides answered with a 422 while the model goes on serving."""

from __future__ import annotations

import asyncio
import io

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.support.api_pictures import b64, checked_sha256, first_image, png

pytestmark = pytest.mark.anyio


def square(width: int = 64, height: int = 64) -> Image.Image:
    picture = Image.new("RGB", (width, height), "black")
    ImageDraw.Draw(picture).rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill="white")
    return picture


async def made(client: httpx.AsyncClient, **fields) -> dict:
    answer = await client.post("/api/v1/images", json={"prompt": "a fox", "seed": 3, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()["result"]


async def pixels(client: httpx.AsyncClient, result: dict) -> np.ndarray:
    return np.asarray(await first_image(client, result))


async def test_controls_and_references_by_base64_or_result_id_guide_the_image(client):
    async with client:
        plain = await made(client)
        source = await client.get(plain["files"][0]["url"])
        canny = {"mode": "canny", "image": b64(png(square())), "scale": 0.8, "end": 0.5}
        guided = await made(client, controls=[canny], references=[{"image_result": plain["id"], "scale": 0.9}])
        assert not np.array_equal(await pixels(client, plain), await pixels(client, guided))
        (control,) = guided["guides"]["controls"]
        assert control | {"image_sha256": None} == {"mode": "canny", "scale": 0.8, "start": 0.0, "end": 0.5,
                                                   "preprocess": True, "image_sha256": None}
        assert control["image_sha256"] == checked_sha256(png(square()))
        assert guided["guides"]["references"] == [{"scale": 0.9, "image_sha256": checked_sha256(source.content)}]
        assert "controls" not in guided["parameters"]  # by hash in the record's guides, never the pictures
        by_id = await made(client, controls=[{"mode": "depth", "image_result": plain["id"]}])
        assert by_id["guides"]["controls"][0]["image_sha256"] == checked_sha256(source.content)


async def test_a_job_takes_controls_too(client):
    async with client:
        plain = await made(client)
        started = await client.post("/api/v1/jobs", json={"kind": "image", "request": {
            "prompt": "a fox", "controls": [{"mode": "scribble", "image_result": plain["id"], "scale": 0.5}]}})
        assert started.status_code == 202, started.text
        job_id = started.json()["job"]["id"]
        for _ in range(600):
            job = (await client.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "succeeded", job
        assert job["result"]["guides"]["controls"][0]["mode"] == "scribble"


async def test_annotate_answers_with_the_control_picture(client):
    async with client:
        answer = await client.post("/api/v1/annotate", json={"preset": "tiny", "mode": "canny",
                                                              "image": b64(png(square(96, 64)))})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "image/png"
        edges = np.asarray(Image.open(io.BytesIO(answer.content)).convert("L"))
        assert edges.shape == (64, 96) and edges[14:19, 30:60].any() and not edges[30:34, 30:60].any()
        plain = await made(client)
        by_id = await client.post("/api/v1/annotate", json={"mode": "depth", "image_result": plain["id"]})
        assert by_id.status_code == 200 and Image.open(io.BytesIO(by_id.content)).size == (64, 64)


@pytest.mark.parametrize(("body", "message"), [
    ({"preset": "tiny", "mode": "blur"}, "tiny has no blur control: its controls are canny, depth"),
    ({"preset": "tiny", "mode": "segmentation"}, "send the segmentation picture ready-made"),
    ({"preset": "tiny", "mode": "canny", "image": b64(b"GIF89a not a picture")}, "GIF"),
    ({"preset": "nope", "mode": "canny"}, "nope"),
    ({"preset": "tiny", "mode": "canny", "image": None, "image_result": "0123abcd"}, "no image result with that id"),
    ({"preset": "tiny", "mode": "sketch"}, "Mode"),
    ({"preset": "tiny", "mode": "canny", "image": None}, "Request needs its picture"),
])
async def test_annotate_refuses_bad_input_with_one_sentence(client, body, message):
    body = {"image": b64(png(square()))} | body
    if body.get("image") is None:
        del body["image"]
    async with client:
        answer = await client.post("/api/v1/annotate", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]["message"]
    assert message in error and "\n" not in error and "Traceback" not in error


BAD_GUIDES = [
    ({"controls": [{"mode": "canny", "image": b64(b"%PDF-1.4 not a picture")}]}, "Control 1 image must be a PNG"),
    ({"controls": [{"mode": "canny", "image": b64(png(square(64, 64)))},
                   {"mode": "depth", "image": b64(png(square(64, 32)))}]},
     "Control 2's picture is 64×32 but the image is 64×64"),
    ({"controls": [{"mode": "blur", "image": b64(png(square()))}]}, "tiny has no blur control"),
    ({"controls": [{"mode": "canny", "image": b64(png(square()))}] * 4}, "Controls may hold at most 3 items (got 4)"),
    ({"references": [{"image_result": "0123abcd"}]}, "there is no image result with that id"),
    ({"preset": "tiny-sd3", "references": [{"image": b64(png(square()))}] * 2}, "at most 1 reference image"),
]


async def test_bad_guides_are_a_422_with_one_sentence_and_the_model_goes_on_serving(client):
    async with client:
        for fields, message in BAD_GUIDES:
            answer = await client.post("/api/v1/images", json={"prompt": "a fox", **fields})
            assert answer.status_code == 422, (fields, answer.text)
            error = answer.json()["error"]["message"]
            assert message in error and "\n" not in error, (message, error)
        ok = await made(client, controls=[{"mode": "canny", "image": b64(png(square()))}])
        assert ok["guides"]["controls"][0]["mode"] == "canny"


async def test_vary_and_upscale_follow_a_result_and_record_it_as_their_parent(client):
    async with client:
        parent = await made(client, prompt="a harbour at dusk", steps=3)
        vary = await client.post(f"/api/v1/results/{parent['id']}/vary", json={"vary": "strong", "seed": 11})
        assert vary.status_code == 201, vary.text
        child = vary.json()["result"]
        assert child["lineage"] == {"parent": parent["id"], "action": "vary-strong"}
        assert child["parameters"] | {"seed": 0} == parent["parameters"] | {"seed": 0, "strength": 0.7}
        assert child["seed"] == 11 and child["input"]["image_sha256"] == checked_sha256(
            (await client.get(parent["files"][0]["url"])).content)
        subtle = (await client.post(f"/api/v1/results/{parent['id']}/vary")).json()["result"]  # no body: subtle
        assert subtle["lineage"]["action"] == "vary-subtle" and subtle["parameters"]["strength"] == 0.35
        upscaled = await client.post(f"/api/v1/results/{child['id']}/upscale", json={"seed": 2})
        assert upscaled.status_code == 201, upscaled.text
        big = upscaled.json()["result"]
        assert big["lineage"] == {"parent": child["id"], "action": "upscale"}
        assert (await pixels(client, big)).shape == (128, 128, 3)
        page = (await client.get(f"/r/{big['id']}")).text
        assert f'href="/r/{child["id"]}"' in page and "Upscale 2×" in page


async def test_follow_ups_of_what_isnt_an_image_result_are_refused(client):
    async with client:
        missing = await client.post("/api/v1/results/0123abcd/vary")
        assert missing.status_code == 404, missing.text
        music = (await client.post("/api/v1/music", json={"prompt": "drums", "duration": 1})).json()["result"]["id"]
        refused = await client.post(f"/api/v1/results/{music}/upscale")
        assert refused.status_code == 422 and "is music, not an image" in refused.json()["error"]["message"]
        image = await made(client)
        second = await client.post(f"/api/v1/results/{image['id']}/vary", json={"image": 2})
        assert second.status_code == 422 and "there is no image 2" in second.json()["error"]["message"]
        wild = await client.post(f"/api/v1/results/{image['id']}/vary", json={"vary": "wild"})
        assert wild.status_code == 422


async def test_the_controlnet_listing_says_what_each_preset_takes(client):
    async with client:
        everything = (await client.get("/api/v1/controlnets")).json()["presets"]
        tiny = (await client.get("/api/v1/controlnets", params={"preset": "tiny"})).json()["presets"]
        unknown = await client.get("/api/v1/controlnets", params={"preset": "nope"})
    by_name = {entry["preset"]: entry for entry in everything}
    sd35 = by_name["sd3.5-large-turbo"]
    assert [c["mode"] for c in sd35["controls"]] == ["canny", "depth", "blur"] and sd35["max_controls"] == 2
    assert sd35["references"]["max"] == 1 and sd35["family"] == "sd3"
    assert by_name["sd-turbo"]["references"] is None and by_name["sdxl-turbo"]["upscale_control"] == "tile"
    assert [entry["preset"] for entry in tiny] == ["tiny"]
    assert next(c for c in tiny[0]["controls"] if c["mode"] == "lines")["annotator"] is False
    assert unknown.status_code == 422

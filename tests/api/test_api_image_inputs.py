"""Image inputs through the REST API on the tiny model: an uploaded image (base64 or a data: URL),
a saved result's image by id, a mask for inpainting, as a synchronous call and as a job."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from PIL import Image

from tests.support.api_pictures import b64, checked_sha256, first_image, png

pytestmark = pytest.mark.anyio


PICTURE = Image.fromarray(np.indices((64, 96)).sum(axis=0).astype(np.uint8)[..., None].repeat(3, axis=2) * 2, "RGB")


async def test_an_uploaded_image_is_the_start_and_its_size_the_outputs(client):
    async with client:
        made = await client.post("/api/v1/images", json={"prompt": "a fox", "seed": 1, "image": b64(png(PICTURE)),
                                                          "strength": 0})
        assert made.status_code == 201, made.text
        result = made.json()["result"]
        assert result["parameters"]["strength"] == 0
        assert (result["parameters"]["width"], result["parameters"]["height"]) == (96, 64)
        assert "image" not in result["parameters"] and "mask" not in result["parameters"]
        assert result["input"] == {"mode": "image-to-image", "mask_sha256": None,
                                   "image_sha256": checked_sha256(png(PICTURE))}
        assert np.array_equal(np.asarray(await first_image(client, result)), np.asarray(PICTURE))  # strength 0


async def test_a_data_url_works_too_and_strength_redraws(client):
    async with client:
        data_url = "data:image/png;base64," + b64(png(PICTURE))
        made = await client.post("/api/v1/images", json={"prompt": "a fox", "seed": 1, "image": data_url, "strength": 1})
        assert made.status_code == 201, made.text
        redrawn = np.asarray(await first_image(client, made.json()["result"])).astype(int)
        assert np.abs(redrawn - np.asarray(PICTURE).astype(int)).mean() > 10


async def test_a_result_id_starts_from_that_results_image(client):
    async with client:
        first = (await client.post("/api/v1/images", json={"prompt": "a harbour", "seed": 3, "width": 64, "height": 96})).json()
        rid = first["result"]["id"]
        again = await client.post("/api/v1/images", json={"prompt": "a harbour", "image_result": rid, "strength": 0})
        assert again.status_code == 201, again.text
        result = again.json()["result"]
        source = await client.get(first["result"]["files"][0]["url"])
        assert result["input"]["image_sha256"] == checked_sha256(source.content)
        assert np.array_equal(np.asarray(await first_image(client, result)), np.asarray(await first_image(client, first["result"])))

        music = (await client.post("/api/v1/music", json={"prompt": "drums", "duration": 1})).json()["result"]["id"]
        refused = await client.post("/api/v1/images", json={"prompt": "x", "image_result": music})
        assert refused.status_code == 422
        assert refused.json()["error"]["message"] == f"Image result {music} is music, not an image: start from an image result."


async def test_inpainting_through_a_job_keeps_what_the_mask_leaves(client):
    mask = np.zeros((64, 96), np.uint8)
    mask[:, :48] = 255
    async with client:
        started = await client.post("/api/v1/jobs", json={"kind": "image", "request": {
            "prompt": "a fox", "seed": 2, "image": b64(png(PICTURE)), "mask": b64(png(Image.fromarray(mask, "L")))}})
        assert started.status_code == 202, started.text
        job_id = started.json()["job"]["id"]
        for _ in range(600):
            job = (await client.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "succeeded", job
        assert "image" not in job["result"]["parameters"] and job["result"]["input"]["mode"] == "inpainting"
        out = np.asarray(await first_image(client, job["result"])).astype(int)
        original = np.asarray(PICTURE).astype(int)
        assert np.abs(out[:, 48:] - original[:, 48:]).max() <= 1
        assert np.abs(out[:, :48] - original[:, :48]).mean() > 10


async def test_the_openapi_document_shows_the_input_fields(client):
    async with client:
        schema = (await client.get("/openapi.json")).json()
    fields = schema["components"]["schemas"]["ImageRequest"]["properties"]
    for name in ("image", "image_result", "mask", "strength"):
        assert name in fields and "description" in str(fields[name]), name
    assert "PNG, JPEG or WebP" in str(fields["image"])

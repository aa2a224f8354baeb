"""The REST API serving an SD3 pipeline: tiny-sd3 through a LocalBackend, as `atelier serve` runs it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

pytestmark = pytest.mark.anyio


async def test_an_sd3_image_is_made_and_fetched_through_the_api(client_for, backend):
    async with client_for(backend) as client:
        made = await client.post("/api/v1/images", json={"prompt": "a small fox", "preset": "tiny-sd3", "seed": 5})
        assert made.status_code == 201, made.text
        result = made.json()["result"]
        assert result["parameters"]["preset"] == "tiny-sd3" and result["parameters"]["steps"] == 2
        assert result["model"]["preset"] == "tiny-sd3"
        [image] = result["files"]
        media = await client.get(image["url"])
        assert media.status_code == 200 and media.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(media.content)).size == (64, 64)

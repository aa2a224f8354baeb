"""The REST API serving an SD3 pipeline: tiny-sd3 through a LocalBackend, as `atelier serve` runs it."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from ui.settings import API_ENV_VARS
from ui.web import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_an_sd3_image_is_made_and_fetched_through_the_api(model_classes, store, monkeypatch):
    from ui.generation import LocalBackend

    for name in API_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    app = create_app(LocalBackend(model_classes, {"image": "tiny", "music": "tiny"}), store)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://atelier.test") as client:
        made = await client.post("/api/v1/images", json={"prompt": "a small fox", "preset": "tiny-sd3", "seed": 5})
        assert made.status_code == 201, made.text
        result = made.json()["result"]
        assert result["parameters"]["preset"] == "tiny-sd3" and result["parameters"]["steps"] == 2
        assert result["model"]["preset"] == "tiny-sd3"
        [image] = result["files"]
        media = await client.get(image["url"])
        assert media.status_code == 200 and media.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(media.content)).size == (64, 64)

"""What the REST API's picture tests share (tests/api/test_api_image_inputs.py, test_api_guides.py):
pictures as the API takes them (PNG bytes, base64), the hash a record keeps of a picture, and a
result's first image as the API serves it. Their `client` is tests/api/conftest.py's fixture."""

from __future__ import annotations

import base64
import hashlib
import io

import httpx
from PIL import Image

from models.requests import ImageRequest


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def checked_sha256(data: bytes) -> str:
    """The hash a record keeps: of the picture as the model got it (checked, RGB PNG)."""
    return hashlib.sha256(ImageRequest(prompt="x", image=data).image).hexdigest()


async def first_image(client: httpx.AsyncClient, result: dict) -> Image.Image:
    """A result's first file, fetched from its media URL, as an RGB picture."""
    media = await client.get(result["files"][0]["url"])
    return Image.open(io.BytesIO(media.content)).convert("RGB")

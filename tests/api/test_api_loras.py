"""LoRA adapters over the REST API: listed for discovery, named in image requests, in the
OpenAPI document; the app on the tiny presets, in-process (httpx)."""

from __future__ import annotations

import pytest

from models.image import loras
from models.random_weights.tiny_lora import add_demo_lora

pytestmark = pytest.mark.anyio


@pytest.fixture
def client(client_for, backend):
    if "api-lora" not in {a.id for a in loras.list_adapters()}:
        add_demo_lora("api-lora", seed=4)
    return client_for(backend)


async def test_adapters_are_listed_and_filtered_by_preset(client):
    async with client:
        listed = (await client.get("/api/v1/loras")).json()["loras"]
        mine = next(a for a in listed if a["id"] == "api-lora")
        assert mine["family"] == "tiny" and mine["presets"] == ["tiny"] and mine["rank"] == 4 and mine["size"] > 0
        assert "api-lora" in [a["id"] for a in (await client.get("/api/v1/loras?preset=tiny")).json()["loras"]]
        assert (await client.get("/api/v1/loras?preset=sd-turbo")).json()["loras"] == []
        refused = await client.get("/api/v1/loras?preset=sd-99")
        assert refused.status_code == 422 and "Unknown image preset 'sd-99'" in refused.json()["error"]["message"]


async def test_an_image_request_applies_adapters_and_its_result_says_so(client):
    async with client:
        plain = (await client.post("/api/v1/images", json={"prompt": "fox", "seed": 3})).json()["result"]
        made = await client.post("/api/v1/images", json={"prompt": "fox", "seed": 3, "loras": [{"id": "api-lora", "scale": 0.7}]})
        assert made.status_code == 201, made.text
        result = made.json()["result"]
        assert result["parameters"]["loras"] == [{"id": "api-lora", "scale": 0.7}]
        assert plain["parameters"]["loras"] == []
        first = (await client.get(result["files"][0]["url"])).content
        assert first != (await client.get(plain["files"][0]["url"])).content


async def test_bad_adapter_choices_get_a_clear_422(client):
    cases = [
        ({"loras": [{"id": "nope"}]}, "Unknown LoRA adapter 'nope'. Adapters in the library:"),
        ({"preset": "sd-turbo", "loras": [{"id": "api-lora"}]}, "'api-lora' is made for tiny models (tiny), not for sd-turbo"),
        ({"loras": [{"id": "api-lora", "scale": -3}]}, "greater than or equal to -2"),
        ({"loras": [{"id": "api-lora"}, {"id": "api-lora"}]}, "name each adapter once"),
    ]
    async with client:
        for fields, message in cases:
            answer = await client.post("/api/v1/images", json={"prompt": "fox", **fields})
            assert answer.status_code == 422 and message in answer.json()["error"]["message"], answer.text


async def test_the_openapi_document_describes_adapters(client):
    async with client:
        spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/loras" in spec["paths"]
    choice = spec["components"]["schemas"]["LoraChoice"]["properties"]
    assert choice["scale"]["minimum"] == -2 and choice["scale"]["maximum"] == 2
    assert spec["components"]["schemas"]["ImageRequest"]["properties"]["loras"]["maxItems"] == 4

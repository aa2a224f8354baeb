"""The REST API end to end on the tiny presets: generate, fetch, publish, delete; errors; docs.

httpx talks to the whole app (create_app, as `atelier serve` builds it) in-process.
"""

from __future__ import annotations

import pytest

from models.requests import ImageRequest, MusicRequest
from tests.support.api_doubles import FailingBackendDouble, InstantBackendDouble
from ui.errors import GenerationError, GenerationTimeout, ModelUnavailable

pytestmark = pytest.mark.anyio


async def test_an_image_is_made_fetched_published_listed_and_deleted(client_for, backend, store):
    async with client_for(backend) as client:
        made = await client.post("/api/v1/images", json={"prompt": "a small fox", "steps": 2, "seed": 5})
        assert made.status_code == 201, made.text
        result, owner_token = made.json()["result"], made.json()["owner_token"]
        assert result["kind"] == "image" and result["seed"] == 5 and result["published"] is False
        assert result["parameters"]["steps"] == 2 and result["parameters"]["preset"] == "tiny"
        assert result["permalink"] == f"http://atelier.test/r/{result['id']}"
        [image] = result["files"]
        assert image["url"] == f"http://atelier.test/results/{result['id']}/image-0.png"

        media = await client.get(image["url"])
        assert media.status_code == 200 and media.headers["content-type"] == "image/png"
        assert media.content.startswith(b"\x89PNG") and len(media.content) == image["bytes"]

        fetched = (await client.get(f"/api/v1/results/{result['id']}")).json()
        assert fetched == result and "owner_token" not in fetched and "owner_hash" not in fetched
        assert (await client.get("/api/v1/results")).json() == {"results": [], "next": None}  # unlisted

        published = await client.post(f"/api/v1/results/{result['id']}/publish", headers={"X-Owner-Token": owner_token})
        assert published.status_code == 200 and published.json()["published"] is True
        listed = (await client.get("/api/v1/results", params={"kind": "image"})).json()["results"]
        assert [r["id"] for r in listed] == [result["id"]] and listed[0]["files"][0]["url"] == image["url"]
        assert (await client.get("/api/v1/results", params={"kind": "music"})).json()["results"] == []
        for q, found in (("small", [result["id"]]), ("FOX", [result["id"]]), ("owl", []), ('" OR *', [])):
            assert [r["id"] for r in (await client.get("/api/v1/results", params={"q": q})).json()["results"]] == found
        assert (await client.get("/api/v1/results", params={"q": "x" * 201})).status_code == 422

        unpublished = await client.post(f"/api/v1/results/{result['id']}/unpublish", headers={"X-Owner-Token": owner_token})
        assert unpublished.json()["published"] is False and (await client.get("/api/v1/results")).json()["results"] == []

        deleted = await client.delete(f"/api/v1/results/{result['id']}", headers={"X-Owner-Token": owner_token})
        assert deleted.status_code == 204 and deleted.content == b""
        gone = await client.get(f"/api/v1/results/{result['id']}")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
        assert (await client.get(image["url"])).status_code == 404
    assert len(store) == 0


async def test_music_is_made_as_a_wav_clip(client_for, backend):
    async with client_for(backend) as client:
        made = await client.post("/api/v1/music", json={"prompt": "lofi beat", "duration": 1, "seed": 3})
        assert made.status_code == 201, made.text
        result = made.json()["result"]
        assert result["kind"] == "music" and result["audio"]["seconds"] == pytest.approx(1.0, abs=0.05)
        clip = await client.get(result["files"][0]["url"])
        assert clip.headers["content-type"] == "audio/wav" and clip.content[:4] == b"RIFF"


async def test_owner_actions_need_the_owner_token(client_for):
    async with client_for(InstantBackendDouble()) as client:
        made = (await client.post("/api/v1/images", json={"prompt": "fox"})).json()
        rid, token = made["result"]["id"], made["owner_token"]
        other = (await client.post("/api/v1/images", json={"prompt": "owl"})).json()
        for headers in [{}, {"X-Owner-Token": ""}, {"X-Owner-Token": "wrong"}, {"X-Owner-Token": other["owner_token"]}]:
            for method, path in [("POST", f"/api/v1/results/{rid}/publish"), ("POST", f"/api/v1/results/{rid}/unpublish"),
                                 ("DELETE", f"/api/v1/results/{rid}")]:
                response = await client.request(method, path, headers=headers)
                assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", (headers, path)
        unknown = await client.post("/api/v1/results/AAAAAAAAAAAAAAAA/publish", headers={"X-Owner-Token": token})
        assert unknown.status_code == 404
        assert (await client.get(f"/api/v1/results/{rid}")).json()["published"] is False
        assert (await client.delete(f"/api/v1/results/{rid}", headers={"X-Owner-Token": token})).status_code == 204


async def test_health_reports_the_backend_and_each_models_state(client_for, backend):
    async with client_for(backend) as client:
        assert (await client.get("/api/health")).json()["models"] == []
        assert (await client.post("/api/v1/images", json={"prompt": "fox", "steps": 2})).status_code == 201
        # sd-turbo's weights are not on this machine (offline): the model fails to load.
        failed = await client.post("/api/v1/images", json={"prompt": "fox", "preset": "sd-turbo"})
        assert failed.status_code == 503 and failed.json()["error"]["code"] == "model_unavailable"
        assert "sd-turbo" in failed.json()["error"]["message"]
        health = (await client.get("/api/health")).json()
        assert health["status"] == "ok" and health["backend"] == "local"
        states = {m["preset"]: m for m in health["models"]}
        assert states["tiny"]["state"] == "ready" and states["tiny"]["error"] is None
        assert states["sd-turbo"]["state"] == "failed" and "HF_HUB_OFFLINE" in states["sd-turbo"]["error"]


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (GenerationError("The tiny image model failed: RuntimeError: CUDA out of memory"), 502, "generation_failed"),
        (ModelUnavailable("Modal rejected the call: no valid token."), 503, "model_unavailable"),
        (GenerationTimeout("The tiny model took too long (601 s) and was stopped."), 504, "timeout"),
    ],
)
async def test_model_failures_become_502_503_504_with_their_message(client_for, error, status, code):
    async with client_for(FailingBackendDouble(error)) as client:
        response = await client.post("/api/v1/images", json={"prompt": "fox"})
    assert response.status_code == status
    assert response.json() == {"error": {"code": code, "message": str(error)}}


async def test_an_unexpected_error_is_a_plain_500_without_a_traceback(client_for):
    async with client_for(FailingBackendDouble(KeyError("secret internals")), raise_app_exceptions=False) as client:
        response = await client.post("/api/v1/images", json={"prompt": "fox"})
        assert response.status_code == 500
        assert response.json() == {"error": {"code": "internal_error",
                                             "message": "Something went wrong on our side; it has been logged."}}
        assert "Traceback" not in response.text and "secret internals" not in response.text
        assert (await client.get("/api/health")).status_code == 200


async def test_a_synchronous_generation_that_takes_too_long_is_a_504(client_for):
    async with client_for(InstantBackendDouble(steps=3, delay_s=1.0), ATELIER_SYNC_TIMEOUT="0.2") as client:
        response = await client.post("/api/v1/images", json={"prompt": "fox"})
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
    assert "POST /api/v1/jobs" in response.json()["error"]["message"]


async def test_unknown_api_paths_and_wrong_methods_get_json_404_and_405(client_for):
    async with client_for(InstantBackendDouble()) as client:
        missing = await client.get("/api/v1/nothing-here")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong = await client.get("/api/v1/images")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
        assert wrong.json()["error"]["code"] == "method_not_allowed"
        put = await client.put("/api/v1/results/AAAAAAAAAAAAAAAA", json={})
        assert put.status_code == 405 and set(put.headers["allow"].split(", ")) == {"GET", "DELETE"}


async def test_media_urls_use_the_public_url_when_configured(client_for):
    async with client_for(InstantBackendDouble(), ATELIER_PUBLIC_URL="https://studio.example/") as client:
        result = (await client.post("/api/v1/images", json={"prompt": "fox"})).json()["result"]
    assert result["files"][0]["url"].startswith("https://studio.example/results/")


async def test_the_openapi_document_uses_the_shared_request_schemas(client_for):
    async with client_for(InstantBackendDouble()) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = (await client.get("/openapi.json")).json()
    assert {"/api/v1/images", "/api/v1/music", "/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/events",
            "/api/v1/results", "/api/v1/results/{result_id}", "/api/v1/results/{result_id}/publish",
            "/api/v1/results/{result_id}/unpublish"} <= set(spec["paths"])
    # Bounds in the document are the schemas' own (models/*/request.py), not a copy.
    for model in (ImageRequest, MusicRequest):
        ours = model.model_json_schema()["properties"]
        published = spec["components"]["schemas"][model.__name__]["properties"]
        assert set(published) == set(ours)
        for name, field in ours.items():
            assert bounds(published[name]) == bounds(field), (model.__name__, name)
    errors = spec["paths"]["/api/v1/images"]["post"]["responses"]
    assert errors["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "security" not in spec["paths"]["/api/v1/images"]["post"]  # no tokens configured


BOUND_KEYWORDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "multipleOf",
                  "enum", "const", "type", "default"}


def bounds(schema: dict) -> dict:
    """The limits a JSON schema sets on a value, through anyOf (FastAPI words the rest differently)."""
    found = {k: v for k, v in schema.items() if k in BOUND_KEYWORDS and not (k == "default" and v is None)}
    if "anyOf" in schema:
        found["anyOf"] = [bounds(s) for s in schema["anyOf"]]
    return found

"""The API's reference: a valid OpenAPI 3.1 document, and /docs complete with the network off
(every file from our origin), checked with a validator and in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.support.api_doubles import InstantBackendDouble
from tests.support.servers import browser, serving
from ui.settings import API_ENV_VARS
from ui.web import create_app


@pytest.fixture
def app_with(store, monkeypatch):
    def make(**env: str):
        for name in API_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return create_app(InstantBackendDouble(), store)

    return make


@pytest.mark.parametrize("env", [{}, {"ATELIER_API_TOKENS": "t0ken"}], ids=["open", "with-tokens"])
def test_the_openapi_document_is_valid_openapi_3_1(app_with, env):
    spec = TestClient(app_with(**env)).get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on anything a 3.1 validator rejects
    events = spec["paths"]["/api/v1/jobs/{job_id}/events"]["get"]["responses"]
    stream = events["200"]["content"]["text/event-stream"]
    assert stream["schema"]["type"] == "string" and "itemSchema" not in stream and "x-itemSchema" in stream
    assert all("text/event-stream" not in r.get("content", {}) for s, r in events.items() if s != "200")


def test_the_validator_does_reject_a_32_keyword_in_a_31_document(app_with):
    """The check above means something: the document as FastAPI builds it fails it."""
    app = app_with()
    spec = app.openapi()
    broken = {**spec, "paths": {**spec["paths"]}}
    path = "/api/v1/jobs/{job_id}/events"
    operation = dict(broken["paths"][path]["get"])
    operation["responses"] = {"200": {"description": "events", "content": {"text/event-stream": {"itemSchema": {"type": "object"}}}}}
    broken["paths"][path] = {"get": operation}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_docs_load_every_file_from_our_origin(app_with):
    client = TestClient(app_with())
    assert client.get("/redoc", follow_redirects=False).headers["location"] == "/docs"
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in r.text and '<main><div id="swagger-ui"></div></main>' in r.text
    urls = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', r.text) + re.findall(r"url: ?['\"]([^'\"]+)", r.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for url in urls:
        if url.startswith("/docs-assets/"):
            asset = client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
            assert "immutable" in asset.headers["cache-control"]
    assert client.get("/docs-assets/../../etc/passwd").status_code == 404
    assert client.get("/docs-assets/nothing.js").json()["error"]["code"] == "not_found"


def test_docs_render_every_endpoint_with_the_network_off(app_with):
    """In chromium, with every request to another origin refused: Swagger UI still lists the API."""
    with serving(app_with()) as url, browser() as chromium:
        page = chromium.new_page()
        outside: list[str] = []

        def only_ours(route):
            if route.request.url.startswith(url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_ours)
        page.goto(f"{url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/api/v1/images" in p for p in paths) and any("/events" in p for p in paths)
        assert page.locator(".errors-wrapper").count() == 0  # Swagger UI found nothing wrong in the document
        assert outside == [], outside


# --- the document itself, pinned -----------------------------------------------------------------------

PINNED = Path(__file__).with_name("openapi.json")


def document(app) -> str:
    """/openapi.json as served, in a form to diff: the same keys in the same order, one per line."""
    return json.dumps(TestClient(app).get("/openapi.json").json(), indent=1, ensure_ascii=False) + "\n"


def test_the_openapi_document_is_the_pinned_one(app_with):
    """Paths, operation ids, parameters, schemas and their order stay as clients know them: a
    change to the API shows here as a diff against tests/api/openapi.json. If it is meant,
    write the new one with `python -m tests.api.test_api_docs` and commit it."""
    assert document(app_with()) == PINNED.read_text()


def test_with_api_tokens_the_document_only_adds_the_bearer_scheme(app_with):
    open_spec = json.loads(PINNED.read_text())
    spec = TestClient(app_with(ATELIER_API_TOKENS="t0ken")).get("/openapi.json").json()
    assert spec["components"].pop("securitySchemes") == {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert (operation.pop("security", None) == [{"bearer": []}]) == path.startswith("/api/v1/"), path
    assert spec == open_spec


if __name__ == "__main__":  # write the pinned document from the app as it is now
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        os.environ.update(ATELIER_HOME=home, HF_HUB_OFFLINE="1")
        from ui.store import ResultStore

        for name in [n for n in os.environ if n in API_ENV_VARS]:
            del os.environ[name]
        PINNED.write_text(document(create_app(InstantBackendDouble(), ResultStore(Path(home) / "store"))))
        print(f"wrote {PINNED}")

"""The assembled app's HTTP manners (ui/web.py): HEAD wherever GET answers, even on a stream,
and 405 with Allow in the one error shape for a method nothing at a path takes."""

from __future__ import annotations

import pytest

from tests.support.pages import make_result
from tests.support.servers import FixedLatencyBackend, app_script, instant_site, serving
from ui.store import ResultStore
from ui.studio.head import CARD_PATH
from ui.web import create_app


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return instant_site(tmp_path_factory.mktemp("web"))


def test_head_answers_wherever_get_serves_a_file(site):
    store, backend, client = site
    result = make_result(backend, store, "image", {"prompt": "a fox"})["record"]
    rid, name = result["id"], result["files"][0]["name"]
    script = app_script(client.get("/").text)
    for path in (f"/results/{rid}/{name}", f"/r/{rid}/thumb.webp", "/pages-assets/pages.css", "/" + script,
                 CARD_PATH, "/", "/gallery", f"/r/{rid}", "/api/health", "/openapi.json", "/docs"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"], path


@pytest.mark.parametrize(("method", "path"), [
    ("TRACE", "/"), ("TRACE", "/gallery"), ("TRACE", "/api/v1/results"), ("POST", "/gallery"),
    ("PUT", "/r/abcdefghijklmnop"), ("DELETE", "/"), ("CONNECT", "/docs"), ("PATCH", "/api/health"),
])  # fmt: skip
def test_unsupported_methods_answer_405_with_allow_in_the_one_error_shape(site, method, path):
    _, _, client = site
    r = client.request(method, path)
    assert r.status_code == 405, (method, path, r.status_code)
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in r.headers["allow"] and method not in r.headers["allow"]


def test_head_on_an_event_stream_answers_at_once(tmp_path):
    """HEAD runs the GET for its headers only: a stream that would run for a minute ends at once."""
    import httpx

    backend = FixedLatencyBackend(latency=60.0, steps=60)
    with serving(create_app(backend, ResultStore(tmp_path))) as url:
        job = httpx.post(f"{url}/api/v1/jobs", json={"kind": "image", "request": {"prompt": "x"}}).json()["job"]
        r = httpx.head(f"{url}/api/v1/jobs/{job['id']}/events", timeout=10)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream") and r.content == b""

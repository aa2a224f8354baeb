"""A result made with LoRA adapters: its share page names them and its Remix link carries them."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient

from models.image import loras
from models.random_weights.tiny_lora import add_demo_lora
from models.requests import parse
from tests.support.pages import Page, make_result, with_studio_at_root
from ui.generation import LocalBackend
from ui.store import ResultStore
from ui.web import create_app


def test_share_page_names_the_adapters_and_remix_carries_them(model_classes, tmp_path):
    for adapter_id, seed in (("page-a", 6), ("page-b", 7)):
        if adapter_id not in {a.id for a in loras.list_adapters()}:
            add_demo_lora(adapter_id, seed=seed)
    backend = LocalBackend(model_classes, {"image": "tiny", "music": "tiny", "video": "tiny-video"})
    store = ResultStore(tmp_path / "store")
    choices = [{"id": "page-a", "scale": 0.75}, {"id": "page-b", "scale": -0.5}]
    record = make_result(backend, store, "image", {"prompt": "a fox", "seed": 9, "loras": choices})["record"]
    client = TestClient(with_studio_at_root(create_app(backend, store)))

    page = Page(client.get(f"/r/{record['id']}").text)
    assert "page-a × 0.75, page-b × -0.5" in [e["text"].strip() for e in page.elements]
    [remix] = [a for a in page.find("a") if a["text"] == "Remix in the studio"]
    query = dict(parse_qsl(urlsplit(remix["attrs"]["href"]).query))
    assert query["loras"] == "page-a:0.75,page-b:-0.5"
    query.pop("kind")
    job = parse("image", query).resolve("tiny")
    assert [c.model_dump() for c in job.loras] == choices and job.seed == 9

"""An adapter's share page, on an adapter `tiny` really trained: /r/{id} for a training's result
shows the final sample and the samples drawn as it trained (kept as the result's files), its
recipe, *Use this adapter* (the studio's Image tab with the adapter picked and the trigger as the
prompt), never the pictures it was trained on (only how many); the gallery labels it an adapter,
and its cover and thumbnail are drawn from the final sample."""

from __future__ import annotations

import io
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from models.requests import parse
from tests.support.pages import Page, make_result, with_studio_at_root
from tests.support.training import pictures
from ui.generation import LocalBackend
from ui.store import ResultStore
from ui.web import create_app

TRIGGER = "a photo of qwerty the dog"
TRAINED_ON = pictures(3, seed=21)


@pytest.fixture(scope="module")
def trained(model_classes, tmp_path_factory):
    """A 4-step tiny training drawing a sample at every step (3 drawn, kept), published."""
    backend = LocalBackend(model_classes, {"image": "tiny", "music": "tiny", "video": "tiny-video"})
    store = ResultStore(tmp_path_factory.mktemp("pages-adapter"))
    result = make_result(backend, store, "training", {
        "images": TRAINED_ON, "trigger": TRIGGER, "steps": 4, "preview_every": 1, "seed": 3,
        "adapter_id": "qwerty-page"})
    store.set_published(result["record"]["id"], result["owner_token"], True)
    return store, TestClient(with_studio_at_root(create_app(backend, store))), store.get(result["record"]["id"])


def facts_of(page: Page) -> dict:
    return dict(zip([e["text"] for e in page.find("dt")], [e["text"] for e in page.find("dd")]))


def test_an_adapters_page_shows_its_samples_as_it_trained_and_never_its_training_pictures(trained):
    store, client, record = trained
    rid = record["id"]
    answer = client.get(f"/r/{rid}")
    assert answer.status_code == 200
    page = Page(answer.text)
    [figure] = page.by_class("media-adapter")
    shown = [img["attrs"]["src"] for img in page.find("img") if img["attrs"]["src"].startswith(f"/results/{rid}/")]
    assert shown == [f"/results/{rid}/sample.png"] + [f"/results/{rid}/sample-step-{n}.webp" for n in (1, 2, 3)]
    assert [e["text"] for e in page.find("figcaption")][1:] == ["Step 1", "Step 2", "Step 3"]
    for src in shown:  # each is a picture the store serves: the final sample and what it drew as it trained
        served = client.get(src)
        assert served.status_code == 200 and Image.open(io.BytesIO(served.content)).size == (64, 64)
    files = {f["name"]: store.media_path(rid, f["name"])[0].read_bytes() for f in record["files"]}
    assert not set(files.values()) & set(TRAINED_ON)  # none of the pictures it was trained on is kept
    assert [b["text"] for b in page.by_class("badge")][0] == "LoRA adapter"
    assert page.find("h1")[0]["text"] == TRIGGER and TRIGGER in page.meta("description")[0]


def test_an_adapters_page_states_its_recipe(trained):
    _, client, record = trained
    facts = facts_of(Page(client.get(f"/r/{record['id']}").text))
    assert facts["Trigger phrase"] == TRIGGER and facts["Model"] == "tiny (tiny family)"
    assert facts["Adapter"].startswith("qwerty-page · ") and facts["Goal"] == "Subject"
    assert (facts["Steps"], facts["Rank"], facts["Learning rate"], facts["Resolution"], facts["Seed"]) == (
        "4", "16", "0.0004", "64 px", "3")
    assert facts["Final loss"] == f"{record['training']['final_loss']:.4f}"
    assert facts["Trained on"] == "3 pictures (kept private: not shown here)"
    assert facts["Time taken"].endswith(" s on cpu") and "Made" in facts
    assert "None" not in " ".join(facts.values())


def test_use_this_adapter_opens_the_image_tab_with_it_picked_and_the_trigger_as_the_prompt(trained):
    _, client, record = trained
    page = Page(client.get(f"/r/{record['id']}").text)
    [use] = [a for a in page.find("a") if a["text"] == "Use this adapter"]
    assert not [a for a in page.find("a") if a["text"] in ("Remix in the studio", "Use as input", "Animate")]
    query = dict(parse_qsl(urlsplit(use["attrs"]["href"]).query))
    assert query.pop("kind") == "image"
    request = parse("image", query)  # what the studio's Image tab is filled with (ui/studio/page.py)
    assert request.prompt == TRIGGER and request.preset == "tiny"
    assert [(c.id, c.scale) for c in request.loras] == [("qwerty-page", 1.0)]
    assert client.get(use["attrs"]["href"]).status_code == 200


def test_the_gallery_labels_a_training_as_an_adapter_and_its_cover_is_the_final_sample(trained):
    _, client, record = trained
    rid = record["id"]
    gallery = Page(client.get("/gallery").text)
    [card] = [c for c in gallery.by_class("card") if c["attrs"].get("class", "").endswith("card-training")]
    assert "LoRA adapter · tiny" in card["text"] and TRIGGER in card["text"] and "None" not in card["text"]
    adapters = Page(client.get("/gallery?kind=training").text)
    assert [a["attrs"]["href"] for a in adapters.find("a") if a["attrs"].get("href") == f"/r/{rid}"]
    for path, kind, size in ((f"/r/{rid}/cover.png", "PNG", (1200, 630)), (f"/r/{rid}/thumb.webp", "WEBP", None)):
        answer = client.get(path)
        assert answer.status_code == 200, path
        picture = Image.open(io.BytesIO(answer.content))
        assert picture.format == kind and (size is None or picture.size == size)

"""Share pages for video, on a clip `tiny-video` really made: the page plays the MP4 with its
poster, unfurls as a video (og:video with its type and size, the poster as og:image), remixes
into the studio's Video tab; image pages offer "Animate"; the gallery shows the poster and
filters to video."""

from __future__ import annotations

import io
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from models.requests import parse
from tests.support.pages import Page, make_result, with_studio_at_root
from ui.generation import LocalBackend
from ui.store import ResultStore
from ui.web import create_app

TINY = {"image": "tiny", "music": "tiny", "video": "tiny-video"}


@pytest.fixture(scope="module")
def made(model_classes, tmp_path_factory):
    """A tiny image, and a clip made from a prompt; both published."""
    backend = LocalBackend(model_classes, TINY)
    store = ResultStore(tmp_path_factory.mktemp("pages-video"))
    results = {
        "image": make_result(backend, store, "image", {"prompt": "a paper boat", "steps": 1, "seed": 3}),
        "video": make_result(backend, store, "video", {"prompt": "a paper boat on a river", "frames": 9, "seed": 5}),
    }
    for result in results.values():
        store.set_published(result["record"]["id"], result["owner_token"], True)
    return store, TestClient(with_studio_at_root(create_app(backend, store))), results


def facts_of(page: Page) -> dict:
    return dict(zip([e["text"] for e in page.find("dt")], [e["text"] for e in page.find("dd")]))


def test_a_video_page_plays_the_clip_with_its_poster(made):
    store, client, results = made
    record = results["video"]["record"]
    rid = record["id"]
    page = Page(client.get(f"/r/{rid}").text)
    [video] = page.find("video")
    attrs = video["attrs"]
    assert attrs["src"] == f"/results/{rid}/video.mp4" and attrs["poster"] == f"/results/{rid}/poster.webp"
    assert {"controls", "playsinline"} <= set(attrs) and (attrs["width"], attrs["height"]) == ("96", "64")
    # The clip is silent, so its text alternative is all a screen reader has of it (WCAG 1.2.1;
    # axe leaves captions for review: bench/results/pages-a11y-2026-12-05.md).
    assert attrs["aria-label"] == "Video: \u2068a paper boat on a river\u2069"
    assert client.get(attrs["src"]).headers["content-type"] == "video/mp4"
    assert client.get(attrs["poster"]).headers["content-type"] == "image/webp"
    facts = facts_of(page)
    assert facts["Length"] == "1.1 s, 9 frames at 8 fps" and facts["Size"] == "96 × 64 px" and facts["Seed"] == "5"
    downloads = [a["attrs"]["href"] for a in page.find("a") if "download" in a["attrs"]]
    assert downloads == [f"/results/{rid}/video.mp4", f"/results/{rid}/poster.webp"]
    assert [b["text"] for b in page.by_class("badge")][0] == "Video"


def test_a_video_page_unfurls_as_a_video_with_the_poster_as_its_picture(made):
    store, client, results = made
    rid = results["video"]["record"]["id"]
    page = Page(client.get(f"/r/{rid}", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "atelier.example"}).text)
    assert page.meta("og:video") == page.meta("og:video:secure_url") == [f"https://atelier.example/results/{rid}/video.mp4"]
    assert page.meta("og:video:type") == ["video/mp4"]
    assert page.meta("og:video:width") == ["96"] and page.meta("og:video:height") == ["64"]
    assert page.meta("og:image") == [f"https://atelier.example/r/{rid}/cover.png"]
    assert "1.1 s video" in page.meta("og:description")[0]
    cover = client.get(f"/r/{rid}/cover.png")
    assert cover.status_code == 200 and Image.open(io.BytesIO(cover.content)).size == (1200, 630)
    # An image page has no video tags.
    assert Page(client.get(f"/r/{results['image']['record']['id']}").text).meta("og:video") == []


def test_remix_opens_the_video_tab_with_the_same_request(made):
    store, client, results = made
    record = results["video"]["record"]
    links = {a["text"]: a["attrs"]["href"] for a in Page(client.get(f"/r/{record['id']}").text).find("a")}
    query = dict(parse_qsl(urlsplit(links["Remix in the studio"]).query))
    assert query.pop("kind") == "video"
    again = parse("video", query).resolve("tiny-video")
    assert (again.prompt, again.frames, again.width, again.height, again.seed) == ("a paper boat on a river", 9, 96, 64, 5)
    assert "Animate" not in links and "Use as input" not in links


def test_image_pages_offer_to_animate_their_image(made):
    store, client, results = made
    record = results["image"]["record"]
    links = {a["text"]: a["attrs"]["href"] for a in Page(client.get(f"/r/{record['id']}").text).find("a")}
    query = dict(parse_qsl(urlsplit(links["Animate"]).query))
    assert query == {"kind": "video", "prompt": "a paper boat", "input": record["id"]}


def test_the_gallery_shows_the_poster_and_filters_to_video(made):
    store, client, results = made
    rid = results["video"]["record"]["id"]
    page = Page(client.get("/gallery?kind=video").text)
    [card] = page.by_class("card")
    assert "card-video" in card["attrs"]["class"]
    assert [a["text"] for a in page.find("a", aria_current="page")] == ["Video"]
    assert [s["text"] for s in page.by_class("card-kind")] == ["Video · 1.1 s"]
    thumb = client.get(f"/r/{rid}/thumb.webp")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert len(Page(client.get("/gallery").text).by_class("card")) == 2

"""Share pages (ui/pages.py): permalinks, preview tags, remix links, the gallery, owner actions.

Every app here has a Gradio app mounted at "/" after the pages, as the studio does, so each
test also shows that /r/{id} and /gallery win over the root mount. Permalink content is
checked on results made by the tiny models through the one generate path; paging and owner
actions use stand-in results (tests/test_pages_support.py) to make many quickly.
"""

from __future__ import annotations

import io
import logging
import os
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.routing import Mount

from models.requests import REQUESTS, parse
from tests.support.pages import (
    Page,
    make_result,
    stand_in_result,
    wav_bytes,
    with_studio_at_root,
)
from ui.generation import LocalBackend
from ui.store import ResultStore
from ui.store.covers import wav_envelope
from ui.web import create_app

TINY = {"image": "tiny", "music": "tiny", "video": "tiny-video"}
TRICKY_PROMPT = 'a "quoted" <b>lighthouse</b> & fog, 100% calm'


@pytest.fixture(scope="module")
def backend_(model_classes):
    return LocalBackend(model_classes, TINY)


@pytest.fixture(scope="module")
def made(backend_, tmp_path_factory):
    """Real results from the tiny models: two images, a WAV and an MP3 clip."""
    store = ResultStore(tmp_path_factory.mktemp("pages-made"))

    results = {
        "image": make_result(backend_, store, "image", {"prompt": TRICKY_PROMPT, "num_images": 2, "seed": 1234, "steps": 2}),
        "wav": make_result(backend_, store, "music", {"prompt": "slow piano in the rain", "duration": 2, "seed": 7}),
        "mp3": make_result(backend_, store, "music", {"prompt": "a short drum loop", "duration": 1, "format": "mp3"}),
    }
    client = TestClient(with_studio_at_root(create_app(backend_, store)))
    return store, client, results


@pytest.fixture
def site(backend_, tmp_path):
    """A fresh store behind the full app, for tests that fill or change it."""
    store = ResultStore(tmp_path / "store")
    return store, TestClient(with_studio_at_root(create_app(backend_, store)))


# --- the permalink ---------------------------------------------------------------------------


def test_permalink_shows_the_result_its_settings_and_downloads(made):
    store, client, results = made
    record = results["image"]["record"]
    rid = record["id"]
    r = client.get(f"/r/{rid}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = Page(r.text)
    assert page.find("h1", class_="prompt")[0]["text"] == TRICKY_PROMPT
    assert [img["attrs"]["src"] for img in page.find("img")] == [f"/results/{rid}/image-0.png", f"/results/{rid}/image-1.png"]
    facts = dict(zip([e["text"] for e in page.find("dt")], [e["text"] for e in page.find("dd")]))
    assert facts["Model"] == "tiny" and facts["Seed"] == "1234" and facts["Steps"] == "2"
    assert facts["Size"] == f"{record['parameters']['width']} × {record['parameters']['height']} px"
    assert facts["Time taken"].endswith("s on cpu") and "UTC" in facts["Made"]
    downloads = [a for a in page.find("a") if "download" in a["attrs"]]
    assert [a["attrs"]["href"] for a in downloads] == [f"/results/{rid}/image-0.png", f"/results/{rid}/image-1.png"]
    for a in downloads:
        media = client.get(a["attrs"]["href"])
        assert media.status_code == 200 and media.headers["content-type"] == "image/png"
    assert page.find("input", id="share-url")[0]["attrs"]["value"] == f"http://testserver/r/{rid}"
    # Unlisted by default: reachable, but not for search engines, and nobody is the owner yet.
    assert page.find("span", id="visibility")[0]["text"] == "Unlisted"
    assert page.meta("robots") == ["noindex"] and r.headers["x-robots-tag"] == "noindex"
    assert "hidden" in page.find("section", id="owner")[0]["attrs"]
    assert results["image"]["owner_token"] not in r.text


def test_permalink_unfurls_with_absolute_preview_urls(made):
    store, client, results = made
    rid = results["image"]["record"]["id"]
    page = Page(client.get(f"/r/{rid}").text)
    assert page.meta("og:title") == [TRICKY_PROMPT] and page.meta("twitter:title") == [TRICKY_PROMPT]
    assert page.meta("og:url") == [f"http://testserver/r/{rid}"]
    assert page.find("link", rel="canonical")[0]["attrs"]["href"] == f"http://testserver/r/{rid}"
    assert page.meta("og:image") == page.meta("twitter:image") == [f"http://testserver/r/{rid}/cover.png"]
    assert page.meta("twitter:card") == ["summary_large_image"]
    assert page.meta("og:image:width") == ["1200"] and page.meta("og:image:height") == ["630"]
    assert "seed 1234" in page.meta("og:description")[0] and page.meta("og:site_name") == ["Atelier"]

    # Behind a proxy (Modal's, say) the address the visitor used is the one to share.
    proxied = client.get(f"/r/{rid}", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "atelier.example"})
    page = Page(proxied.text)
    assert page.meta("og:image") == [f"https://atelier.example/r/{rid}/cover.png"]
    assert page.meta("og:url") == [f"https://atelier.example/r/{rid}"]
    # A forwarded host that isn't a host name is ignored rather than written into the page.
    odd = client.get(f"/r/{rid}", headers={"X-Forwarded-Host": 'evil.example/"><script>', "X-Forwarded-Proto": "javascript"})
    assert Page(odd.text).meta("og:url") == [f"http://testserver/r/{rid}"]

    cover = client.get(f"/r/{rid}/cover.png")
    assert cover.status_code == 200 and cover.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(cover.content)).size == (1200, 630)


def test_music_permalink_has_a_player_and_a_waveform_cover(made):
    store, client, results = made
    wav, mp3 = results["wav"]["record"], results["mp3"]["record"]
    page = Page(client.get(f"/r/{wav['id']}").text)
    assert page.find("audio")[0]["attrs"]["src"] == f"/results/{wav['id']}/music.wav"
    assert page.meta("og:audio") == [f"http://testserver/results/{wav['id']}/music.wav"]
    assert page.meta("og:audio:type") == ["audio/wav"]
    assert page.find("img", class_="cover")[0]["attrs"]["src"] == f"/r/{wav['id']}/cover.png"
    facts = dict(zip([e["text"] for e in page.find("dt")], [e["text"] for e in page.find("dd")]))
    assert facts["Length"] == "0:02" and facts["Format"] == "WAV" and facts["Seed"] == "7"

    waveform = Image.open(io.BytesIO(client.get(f"/r/{wav['id']}/cover.png").content)).convert("RGB")
    record_cover = Image.open(io.BytesIO(client.get(f"/r/{mp3['id']}/cover.png").content)).convert("RGB")
    assert waveform.size == record_cover.size == (1200, 630)
    # The waveform fills the width with bars; the MP3's drawn record leaves the sides empty.
    left_band = np.asarray(waveform)[200:430, 80:200]
    assert left_band.max() > 150 and np.asarray(record_cover)[200:430, 80:200].max() < 80
    assert Page(client.get(f"/r/{mp3['id']}").text).find("audio")[0]["attrs"]["src"].endswith("music.mp3")


def test_waveform_follows_the_audio():
    """Quiet first half, loud second half, as stereo: the envelope says so."""
    import tempfile
    from pathlib import Path

    t = np.linspace(0, 200, 48_000)
    mono = np.sin(t) * np.where(np.arange(48_000) < 24_000, 0.1, 0.9)
    stereo = np.stack([mono * 0.5, mono], axis=1).reshape(-1)  # the louder channel counts
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.wav"
        path.write_bytes(wav_bytes(stereo, channels=2))
        peaks, loudness = wav_envelope(path, 20)
    assert peaks.max() == pytest.approx(1.0)
    assert peaks[:10].max() < 0.15 and peaks[10:].min() > 0.9
    assert loudness[:10].max() < loudness[10:].min()


def test_covers_are_cached_and_thumbnails_are_small(made):
    store, client, results = made
    rid = results["wav"]["record"]["id"]
    first = client.get(f"/r/{rid}/cover.png")
    assert first.headers["cache-control"].startswith("public") and first.headers["etag"]
    assert client.get(f"/r/{rid}/cover.png").content == first.content
    again = client.get(f"/r/{rid}/cover.png", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and not again.content
    for kind in ("image", "wav", "mp3"):
        thumb = client.get(f"/r/{results[kind]['record']['id']}/thumb.webp")
        assert thumb.headers["content-type"] == "image/webp"
        assert Image.open(io.BytesIO(thumb.content)).size == (480, 480)


# --- remix -----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["image", "wav", "mp3"])
def test_remix_link_round_trips_to_the_same_request(made, which):
    store, client, results = made
    record = results[which]["record"]
    page = Page(client.get(f"/r/{record['id']}").text)
    [remix] = [a for a in page.find("a") if a["text"] == "Remix in the studio"]
    link = urlsplit(remix["attrs"]["href"])
    assert link.path == "/" and not link.netloc
    query = dict(parse_qsl(link.query, keep_blank_values=True))
    kind = query.pop("kind")
    assert kind == record["kind"]
    assert set(query) <= set(REQUESTS[kind].model_fields)  # only request fields, by their names

    request = parse(kind, query)  # as the studio would: strings from a URL, through the one schema
    params = record["parameters"]
    expected = REQUESTS[kind](**{name: params[name] for name in REQUESTS[kind].model_fields if name in params})
    assert request == expected
    # And it makes the very same job (same seed and all), so a remix starts from this result.
    job = request.resolve(params["preset"]).model_dump(exclude={"kind"})
    assert {name: job[name] for name in params} == params
    assert all(job[name] in (None, [], False) for name in job.keys() - params.keys())  # nothing else set (no guides)


def test_remix_link_leaves_out_what_a_link_cannot_carry():
    from ui.pages import remix_link

    record = stand_in_result("music")["record"]
    record["parameters"]["melody"] = {"seconds": 12.5, "sample_rate": 32000}  # an upload, not a URL value
    query = dict(parse_qsl(urlsplit(remix_link(record)).query, keep_blank_values=True))
    assert "melody" not in query and "window" not in query
    assert parse(query.pop("kind"), query).prompt == record["parameters"]["prompt"]


def test_image_pages_offer_their_image_as_the_studios_input(made, backend_):
    store, client, results = made
    record = results["image"]["record"]
    links = {a["text"]: a["attrs"]["href"] for a in Page(client.get(f"/r/{record['id']}").text).find("a")}
    query = dict(parse_qsl(urlsplit(links["Use as input"]).query))
    assert query.pop("input") == record["id"]  # the studio puts this result's image in its image input
    assert links["Use as input"].startswith(links["Remix in the studio"])  # with its settings
    for music in ("wav", "mp3"):
        assert "Use as input" not in client.get(f"/r/{results[music]['record']['id']}").text

    started = make_result(backend_, store, "image", {"prompt": "from a picture", "image": store.media_path(
        record["id"], record["files"][0]["name"])[0].read_bytes(), "strength": 0.25, "steps": 2})["record"]
    page = client.get(f"/r/{started['id']}").text
    assert "Image-to-image, strength 0.25" in page


# --- the gallery ---------------------------------------------------------------------------


def _card_ids(page: Page) -> list[str]:
    """The results a gallery page links to, in order (only cards link to /r/...)."""
    return [a["attrs"]["href"].removeprefix("/r/") for a in page.find("a") if a["attrs"].get("href", "").startswith("/r/")]


def _fill(store: ResultStore, n: int) -> list[dict]:
    """n stand-in results, alternating image/music; every third one left unlisted."""
    saved = []
    for i in range(n):
        kind = "image" if i % 2 == 0 else "music"
        s = store.save(stand_in_result(kind, prompt=f"result number {i}", seed=i))
        if i % 3 != 2:
            store.set_published(s.record["id"], s.owner_token, True)
        saved.append({**store.get(s.record["id"]), "owner_token": s.owner_token})
    return saved


def test_gallery_pages_through_published_results_newest_first(site):
    store, client = site
    saved = _fill(store, 60)
    published = [s["id"] for s in reversed(saved) if s["published"]]  # 40 of them
    r = client.get("/gallery")
    assert r.status_code == 200 and "<html" in r.text
    page = Page(r.text)
    seen = _card_ids(page)
    assert seen == published[:24]
    while True:
        [more] = page.by_class("more") or [None]
        if more is None:
            break
        [link] = [a for a in page.find("a") if "hx-get" in a["attrs"]]
        assert link["attrs"]["href"] == link["attrs"]["hx-get"]  # works without JS too
        assert link["attrs"]["hx-target"] == "closest li" and link["attrs"]["hx-swap"] == "outerHTML"
        fragment = client.get(link["attrs"]["hx-get"], headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "<html" not in fragment.text and fragment.text.lstrip().startswith("<li")
        assert "HX-Request" in fragment.headers["vary"]
        page = Page(fragment.text)
        seen += _card_ids(page)
    assert seen == published  # every published result once, in order; unlisted ones never

    thumb = client.get(Page(r.text).find("img")[0]["attrs"]["src"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"


def test_gallery_loads_its_first_cards_at_once_and_picks_a_thumbnail_size(site):
    store, client = site
    _fill(store, 60)
    r = client.get("/gallery", headers={"accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    images = Page(r.text).find("img")
    assert [i["attrs"]["loading"] for i in images[:4]] == ["eager"] * 4  # the first card is the page's LCP
    assert {i["attrs"]["loading"] for i in images[4:]} == {"lazy"}
    assert images[0]["attrs"].get("fetchpriority") == "high" and "fetchpriority" not in images[1]["attrs"]
    src = images[0]["attrs"]["src"]
    small = src.replace("thumb.webp", "thumb-240.webp")
    assert images[0]["attrs"]["srcset"] == f"{small} 240w, {src} 480w" and images[0]["attrs"]["sizes"]
    thumb = client.get(small)
    assert thumb.headers["content-type"] == "image/webp" and Image.open(io.BytesIO(thumb.content)).size == (240, 240)
    head = client.head(small)
    assert head.status_code == 200 and head.content == b""
    [more] = [a for a in Page(r.text).find("a") if "hx-get" in a["attrs"]]
    later = Page(client.get(more["attrs"]["hx-get"], headers={"HX-Request": "true"}).text).find("img")
    assert later and {i["attrs"]["loading"] for i in later} == {"lazy"}  # cards brought in by "More": below the fold


def test_pages_and_their_assets_are_compressed(made):
    _, client, results = made
    rid = results["image"]["record"]["id"]
    for path in (f"/r/{rid}", "/gallery", "/pages-assets/pages.css", "/pages-assets/htmx.min.js", "/pages-assets/pages.js"):
        r = client.get(path, headers={"accept-encoding": "gzip"})
        assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip", path
    media = client.get(f"/r/{rid}/cover.png", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in media.headers  # already compressed: not again


def test_gallery_filters_by_kind(site):
    store, client = site
    saved = _fill(store, 12)
    for kind in ("image", "music"):
        page = Page(client.get(f"/gallery?kind={kind}").text)
        expected = [s["id"] for s in reversed(saved) if s["published"] and s["kind"] == kind]
        assert _card_ids(page) == expected and expected
        assert [a["text"] for a in page.find("a", aria_current="page")] == [{"image": "Images", "music": "Music"}[kind]]
    assert len(_card_ids(Page(client.get("/gallery?kind=").text))) == 8


def test_gallery_searches_prompts_with_a_plain_form_and_pages_through_the_matches(site):
    store, client = site
    saved = _fill(store, 40)  # "result number 0".."result number 39"
    lone = store.save(stand_in_result("image", prompt="a lighthouse in fog"))
    store.set_published(lone.record["id"], lone.owner_token, True)

    page = Page(client.get("/gallery").text)
    [form] = page.find("form", role="search")
    assert form["attrs"]["method"] == "get" and form["attrs"]["action"] == "/gallery"  # no JS needed
    [box] = page.find("input", type="search")
    assert box["attrs"]["name"] == "q" and box["attrs"]["value"] == ""

    r = client.get("/gallery?q=lighthouse")
    assert r.status_code == 200 and _card_ids(Page(r.text)) == [lone.record["id"]]
    assert r.headers["x-robots-tag"] == "noindex"
    assert Page(r.text).find("input", type="search")[0]["attrs"]["value"] == "lighthouse"

    # Many matches: pages of 24 that keep the search (and the kind) in their "More" link.
    matching = [s["id"] for s in reversed(saved) if s["published"] and s["kind"] == "image"]
    page = Page(client.get("/gallery?q=result+number&kind=image").text)
    seen = _card_ids(page)
    assert page.find("input", type="hidden", name="kind")[0]["attrs"]["value"] == "image"
    while page.by_class("more"):
        [link] = [a for a in page.find("a") if "hx-get" in a["attrs"]]
        assert "q=result+number" in link["attrs"]["href"] and "kind=image" in link["attrs"]["href"]
        page = Page(client.get(link["attrs"]["href"]).text)  # as a browser without JS follows it
        seen += _card_ids(page)
    assert seen == matching

    nothing = Page(client.get("/gallery?q=%22unicorn%22+OR+*").text)
    assert not nothing.by_class("card") and "matches" in nothing.by_class("empty")[0]["text"]
    escaped = client.get("/gallery?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert escaped.status_code == 200 and "<script>alert" not in escaped.text
    assert client.get("/gallery?q=" + "x" * 5000).status_code == 200  # clipped, not an error


def test_gallery_rejects_bad_parameters_with_a_page(site):
    store, client = site
    for query, words in (("kind=film", "images, music, video or adapters"), ("before=../../etc", "incomplete")):
        r = client.get(f"/gallery?{query}")
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
        assert words in r.text


def test_empty_gallery_says_how_to_fill_it(site):
    store, client = site
    store.save(stand_in_result())  # unlisted: not shown
    page = Page(client.get("/gallery").text)
    assert not page.by_class("card") and "Nothing shared here yet." in page.by_class("empty")[0]["text"]


# --- owner actions ---------------------------------------------------------------------------


def test_only_the_owner_publishes_unpublishes_and_deletes(site, caplog):
    caplog.set_level(logging.DEBUG)
    store, client = site
    saved = store.save(stand_in_result("music", prompt="owner test"))
    rid, token = saved.record["id"], saved.owner_token

    for headers in ({}, {"X-Owner-Token": "not-the-token"}, {"X-Owner-Token": ""}):
        for action in ("publish", "unpublish", "delete"):
            r = client.post(f"/r/{rid}/{action}", headers=headers)
            assert r.status_code == 403
            assert r.json()["error"]["code"] == "forbidden"
            assert "Only the person who made this result" in r.json()["error"]["message"]
    assert not store.get(rid)["published"]

    r = client.post(f"/r/{rid}/publish", headers={"X-Owner-Token": token})
    assert r.status_code == 200 and r.json() == {"id": rid, "published": True, "waiting_for_review": False}
    assert _card_ids(Page(client.get("/gallery").text)) == [rid]
    assert Page(client.get(f"/r/{rid}").text).meta("robots") == []  # published: indexable

    r = client.post(f"/r/{rid}/unpublish", headers={"X-Owner-Token": token})
    assert r.json() == {"id": rid, "published": False, "waiting_for_review": False}
    assert _card_ids(Page(client.get("/gallery").text)) == []
    assert client.get(f"/r/{rid}").status_code == 200  # unlisted, still reachable by its link

    r = client.post(f"/r/{rid}/delete", headers={"X-Owner-Token": token})
    assert r.status_code == 200 and r.json() == {"id": rid, "deleted": True}
    for gone in (f"/r/{rid}", f"/r/{rid}/cover.png", f"/r/{rid}/thumb.webp"):
        assert client.get(gone).status_code == 404
    assert client.get(f"/results/{rid}/music.wav").status_code == 404
    r = client.post(f"/r/{rid}/publish", headers={"X-Owner-Token": token})
    assert r.status_code == 404 and "deleted" in r.json()["error"]["message"]

    assert token not in caplog.text  # the owner secret is never logged


def test_owner_actions_reject_malformed_ids(site):
    store, client = site
    for rid in ("short", "A" * 16, "%3Cscript%3E"):
        r = client.post(f"/r/{rid}/publish", headers={"X-Owner-Token": "x"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


# --- not found, escaping, exact paths ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/r/AAAAAAAAAAAAAAAA", "/r/short", "/r/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/r/AAAAAAAAAAAAAAAA/cover.png",
     "/r/..%2F..%2Fetc/thumb.webp", "/pages-assets/secrets.txt", "/pages-assets/..%2F..%2Fpyproject.toml"],
)  # fmt: skip
def test_unknown_ids_get_a_friendly_html_404(site, path):
    store, client = site
    r = client.get(path)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    page = Page(r.text)
    assert page.find("h1")[0]["text"] == "Nothing here" and page.find("a", href="/gallery")
    assert "<script>alert" not in r.text


def test_a_script_in_a_prompt_stays_text(site):
    store, client = site
    nasty = '</textarea><script>alert("x")</script><img src=x onerror=alert(1)> "><svg onload=alert(2)>'
    saved = store.save(stand_in_result("image", prompt=nasty))
    store.set_published(saved.record["id"], saved.owner_token, True)
    for path in (f"/r/{saved.record['id']}", "/gallery"):
        r = client.get(path)
        page = Page(r.text)
        assert "<script>alert" not in r.text and "<img src=x" not in r.text and "<svg" not in r.text
        assert nasty in r.text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')
        scripts = page.find("script")
        assert all(s["attrs"]["src"].startswith("/pages-assets/") and not s["text"].strip() for s in scripts)
        assert not [e for e in page.elements for name in e["attrs"] if name.startswith("on")]
        assert "script-src 'self'" in r.headers["content-security-policy"]
    assert nasty in Page(client.get(f"/r/{saved.record['id']}").text).find("h1", class_="prompt")[0]["text"]


def test_pages_win_over_the_studio_at_root(site):
    store, client = site
    app = client.app
    paths = [getattr(r, "path", None) for r in app.routes]
    root = next(i for i, r in enumerate(app.routes) if isinstance(r, Mount) and r.path == "")
    assert paths.index("/gallery") < root and paths.index("/r/{result_id}") < root

    saved = store.save(stand_in_result())
    rid = saved.record["id"]
    assert "Gallery · Atelier" in client.get("/gallery").text
    assert f'data-result-id="{rid}"' in client.get(f"/r/{rid}").text
    # Trailing slashes would fall through to the root mount: they redirect to the exact paths.
    r = client.get("/gallery/?kind=music", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/gallery?kind=music"
    r = client.get(f"/r/{rid}/", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == f"/r/{rid}"
    # And everything else still reaches the studio mounted at "/".
    assert client.get("/").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_assets_are_local_versioned_and_cached(site):
    store, client = site
    saved = store.save(stand_in_result())
    store.set_published(saved.record["id"], saved.owner_token, True)
    for path in (f"/r/{saved.record['id']}", "/gallery"):
        page = Page(client.get(path).text)
        urls = [s["attrs"]["src"] for s in page.find("script")] + [l["attrs"]["href"] for l in page.find("link", rel="stylesheet")]
        assert urls and all(u.startswith("/pages-assets/") and "?v=" in u for u in urls)  # no CDN
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
            assert r.headers["content-type"].split(";")[0] in ("text/css", "text/javascript")
    assert "htmx.min.js" in " ".join(s["attrs"]["src"] for s in Page(client.get("/gallery").text).find("script"))
    htmx = client.get("/pages-assets/htmx.min.js").text
    assert htmx.startswith("/* htmx.org 2.0.7") and 'version:"2.0.7"' in htmx
    assert client.get("/pages-assets/pages.css").headers["cache-control"] == "no-cache"  # unversioned


def test_fasthtml_writes_no_session_key(backend_, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    create_app(backend_, ResultStore(tmp_path / "store"))
    assert not os.path.exists(tmp_path / ".sesskey")

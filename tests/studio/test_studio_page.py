"""The studio's HTML as a visitor's tools read it (no browser): the one set of OpenGraph/Twitter
tags a chat app unfurls, the title and description, the preview picture, the server-rendered
masthead, compression and caching."""

from __future__ import annotations

import gzip
import io

import pytest
from PIL import Image

from tests.support.pages import Page, make_result
from tests.support.servers import app_script, instant_site
from ui.studio.head import CARD_PATH, DESCRIPTION, TITLE


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return instant_site(tmp_path_factory.mktemp("studio-page"))


def test_one_set_of_tags_with_atelier_title_description_and_absolute_urls(site):
    _, _, client = site
    r = client.get("/", headers={"x-forwarded-proto": "https", "x-forwarded-host": "atelier.example"})
    assert r.status_code == 200
    page = Page(r.text)
    for key in ("og:title", "og:url", "og:image", "og:description", "twitter:title", "twitter:image", "twitter:card"):
        assert len(page.meta(key)) == 1, key  # Gradio's two sets are gone: unfurlers read the first
    assert page.meta("og:title") == [TITLE] and page.meta("twitter:title") == [TITLE]
    assert page.meta("description") == [DESCRIPTION] and page.meta("og:description") == [DESCRIPTION]
    assert [e["text"] for e in page.find("title")] == [TITLE]
    assert page.meta("og:url") == ["https://atelier.example/"]
    assert page.find("link", rel="canonical")[0]["attrs"]["href"] == "https://atelier.example/"
    assert page.meta("og:image") == [f"https://atelier.example{CARD_PATH}"]  # nothing published yet
    assert "Gradio" not in " ".join(page.meta("og:title") + page.meta("twitter:creator"))
    head = r.text.split("<script")[0]
    assert "{url}" not in head and "raw.githubusercontent.com" not in head


def test_the_query_string_never_reaches_the_tags(site):
    _, _, client = site
    r = client.get("/?studio_token=s3cret&prompt=%3Cscript%3E")
    assert "s3cret" not in r.text.split("window.gradio_config")[0]
    assert Page(r.text).meta("og:url") == ["http://testserver/"]


def test_the_preview_is_the_newest_published_result_else_atelier_card(site):
    store, backend, client = site
    card = client.get(CARD_PATH)
    assert card.status_code == 200 and card.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(card.content)).size == (1200, 630)
    saved = make_result(backend, store, "image", {"prompt": "a lighthouse at dusk"})
    result, token = saved["record"], saved["owner_token"]
    store.set_published(result["id"], token, True)
    try:
        page = Page(client.get("/").text)
        assert page.meta("og:image") == [f"http://testserver/r/{result['id']}/cover.png"]
        assert "a lighthouse at dusk" in page.meta("og:image:alt")[0]
        assert client.get(f"/r/{result['id']}/cover.png").status_code == 200  # served from our origin
    finally:
        store.delete(result["id"], token)


def test_the_masthead_is_in_the_html_before_the_app(site):
    _, _, client = site
    html = client.get("/").text
    assert html.index('<header class="masthead">') < html.index("<gradio-app")
    page = Page(html)
    assert [e["text"] for e in page.find("h1")] == ["Atelier"]
    assert {a["attrs"]["href"] for a in page.find("a")} >= {"/gallery", "/docs"}
    assert "#studio-tabs { min-height" in html  # the space Gradio fills is reserved before it loads
    assert "role','img'" in html  # Gradio's empty media slots get a role for their aria-label


def test_html_js_and_css_are_compressed_and_fingerprinted_assets_cached_for_good(site):
    _, _, client = site
    r = client.get("/", headers={"accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.headers["cache-control"] == "no-cache"
    script = app_script(r.text)
    js = client.get("/" + script, headers={"accept-encoding": "gzip"})
    assert js.headers["content-encoding"] == "gzip"
    assert js.headers["cache-control"] == "public, max-age=31536000, immutable"
    raw = client.get("/" + script, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in raw.headers and len(gzip.compress(raw.content)) < len(raw.content) / 2
    assert "immutable" not in client.get("/theme.css").headers.get("cache-control", "")  # not fingerprinted
    # the page's script asks for /theme.css?v=<hash of its content>: that one is for good
    assert "immutable" in client.get("/theme.css?v=0123abcd").headers["cache-control"]

"""A prompt's own writing direction stays inside it: one with bidirectional overrides (U+202E,
RIGHT-TO-LEFT OVERRIDE, and friends) can't turn the text after it around on a share page, in the
gallery or in the studio's history. Each is shown in an element with dir="auto", which browsers
isolate (HTML's `[dir] { unicode-bidi: isolate }`), or in plain text (the title, alt texts)
between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE."""

from __future__ import annotations

import re
from html import escape

from tests.support.pages import stand_in_result
from tests.support.servers import instant_site
from ui.cards import FSI, PDI
from ui.studio.session import Entry, History
from ui.studio.share import history_html

TRICK = "a fox \u202ecod a\u2066 ends here"


def isolated(html: str, text: str) -> bool:
    """Whether every appearance of `text` is isolated: as the whole content of an element with
    dir="auto", or, where there is no markup (a title, an attribute), between FSI and PDI."""
    html = re.sub(r"<meta [^>]*>", "", html)  # the preview card's tags: other apps show those, as written
    shown = escape(text, quote=False)
    everywhere = html.count(shown)
    in_markup = len(re.findall(r'dir="auto"[^>]*>' + re.escape(shown) + "<", html))
    in_text = html.count(FSI + shown)  # clipped titles end in "…" before their PDI
    return everywhere > 0 and everywhere == in_markup + in_text and html.count(FSI) == html.count(PDI)


def test_share_pages_and_the_gallery_isolate_prompts(tmp_path):
    store, _, client = instant_site(tmp_path)
    event = stand_in_result(prompt=TRICK)
    event["record"]["parameters"]["negative_prompt"] = TRICK[::-1]
    saved = store.save(event)
    store.set_published(saved.record["id"], saved.owner_token, True)
    page = client.get(f"/r/{saved.record['id']}").text
    assert isolated(page, TRICK) and isolated(page, TRICK[::-1])
    assert isolated(client.get("/gallery").text, TRICK)


def test_the_studio_s_history_isolates_prompts():
    history = History()
    history.add(Entry({"id": "AAAAAAAAAAAAAAAA", "kind": "music", "parameters": {"prompt": TRICK, "preset": "tiny"},
                       "seed": 1, "files": [], "published": False}, "owner"))
    assert isolated(history_html(history), TRICK)

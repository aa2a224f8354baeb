"""The studio's browser tests share one way to serve it and drive chromium: each test module
gets its own studio (the tiny models in a LocalBackend, a fresh result store) and browser, and
each test a fresh page. A module sets VIEWPORT for a taller window."""

from __future__ import annotations

import pytest

from tests.conftest import TINY
from tests.support.servers import browser, serving

VIEWPORT = {"width": 1360, "height": 960}


@pytest.fixture(scope="module")
def site(model_classes, tmp_path_factory):
    from ui.generation import LocalBackend
    from ui.store import ResultStore
    from ui.web import create_app

    store = ResultStore(tmp_path_factory.mktemp("studio-store"))
    # One visitor's address for a whole module of tests: no request limit (the gate's own tests
    # hold it, tests/gate/). Gradio's image editor, once it holds a picture, sends its layers again
    # and again (an open bug), which would spend a module's bucket in seconds.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ATELIER_RATE_LIMIT", "0")
        app = create_app(LocalBackend(model_classes, TINY), store)
    with serving(app) as url:
        yield url, store


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium, site, request):
    context = chromium.new_context(viewport=getattr(request.module, "VIEWPORT", VIEWPORT))
    page = context.new_page()
    yield page
    context.close()

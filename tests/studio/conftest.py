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
    with serving(create_app(LocalBackend(model_classes, TINY), store)) as url:
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

"""The REST API's tests talk to a whole app (create_app, as `atelier serve` builds it) in-process
through httpx, with exactly the API settings a test names."""

from __future__ import annotations

import httpx
import pytest

from ui.settings import API_ENV_VARS
from ui.web import create_app


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def client_for(store, monkeypatch):
    """client_for(backend, **env) → an httpx client on a fresh app with exactly these API settings."""

    def make(backend, raise_app_exceptions: bool = True, **env: str) -> httpx.AsyncClient:
        for name in API_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = create_app(backend, store)
        transport = httpx.ASGITransport(app, raise_app_exceptions=raise_app_exceptions)
        return httpx.AsyncClient(transport=transport, base_url="http://atelier.test")

    return make


@pytest.fixture
def client(client_for, backend) -> httpx.AsyncClient:
    """An httpx client on a fresh app over the tiny models (tests/conftest.py's backend), with no API settings."""
    return client_for(backend)

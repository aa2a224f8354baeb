"""LoRA adapters through the studio's gradio_client API: `loras` takes the text form "id:scale,..."."""

from __future__ import annotations

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from models.image import loras
from models.random_weights.tiny_lora import add_demo_lora
from tests.conftest import TINY
from tests.support.servers import serving
from ui.generation import LocalBackend
from ui.store import ResultStore
from ui.web import create_app


@pytest.fixture(scope="module")
def client(model_classes, tmp_path_factory):
    if "client-lora" not in {a.id for a in loras.list_adapters()}:
        add_demo_lora("client-lora", seed=31)
    store = ResultStore(tmp_path_factory.mktemp("studio-api-lora-store"))
    with serving(create_app(LocalBackend(model_classes, TINY), store)) as url:
        c = Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path_factory.mktemp("dl")))
        yield c, store
        c.close()


def test_generate_image_applies_the_named_adapters(client):
    c, store = client
    _, seed, details = c.predict("a fox", seed=4, random_seed=False, loras="client-lora:0.7", api_name="/generate_image")
    assert seed == 4 and "LoRA client-lora × 0.7" in details
    (record,) = [r for r in store.list(published_only=False, limit=100) if r["seed"] == 4]
    assert record["parameters"]["loras"] == [{"id": "client-lora", "scale": 0.7}]
    with pytest.raises(AppError, match="Unknown LoRA adapter 'nope'"):
        c.predict("a fox", loras="nope", api_name="/generate_image")

"""A training stops through its call's Stop (models/common/cancel.py), as every model's call does when
the web side asks (a cancelled job, a closed tab): at its next step, keeping nothing. And the Modal
backend ends a training's stream quietly when the trainer says Cancelled (offline, with a test double)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from models.common.cancel import STOPS
from models.common.errors import Cancelled
from models.common.events import progress_event
from models.image import loras
from models.requests import parse
from models.training import run
from tests.support.training import pictures
from ui.generation import ModalBackend


def test_a_training_whose_call_is_asked_to_stop_ends_at_its_next_step_and_keeps_nothing():
    from app import Trainer

    job = parse("training", {"pictures": pictures(3, seed=9), "trigger": "qwerty stopped", "steps": 50,
                             "preview_every": 0, "adapter_id": "qwerty-stopped"}).resolve("tiny")
    events = Trainer(preset="tiny").generate.local(job.model_dump(), "call-to-stop")
    steps = []
    with pytest.raises(Cancelled, match="cancelled at step 2 of 50"):
        for event in events:
            if event.get("stage") == "training":
                steps.append(event["done"])
                if event["done"] == 2:
                    STOPS.request("call-to-stop")  # as LocalBackend.stop does for a caller gone away
    assert steps == [1, 2]
    assert "qwerty-stopped" not in {a.id for a in loras.list_adapters()}
    assert not (run.runs_folder() / job.run_id).exists()


class TrainerDouble:
    """TEST DOUBLE of the Trainer GPU class seen through Modal: two steps, then Cancelled, as a
    trainer whose run was cancelled raises it."""

    def __init__(self, preset: str):
        self.generate = SimpleNamespace(remote_gen=SimpleNamespace(aio=self._generate))

    async def _generate(self, job, call_id):
        for step in (1, 2):
            yield progress_event(step, 10, "training")
        raise Cancelled("The training was cancelled at step 2 of 10; nothing was kept.")


def test_the_modal_backend_ends_a_cancelled_trainings_stream_without_a_failure():
    job = parse("training", {"pictures": pictures(3), "trigger": "qwerty", "steps": 10}).resolve("tiny")
    backend = ModalBackend({"image": TrainerDouble, "music": TrainerDouble, "training": TrainerDouble},
                           {"image": "tiny", "music": "tiny"})

    async def events():
        return [event["done"] async for event in backend.generate(job) if event["type"] == "progress"]

    assert asyncio.run(events()) == [1, 2]  # no GenerationError: the caller who asked has its answer

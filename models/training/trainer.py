"""The model class that trains LoRA adapters: app.py turns it into `Trainer`, a GPU class.

One instance serves one image preset (as the image classes do): it loads the preset's pipeline
once, and each `generate` call runs one training on it (models/training/session.py) and leaves
the pipeline as it found it. (`generate`, as every model class's method is named: the backends
drive a trainer as they drive the image and music models.) Locally the same class runs in-process through `.local()`, on
the local device; a real family on a CPU works too, slowly, and says early how slowly
(the `estimate` in its progress events).

The pipeline is loaded without the preset's speed options: training needs the real VAE's
encoder (a fast decoder has none), and float32 or bf16, not int8. On a GPU it is bf16; on a
CPU, bf16 where the preset runs in bf16 on a CPU with native bf16 (SpeedOptions.cpu_bf16 on
AVX512-BF16 or AMX: emulated bf16 is slower than float32), else float32.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import modal

from models.common import speed
from models.common.cancel import STOPS
from models.common.device import target_device
from models.common.errors import RequestError
from models.common.weights import LOAD_LOCK, ensure_weights, quiet_loading
from models.presets import ImagePreset
from models.training.families import trainer_for
from models.training.request import TrainingJob


class TrainingGenerator:
    preset: str  # which ImagePreset this instance trains for; a modal.parameter in app.py

    @modal.enter()
    def load(self) -> None:
        """The preset's pipeline on the CPU; its denoiser and VAE on the device (the text encoders
        visit the device only while a training encodes its prompts)."""
        import torch
        from diffusers import AutoPipelineForText2Image

        quiet_loading()
        started = time.perf_counter()
        self.spec: ImagePreset = trainer_for(self.preset)[0]
        self.device = target_device()
        bf16 = self.device == "cuda" or speed.uses_cpu_bf16(self.spec.speed)
        with LOAD_LOCK:
            folder = ensure_weights(self.spec.weights)
            self.pipe = AutoPipelineForText2Image.from_pretrained(folder, dtype=torch.bfloat16 if bf16 else torch.float32)
        self.pipe.set_progress_bar_config(disable=True)
        for name in ("unet", "transformer", "vae"):
            if getattr(self.pipe, name, None) is not None:
                getattr(self.pipe, name).to(self.device)
        self.load_seconds = round(time.perf_counter() - started, 3)

    @modal.method()
    def generate(self, job: dict, call_id: str | None = None) -> Iterator[dict]:
        """Yield progress events (encoding, then training steps with loss, time left, samples and
        checkpoints), then a result event: the final sample picture and the adapter's record.
        Asked to stop, by its run's cancel flag or by the call's Stop (the web side's, by `call_id`,
        as for every model: models/common/cancel.py), it stops at its next step, keeps nothing and
        raises Cancelled (the backends end the stream there)."""
        from models.training.session import Session

        checked = TrainingJob.model_validate(job)  # direct callers get the same checks as the web side
        if checked.preset != self.spec.name:
            raise RequestError(f"This trainer is loaded with {self.spec.name}, not {checked.preset}.")
        with STOPS.watch(call_id) as stop:
            session = Session(self.pipe, self.spec, checked, self.device, stop)
            for event in session.events():
                if event["type"] == "result":
                    event["record"]["seconds"]["load"] = self.load_seconds
                yield event

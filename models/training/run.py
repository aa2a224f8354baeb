"""A training's folder on disk: its cached encodings and its checkpoints, so a restart resumes.

    <ATELIER_HOME>/training/<run id>/
        cache.safetensors, cache.json      latents and text embeddings (models/training/cache.py)
        checkpoint-<step>/                 the latest checkpoint: LoRA weights, optimizer, step

The run id is a hash of what the training learns from (TrainingJob.run_id), so the same
request after a restart, a crash or a preempted container finds its folder and goes on from
the last checkpoint. On Modal, ATELIER_HOME is on the weights Volume and app.py installs a
commit as `after_write`, so a checkpoint outlives the container that wrote it.

Everything is written beside its final name and renamed into place: a folder is either whole
or absent, whenever the process dies. A finished training's folder is removed once its adapter
is in the library; a cancelled one's at once. A failed one's is kept: a retry resumes from it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from models.common.errors import RequestError
from models.common.weights import atelier_home

# Called after anything is written that a restart must find (a checkpoint, the cache, an adapter);
# on Modal, app.py makes it commit the weights Volume.
_after_write: Callable[[], None] = lambda: None


def set_after_write(hook: Callable[[], None]) -> None:
    global _after_write
    _after_write = hook


def after_write() -> None:
    _after_write()


def runs_folder() -> Path:
    return atelier_home() / "training"


# Runs under way in this process: a second identical request waits for no one and is refused
# (on Modal two containers can't see each other's runs: the web side refuses a second job of
# a run id it already has under way).
_running: set[str] = set()
_running_lock = threading.Lock()


@contextlib.contextmanager
def claimed(run_id: str) -> Iterator[None]:
    with _running_lock:
        if run_id in _running:
            raise RequestError("This very training (the same pictures and recipe) is already running here: "
                               "wait for it, or cancel it.")
        _running.add(run_id)
    try:
        yield
    finally:
        with _running_lock:
            _running.discard(run_id)


class RunFolder:
    def __init__(self, run_id: str):
        self.run_id = run_id
        self.path = runs_folder() / run_id

    # --- the cache -----------------------------------------------------------------------------

    def load_cache(self) -> tuple[dict[str, torch.Tensor], dict] | None:
        from safetensors.torch import load_file

        tensors, layout = self.path / "cache.safetensors", self.path / "cache.json"
        if not (tensors.is_file() and layout.is_file()):
            return None
        return load_file(tensors), json.loads(layout.read_text())

    def save_cache(self, tensors: dict[str, torch.Tensor], layout: dict) -> None:
        from safetensors.torch import save_file

        self.path.mkdir(parents=True, exist_ok=True)
        with self._beside("cache") as tmp:
            save_file(tensors, tmp / "cache.safetensors")
            (tmp / "cache.json").write_text(json.dumps(layout))
            for name in ("cache.safetensors", "cache.json"):  # the layout last: it marks the pair whole
                (tmp / name).replace(self.path / name)
        after_write()

    # --- checkpoints ----------------------------------------------------------------------------

    def latest_checkpoint(self) -> tuple[int, Path] | None:
        found = sorted((int(p.name.split("-")[1]), p) for p in self.path.glob("checkpoint-*")
                       if p.name.split("-")[1].isdigit() and (p / "state.json").is_file())
        return found[-1] if found else None

    def save_checkpoint(self, step: int, lora: dict[str, torch.Tensor], optimizer: dict, state: dict) -> None:
        """The LoRA weights (safetensors), the optimizer's state and the step, as one folder; older ones go."""
        from safetensors.torch import save_file

        with self._beside(f"checkpoint-{step}") as tmp:
            save_file({name: value.detach().contiguous() for name, value in lora.items()}, tmp / "lora.safetensors")
            torch.save(optimizer, tmp / "optimizer.pt")
            (tmp / "state.json").write_text(json.dumps(state | {"step": step}))
            target = self.path / f"checkpoint-{step}"
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        for older in self.path.glob("checkpoint-*"):
            if older.name != f"checkpoint-{step}":
                shutil.rmtree(older, ignore_errors=True)
        after_write()

    @staticmethod
    def load_checkpoint(folder: Path, device) -> tuple[dict[str, torch.Tensor], dict, dict]:
        from safetensors.torch import load_file

        lora = load_file(folder / "lora.safetensors", device=str(device))
        # Only tensors, numbers and dicts: weights_only refuses anything that would run code.
        optimizer = torch.load(folder / "optimizer.pt", map_location=device, weights_only=True)
        return lora, optimizer, json.loads((folder / "state.json").read_text())

    # --- the end -------------------------------------------------------------------------------

    def remove(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
            after_write()

    @contextlib.contextmanager
    def _beside(self, name: str) -> Iterator[Path]:
        self.path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.path, prefix=f".{name}-") as tmp:
            yield Path(tmp)

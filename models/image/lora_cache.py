"""LoRA adapters applied to a loaded pipeline, one batch at a time.

The base pipeline is loaded once per model instance and never reloaded: a batch that names
adapters loads those not yet in memory into it (`load_lora_weights`), activates exactly
them at their scales, runs, and deactivates them again whatever happens, so the next batch,
with other adapters or none, starts from the base model. The last few adapters stay loaded
(a switch back costs only activation); beyond that the least recently used is deleted.

Runs on the batcher's one worker thread per instance (models/common/batching.py), so never two at once.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence

from models.common.errors import LoraError
from models.common.weights import LOAD_LOCK
from models.image import loras

KEEP_LOADED = 6  # adapters kept in memory: a rank-64 SDXL adapter is ~350 MB, six fit beside the model


class LoraCache:
    def __init__(self, pipe, preset: str, keep: int = KEEP_LOADED, fused: Sequence = ()):
        self.pipe, self.preset, self.keep = pipe, preset, keep
        self.loaded: OrderedDict[str, float] = OrderedDict()  # id → its added_at, least recently used first
        # Modules whose q/k/v projections were fused (SpeedOptions.fuse_qkv): adapters are made for
        # the separate projections, which the fused attention never calls, so the first adapter
        # unfuses them, for good (fusing again after each batch would cost more than it saves).
        self.fused = list(fused)

    @contextlib.contextmanager
    def applied(self, choices: Sequence) -> Iterator[None]:
        """Within the block the pipeline runs with exactly these adapters (LoraChoice: id, scale)."""
        if not choices:
            yield
            return
        try:
            self._unfuse()
            for choice in choices:
                self._load(choice.id)
            self.pipe.enable_lora()
            self.pipe.set_adapters([c.id for c in choices], adapter_weights=[c.scale for c in choices])
            yield
        finally:
            self.pipe.disable_lora()  # the base model again, for everyone after this batch
            self._evict(keep_ids={c.id for c in choices})

    def _unfuse(self) -> None:
        while self.fused:
            self.fused.pop().unfuse_qkv_projections()

    def _load(self, adapter_id: str) -> None:
        # The library is checked again here, not only where the request was resolved: a direct
        # caller, or an adapter removed or replaced since, meets the same 4xx.
        info = loras.check_choice(adapter_id, self.preset)
        if self.loaded.get(adapter_id) == info.added_at:
            self.loaded.move_to_end(adapter_id)
            return
        if adapter_id in self.loaded:  # replaced in the library since it was loaded
            self._delete(adapter_id)
        path = loras.adapter_file(adapter_id)
        try:
            with LOAD_LOCK, warnings.catch_warnings():  # LOAD_LOCK: see models/common/weights.py
                # PEFT warns on every adapter after the first; several at once is the point here.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=adapter_id)
        except Exception as e:
            self._delete(adapter_id)  # whatever part of it got in goes out again
            raise LoraError(f"LoRA adapter '{adapter_id}' couldn't be loaded into {self.preset}: "
                            f"{type(e).__name__}: {e}") from None
        self.loaded[adapter_id] = info.added_at

    def _evict(self, keep_ids: set[str]) -> None:
        for adapter_id in list(self.loaded):
            if len(self.loaded) <= self.keep:
                break
            if adapter_id not in keep_ids:
                self._delete(adapter_id)

    def _delete(self, adapter_id: str) -> None:
        self.loaded.pop(adapter_id, None)
        present = {name for names in self.pipe.get_list_adapters().values() for name in names}
        if adapter_id in present:
            self.pipe.delete_adapters(adapter_id)

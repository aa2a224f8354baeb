"""Random LoRA adapters, built offline, for tests, benchmarks and an offline demo.

An adapter as a trainer would save it: PEFT's LoRA layers on the attention projections of the
family's denoiser (its UNet, or its transformer for SD3 and FLUX), written with diffusers' `save_lora_weights`, so the file goes through exactly the
path a downloaded adapter does (`models/image/loras.py` checks it, `load_lora_weights` loads it). The
weights are random but not zero (a freshly initialised LoRA's B matrix is zero and changes
nothing), seeded, so the same seed builds the same file.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from models.image.loras import FAMILIES

# Where diffusers' own LoRA trainers put adapters on a denoiser: the attention projections.
TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]


def build_random_lora(family: str, out_file: Path, rank: int = 4, seed: int = 0, strength: float = 1.0) -> Path:
    """Write a random rank-`rank` LoRA for the family's denoiser to `out_file` (.safetensors).
    `strength` scales the B matrices: how far the adapter moves the image at scale 1."""
    import diffusers
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    spec = FAMILIES[family]
    module_name, function_name = spec.components.split(":")
    components = getattr(importlib.import_module(module_name), function_name)()
    denoiser_name = "unet" if "unet" in components else "transformer"
    # The denoiser on the meta device: only its layer names and shapes matter, so even the
    # real-size families cost no memory; the LoRA tensors are then made for real, one by one.
    with torch.device("meta"):
        denoiser = components[denoiser_name]()
    denoiser.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=TARGET_MODULES, init_lora_weights=False))
    generator = torch.Generator().manual_seed(seed)
    layers = {}
    for name, meta in get_peft_model_state_dict(denoiser).items():
        fan_in = meta.shape[1]
        std = (1 / fan_in**0.5) * (strength if "lora_B" in name else 1.0)
        layers[name] = torch.randn(tuple(meta.shape), generator=generator) * std
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    getattr(diffusers, spec.pipeline).save_lora_weights(out_file.parent, weight_name=out_file.name,
                                                        **{f"{denoiser_name}_lora_layers": layers})
    return out_file


def add_demo_lora(adapter_id: str = "tiny-demo", seed: int = 0, strength: float = 1.0):
    """Build a random adapter for the `tiny` preset and add it to the library (`atelier loras add --tiny-demo`)."""
    from models.image import loras

    with tempfile.TemporaryDirectory() as tmp:
        path = build_random_lora("tiny", Path(tmp) / f"{adapter_id}.safetensors", seed=seed, strength=strength)
        return loras.add(str(path), "tiny", adapter_id)

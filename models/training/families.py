"""Which image families Atelier can train a LoRA adapter for, and how each is trained.

A family (`ImagePreset.family`, the same one the LoRA library files adapters under) is trained
on its denoiser only — the UNet of Stable Diffusion 2 and SDXL, the MMDiT of SD3, FLUX's
transformer — with one of two objectives: denoising (predict the noise, or the velocity,
at a random DDPM timestep) or flow matching (predict noise − image along a straight path,
at a logit-normal time, as SD3 and FLUX were trained). models/training/objectives.py holds
the code of each; this table is torch-free, so request checks on the web side read it too.

The target modules are those diffusers' own DreamBooth LoRA scripts adapt on each
architecture: attention projections (and, on the MMDiT and FLUX blocks, the text stream's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.common.errors import RequestError
from models.presets import IMAGE_PRESETS, ImagePreset, get_preset

Objective = Literal["sd", "sdxl", "sd3", "flux"]

_UNET_TARGETS = ("to_k", "to_q", "to_v", "to_out.0", "add_k_proj", "add_v_proj")
_MMDIT_TARGETS = ("attn.to_k", "attn.to_q", "attn.to_v", "attn.to_out.0",
                  "attn.add_k_proj", "attn.add_q_proj", "attn.add_v_proj", "attn.to_add_out")


@dataclass(frozen=True)
class FamilyTrainer:
    objective: Objective
    denoiser: Literal["unet", "transformer"]
    target_modules: tuple[str, ...]


TRAINERS: dict[str, FamilyTrainer] = {
    "tiny": FamilyTrainer("sd", "unet", _UNET_TARGETS),
    "sd2": FamilyTrainer("sd", "unet", _UNET_TARGETS),
    "sdxl": FamilyTrainer("sdxl", "unet", _UNET_TARGETS),
    "tiny-sd3": FamilyTrainer("sd3", "transformer", _MMDIT_TARGETS),
    "sd3": FamilyTrainer("sd3", "transformer", _MMDIT_TARGETS),
    "flux": FamilyTrainer("flux", "transformer", _MMDIT_TARGETS),
}


def trainable_presets() -> list[str]:
    return [name for name, preset in IMAGE_PRESETS.items() if preset.family in TRAINERS]


def trainer_for(preset_name: str) -> tuple[ImagePreset, FamilyTrainer]:
    """The image preset and its family's trainer, or a RequestError saying which presets train."""
    preset = get_preset("image", preset_name)
    if preset.family not in TRAINERS:
        raise RequestError(f"{preset.name}'s family ({preset.family or 'none'}) has no LoRA trainer. "
                           f"Presets that train: {', '.join(trainable_presets())}.")
    return preset, TRAINERS[preset.family]

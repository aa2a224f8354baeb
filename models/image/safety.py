"""The safety checker every image passes through on a public deployment (ATELIER_SAFETY=on).

The checker is the CLIP-based one diffusers ships for Stable Diffusion (`StableDiffusionSafetyChecker`,
CompVis/stable-diffusion-safety-checker at a pinned revision): an image is flagged when its CLIP
embedding comes close to any of 17 concepts. It looks at pictures, not at a pipeline's insides,
so one checker serves every preset, and it runs in the GPU container right after the pipeline,
on every image (text to image, inputs, upscales alike). A flagged image is never handed on as it
is: it comes back as a heavy blur of itself, and the result's record says which images were
flagged, in a sentence (`record["safety"]`); the web side refuses to publish such a result
(ui/store/).

On or off: ATELIER_SAFETY, read here in the GPU container (`safety_on`). app.py writes the
deploying shell's choice into the GPU images' environment, "on" unless it says "off", so a Modal
deployment checks by default; locally it is off unless set (`ATELIER_SAFETY=on atelier serve`).

Weights: presets with hub weights use the real checker (1.2 GB), which `download_weights` puts
on the weights Volume with each image preset (GPU containers never download: `refuse_missing`
names it when it is missing). Presets built on the spot (`tiny`, the twins) use a tiny
random-weight twin, models/random_weights/tiny_safety.py: a TEST DOUBLE that flags exactly the
pictures whose embedding is close to one known pattern, so a test can make it flag at will.

The web side reads `FLAGGED_KEY` only: no torch here at import.
"""

from __future__ import annotations

import os
from pathlib import Path

from models.common.deploy import SWITCH
from models.common.weights import BuiltWeights, HubWeights, Weights
from models.presets import ImagePreset

# Revision: the one many public projects pin (their hub cache paths and download URLs name it).
# Not checked against the hub from here (no network). Only the weights' .bin and the configs.
SAFETY_CHECKER = HubWeights("CompVis/stable-diffusion-safety-checker", "cb41f3a270d63d454d385fc2e4f571c487c253c5",
                            files=("*.json", "pytorch_model.bin"))
TINY_SAFETY_CHECKER = BuiltWeights("models.random_weights.tiny_safety:build_tiny_safety_checker",
                                   "tiny-safety-checker")

SETTING = "ATELIER_SAFETY"
VALUES = SWITCH
FLAGGED_KEY = "safety"  # the record's entry: {"checked": true, "flagged": [indices], "message": ...}


def safety_on() -> bool:
    """Whether images are checked here: ATELIER_SAFETY (on/off, 1/0), off when unset."""
    value = os.environ.get(SETTING, "").strip().lower() or "off"
    if value not in VALUES:
        raise ValueError(f"{SETTING}={value!r} is not valid: on or off.")
    return VALUES[value]


def checker_weights(spec: ImagePreset) -> Weights:
    """The real checker for presets with real weights; the tiny twin for those built on the spot."""
    return SAFETY_CHECKER if isinstance(spec.weights, HubWeights) else TINY_SAFETY_CHECKER


def needed_weights(spec: ImagePreset) -> list[Weights]:
    """The checker's weights where images are checked here, else none."""
    return [checker_weights(spec)] if safety_on() else []


class SafetyChecker:
    """The checker, loaded from a folder onto the CPU (a memory snapshot keeps it), then placed."""

    def __init__(self, folder: Path):
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import CLIPImageProcessorPil  # the PIL one: the images have no torchvision

        self.model = StableDiffusionSafetyChecker.from_pretrained(folder).eval()
        self.processor = CLIPImageProcessorPil.from_pretrained(folder)
        self.device = "cpu"

    def to(self, device: str) -> None:
        import torch

        self.device = device
        self.model.to(device, torch.float16 if str(device).startswith("cuda") else torch.float32)

    def flagged(self, images: list) -> list[bool]:
        """For each PIL image, whether the checker flags it."""
        import numpy as np

        pixels = self.processor(images=images, return_tensors="pt").pixel_values
        pixels = pixels.to(self.device, self.model.dtype)
        arrays = [np.asarray(image) for image in images]  # what its forward blacks out: not used
        _, flags = self.model(clip_input=pixels, images=arrays)
        return [bool(flag) for flag in flags]


def checked(checker: SafetyChecker | None, images: list) -> tuple[list, dict | None]:
    """The images as they may be handed on (each flagged one blurred past recognition) and what
    the record says about them; with no checker, the images as they are and nothing."""
    if checker is None:
        return images, None
    flags = checker.flagged(images)
    flagged = [i for i, flag in enumerate(flags) if flag]
    return [blurred(image) if flag else image for image, flag in zip(images, flags, strict=True)], {
        "checked": True, "flagged": flagged, "message": message(flagged, len(images))}


def message(flagged: list[int], total: int) -> str | None:
    if not flagged:
        return None
    if len(flagged) == 1:
        which = "The image was" if total == 1 else f"Image {flagged[0] + 1} of {total} was"
    else:
        which = f"{len(flagged)} of the {total} images were"
    return f"{which} flagged by the safety checker, so it is shown blurred, and this result can't be published."


def blurred(image):
    """Unrecognisable: shrunk to a few pixels, grown back, and blurred."""
    from PIL import Image, ImageFilter

    width, height = image.size
    tiny = image.resize((max(1, width // 32), max(1, height // 32)), Image.BILINEAR)
    return tiny.resize((width, height), Image.BILINEAR).filter(ImageFilter.GaussianBlur(max(width, height) / 40))

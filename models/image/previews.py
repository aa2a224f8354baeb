"""Live previews: what an image looks like while it forms, cheaply, as A1111 and ComfyUI show it.

A Stable Diffusion latent is 4 channels at 1/8 of the image's size, and a fixed linear map
from those 4 channels to RGB (the "latent to RGB" factors ComfyUI and A1111 use for their
cheapest preview) gives a recognisable, blurry picture of it: no decoder, no weights, well
under a millisecond for a 512² image's 64² latent. SD3's latents are 16 channels, mapped the
same way with 16 rows of factors. Latents of another shape (FLUX packs them into a sequence) get
no preview.

Previews are throttled to a share of the work: a preview is made only while the time spent
on previews stays under `budget` (10%) of the time the job has taken so far.
"""

from __future__ import annotations

import io
import time

# (factors: 4 latent channels → R, G, B; bias), in the scale the VAE decodes to ([-1, 1]).
SD_FACTORS = (
    ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177)),
    (0.0, 0.0, 0.0),
)
SDXL_FACTORS = (
    ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362), (-0.3165, -0.2492, -0.2188)),
    (0.1084, -0.0175, -0.0011),
)
# SD3 and SD3.5 (16 channels, as the transformer sees them: shifted and scaled), from ComfyUI's
# latent_formats.SD3.
SD3_FACTORS = (
    (
        (-0.0922, -0.0175, 0.0749), (0.0311, 0.0633, 0.0954), (0.1994, 0.0927, 0.0458), (0.0856, 0.0339, 0.0902),
        (0.0587, 0.0272, -0.0496), (-0.0006, 0.1104, 0.0309), (0.0978, 0.0306, 0.0427), (-0.0042, 0.1038, 0.1358),
        (-0.0194, 0.0020, 0.0669), (-0.0488, 0.0130, -0.0268), (0.0922, 0.0988, 0.0951), (-0.0278, 0.0524, -0.0542),
        (0.0332, 0.0456, 0.0895), (-0.0069, -0.0030, -0.0810), (-0.0596, -0.0465, -0.0293), (-0.1448, -0.1463, -0.1189),
    ),
    (0.2394, 0.2135, 0.1925),
)
PREVIEW_SIDE = 256  # the longer side of a preview, in pixels: enough to see it form
MIME = "image/webp"


def factors_for(pipe) -> tuple | None:
    """The latent-to-RGB map for a pipeline's latents, or None where it has none."""
    if type(pipe).__name__.startswith("StableDiffusion3"):  # an MMDiT over unpacked latents
        return SD3_FACTORS if pipe.transformer.config.in_channels == len(SD3_FACTORS[0]) else None
    if getattr(getattr(pipe, "unet", None), "config", None) is None:
        return None  # another transformer-based pipeline (FLUX): packed latents, no linear preview
    if pipe.unet.config.in_channels != 4:
        return None
    return SDXL_FACTORS if "XL" in type(pipe).__name__ else SD_FACTORS


def preview_bytes(latent, factors: tuple) -> bytes:
    """One image's latent (channels, h, w), as a small WEBP picture."""
    import torch
    from PIL import Image

    weights, bias = factors
    matrix = torch.tensor(weights, dtype=torch.float32)  # (channels, 3)
    rgb = torch.einsum("chw,cr->hwr", latent.detach().float().cpu(), matrix) + torch.tensor(bias)
    pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    image = Image.fromarray(pixels, "RGB")
    scale = PREVIEW_SIDE / max(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, format="WEBP", quality=70)
    return buf.getvalue()


class Throttle:
    """Says when a preview may be made: while previews have cost at most `budget` of the time so far."""

    def __init__(self, budget: float = 0.10, clock=time.perf_counter):
        self.budget, self.clock = budget, clock
        self.started = clock()
        self.spent = 0.0

    def due(self) -> bool:
        return self.spent <= self.budget * (self.clock() - self.started)

    def timed(self, make):
        """Run `make()` and count its time as preview time."""
        started = self.clock()
        try:
            return make()
        finally:
            self.spent += self.clock() - started

"""Everything the encoders contribute to a training, computed once: then they can leave the GPU.

A step needs each picture's latent and each prompt's text embedding. Both come from frozen
models (the VAE's encoder, the text encoders: CLIP, and T5-XXL for SD3 and FLUX, 10 GB on
its own), so they are computed once before the first step and kept, on the CPU and in the
run's folder: a resumed training reads them back instead of loading the encoders at all.

A picture's latent is kept as the VAE's distribution (mean and standard deviation), and each
step draws from it, as diffusers' scripts do with their cached `latent_dist`. Prompts are
encoded once each, however many pictures share one. The sample prompt (the trigger) is
encoded here too, so sample pictures need no text encoder either. With prior preservation,
the base model first draws the class pictures, which are cached the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from models.image import uploads


@dataclass
class Encoded:
    """A set of pictures' latent distributions and the prompts they were taken under."""

    means: torch.Tensor  # (pictures, channels, h, w), float32, on the CPU
    stds: torch.Tensor
    prompt_of: list[int]  # each picture's prompt, an index into `conds`
    conds: list[dict[str, torch.Tensor]]  # one per distinct prompt, each a batch of one, on the CPU

    def draw(self, indices: list[int], generator: torch.Generator, objective) -> tuple[torch.Tensor, list[dict]]:
        """Latents sampled for these pictures (normalised as the family's denoiser expects) and their conditions."""
        means, stds = self.means[indices], self.stds[indices]
        sample = means + stds * torch.randn(tuple(means.shape), generator=generator)
        return objective.to_latent(sample), [self.conds[self.prompt_of[i]] for i in indices]


@dataclass
class Cache:
    pictures: Encoded
    sample: dict[str, torch.Tensor]  # the sample prompt's condition (and `negative_*` ones under guidance)
    prior: Encoded | None = None  # the class pictures, with prior preservation

    def tensors(self) -> dict[str, torch.Tensor]:
        """Flat, for a safetensors file (run.py): every tensor under a path-like name."""
        flat = {f"sample.{key}": value for key, value in self.sample.items()}
        for part, encoded in (("pictures", self.pictures), ("prior", self.prior)):
            if encoded is None:
                continue
            flat[f"{part}.means"], flat[f"{part}.stds"] = encoded.means, encoded.stds
            for number, cond in enumerate(encoded.conds):
                flat |= {f"{part}.cond.{number}.{key}": value for key, value in cond.items()}
        return {name: value.contiguous() for name, value in flat.items()}

    def layout(self) -> dict:
        return {"pictures": self.pictures.prompt_of, "prior": self.prior.prompt_of if self.prior else None}

    @classmethod
    def from_tensors(cls, flat: dict[str, torch.Tensor], layout: dict) -> Cache:
        def part(name: str, prompt_of: list[int] | None) -> Encoded | None:
            if prompt_of is None:
                return None
            conds = [{key.rsplit(".", 1)[1]: value for key, value in flat.items()
                      if key.startswith(f"{name}.cond.{number}.")} for number in range(max(prompt_of) + 1)]
            return Encoded(flat[f"{name}.means"], flat[f"{name}.stds"], list(prompt_of), conds)

        sample = {key.split(".", 1)[1]: value for key, value in flat.items() if key.startswith("sample.")}
        return cls(part("pictures", layout["pictures"]), sample, part("prior", layout["prior"]))


def pixels(png: bytes) -> torch.Tensor:
    """A prepared picture as the VAE takes it: (1, 3, h, w) in [-1, 1]."""
    array = np.asarray(uploads.load(png).convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def encode_prompts(pipe, prompts: list[str], objective, device) -> tuple[list[int], list[dict[str, torch.Tensor]]]:
    """Each distinct prompt encoded once: which one each picture has, and their conditions."""
    distinct = list(dict.fromkeys(prompts))
    conds = [_to_cpu(objective.encode(pipe, prompt, device)) for prompt in distinct]
    return [distinct.index(prompt) for prompt in prompts], conds


def encode_picture(vae, image, device) -> tuple[torch.Tensor, torch.Tensor]:
    """A picture's latent distribution (mean, std), from PNG bytes or a PIL image."""
    batch = pixels(image if isinstance(image, bytes) else uploads.png(image))
    with torch.no_grad():
        dist = vae.encode(batch.to(device=device, dtype=vae.dtype)).latent_dist
    return dist.mean.float().cpu(), dist.std.float().cpu()


def sample_condition(pipe, objective, prompt: str, guidance: float, device) -> dict[str, torch.Tensor]:
    """The sample prompt's condition; with classifier-free guidance, the empty prompt's as `negative_*`."""
    cond = _to_cpu(objective.encode(pipe, prompt, device))
    if guidance > 1:
        cond |= {f"negative_{key}": value for key, value in _to_cpu(objective.encode(pipe, "", device)).items()}
    return cond


def draw_class_pictures(pipe, class_prompt: str, count: int, seed: int, spec, resolution: int) -> Iterator[object]:
    """Prior preservation's pictures: the base model's own idea of the class, one seed each."""
    for number in range(count):
        generator = torch.Generator("cpu").manual_seed(seed + number)
        yield pipe(prompt=class_prompt, num_inference_steps=spec.steps, guidance_scale=spec.guidance,
                   width=resolution, height=resolution, generator=generator).images[0]


def _to_cpu(cond: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu() for key, value in cond.items()}

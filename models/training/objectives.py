"""What one training step asks of each family's denoiser: the noise, the time, the target, the loss.

Every family is trained the way it was made:

- Stable Diffusion 2 and SDXL (UNets) learn to undo DDPM noise: a picture's latent, noised at a
  uniformly drawn timestep, and the UNet predicts the noise (or, for v-prediction models, the
  velocity), as the scheduler's config says.
- SD3 and FLUX (flow-matching transformers) learn the straight path from picture to noise: at a
  time σ drawn logit-normally (the SD3 paper's choice), the latent is (1 − σ)·x + σ·noise and the
  model predicts noise − x.

Prompts are encoded by the pipeline's own `encode_prompt`, so the adapter learns under exactly
the conditioning the image model later generates with; what each family returns is named as
its pipeline's call arguments (`prompt_embeds`, `pooled_prompt_embeds`), so the same tensors
also drive the sample pictures. All randomness comes from the generator passed in (on the CPU,
so a step draws the same numbers on any device): the training loop seeds one per step, which
makes a resumed training repeat an uninterrupted one.
"""

from __future__ import annotations

import torch

from models.training.families import Objective as ObjectiveName


def _randn(shape, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=generator).to(device=like.device, dtype=like.dtype)


def _per_example(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error for each example of the batch, in float32."""
    return ((prediction.float() - target.float()) ** 2).reshape(target.shape[0], -1).mean(dim=1)


def stack(conds: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Several prompts' conditions as one batch (each holds a batch of one)."""
    return {key: torch.cat([cond[key] for cond in conds]) for key in conds[0]}


class DenoisingObjective:
    """Stable Diffusion 2 (and `tiny`): a UNet predicting DDPM noise, or velocity."""

    def __init__(self, pipe, resolution: int):
        from diffusers import DDPMScheduler

        # The training noise schedule of the pipeline's own scheduler (its betas and prediction
        # type), as a DDPM scheduler: the sampler it generates with is another matter.
        self.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.scaling = pipe.vae.config.scaling_factor
        self.resolution = resolution

    def encode(self, pipe, prompt: str, device) -> dict[str, torch.Tensor]:
        embeds, _ = pipe.encode_prompt(prompt, device, 1, False)
        return {"prompt_embeds": embeds}

    def to_latent(self, sample: torch.Tensor) -> torch.Tensor:
        return sample * self.scaling

    def losses(self, denoiser, latents: torch.Tensor, cond: dict, generator: torch.Generator) -> torch.Tensor:
        noise = _randn(latents.shape, generator, latents)
        steps = self.scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, steps, (latents.shape[0],), generator=generator).to(latents.device)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        prediction = denoiser(noisy, timesteps, encoder_hidden_states=cond["prompt_embeds"],
                              added_cond_kwargs=self.added_conditions(cond, latents), return_dict=False)[0]
        if self.scheduler.config.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        return _per_example(prediction, target)

    def added_conditions(self, cond: dict, latents: torch.Tensor) -> dict | None:
        return None


class SdxlObjective(DenoisingObjective):
    """SDXL: the same, with the pooled text embedding and the size conditioning its UNet adds."""

    def encode(self, pipe, prompt: str, device) -> dict[str, torch.Tensor]:
        embeds, _, pooled, _ = pipe.encode_prompt(prompt, device=device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
        return {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}

    def added_conditions(self, cond: dict, latents: torch.Tensor) -> dict:
        # (original size, crop's top-left, target size): the pictures are whole squares at the resolution
        side = self.resolution
        time_ids = torch.tensor([[side, side, 0, 0, side, side]], dtype=latents.dtype, device=latents.device)
        return {"text_embeds": cond["pooled_prompt_embeds"], "time_ids": time_ids.repeat(latents.shape[0], 1)}


class FlowObjective:
    """SD3 (and `tiny-sd3`): an MMDiT predicting noise − picture along the flow-matching path."""

    def __init__(self, pipe, resolution: int):
        from diffusers import FlowMatchEulerDiscreteScheduler

        # A copy: the pipeline's own scheduler is reset by every sample picture it makes.
        self.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config)
        self.scaling = pipe.vae.config.scaling_factor
        self.shift = pipe.vae.config.shift_factor or 0.0
        self.resolution = resolution

    def encode(self, pipe, prompt: str, device) -> dict[str, torch.Tensor]:
        embeds, _, pooled, _ = pipe.encode_prompt(prompt, None, None, device=device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
        return {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}

    def to_latent(self, sample: torch.Tensor) -> torch.Tensor:
        return (sample - self.shift) * self.scaling

    def losses(self, denoiser, latents: torch.Tensor, cond: dict, generator: torch.Generator) -> torch.Tensor:
        from diffusers.training_utils import compute_density_for_timestep_sampling

        noise = _randn(latents.shape, generator, latents)
        u = compute_density_for_timestep_sampling("logit_normal", latents.shape[0], logit_mean=0.0, logit_std=1.0,
                                                  generator=generator)
        index = (u * self.scheduler.config.num_train_timesteps).long()
        timesteps = self.scheduler.timesteps[index].to(latents.device)
        sigmas = self.scheduler.sigmas[index].to(device=latents.device, dtype=latents.dtype).view(-1, 1, 1, 1)
        noisy = (1.0 - sigmas) * latents + sigmas * noise
        return _per_example(self.predict(denoiser, noisy, timesteps, cond), noise - latents)

    def predict(self, denoiser, noisy: torch.Tensor, timesteps: torch.Tensor, cond: dict) -> torch.Tensor:
        return denoiser(hidden_states=noisy, timestep=timesteps, encoder_hidden_states=cond["prompt_embeds"],
                        pooled_projections=cond["pooled_prompt_embeds"], return_dict=False)[0]


class FluxObjective(FlowObjective):
    """FLUX: the same path, on latents packed into 2×2 patches, with positions for text and picture."""

    FLUX_DEV_GUIDANCE = 3.5  # for FLUX models with a guidance embedder (dev); schnell has none

    def encode(self, pipe, prompt: str, device) -> dict[str, torch.Tensor]:
        embeds, pooled, _ = pipe.encode_prompt(prompt, None, device=device, num_images_per_prompt=1)
        return {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}

    def predict(self, denoiser, noisy: torch.Tensor, timesteps: torch.Tensor, cond: dict) -> torch.Tensor:
        from diffusers import FluxPipeline

        batch, channels, height, width = noisy.shape
        packed = FluxPipeline._pack_latents(noisy, batch, channels, height, width)
        image_ids = FluxPipeline._prepare_latent_image_ids(batch, height // 2, width // 2, noisy.device, noisy.dtype)
        text_ids = torch.zeros(cond["prompt_embeds"].shape[1], 3, device=noisy.device, dtype=noisy.dtype)
        guidance = None
        if denoiser.config.guidance_embeds:
            guidance = torch.full((batch,), self.FLUX_DEV_GUIDANCE, device=noisy.device, dtype=torch.float32)
        packed_prediction = denoiser(hidden_states=packed, timestep=timesteps / 1000, guidance=guidance,
                                     pooled_projections=cond["pooled_prompt_embeds"],
                                     encoder_hidden_states=cond["prompt_embeds"], txt_ids=text_ids, img_ids=image_ids,
                                     return_dict=False)[0]
        latent_scale = self.resolution // height  # the VAE's 8×
        return FluxPipeline._unpack_latents(packed_prediction, self.resolution, self.resolution, latent_scale)


OBJECTIVES: dict[ObjectiveName, type] = {
    "sd": DenoisingObjective,
    "sdxl": SdxlObjective,
    "sd3": FlowObjective,
    "flux": FluxObjective,
}

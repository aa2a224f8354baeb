"""One training step, and the state a checkpoint keeps: a LoRA adapter on a frozen denoiser.

The denoiser's own weights never change (they stay in the precision they were loaded in: bf16
on a GPU); PEFT adds the LoRA layers, whose weights alone are trained, in float32, under
autocast where the base is bf16. On a GPU the denoiser recomputes its activations in the
backward pass (gradient checkpointing: a FLUX transformer's would not fit otherwise) and
AdamW keeps its moments in 8 bits (bitsandbytes, imported only there); on a CPU neither pays.

The adapter's first weights are drawn from the seed, every random number of step n comes from one
generator seeded by (seed, n), and the pictures' order from one seeded per epoch: the state after
step n is the LoRA weights, the optimizer's moments and n, so a training resumed from a checkpoint
takes the very steps it would have taken, and the same request trains the same adapter.
"""

from __future__ import annotations

import contextlib
import functools
import logging

import torch

from models.training.cache import Cache
from models.training.families import FamilyTrainer
from models.training.objectives import stack
from models.training.request import TrainingJob

log = logging.getLogger("atelier.training")

ADAPTER = "atelier-training"  # PEFT's name for the adapter being trained (never one from the library)
WEIGHT_DECAY = 1e-2  # diffusers' DreamBooth LoRA script's AdamW defaults
MAX_GRAD_NORM = 1.0
_PRIOR_STREAM = 0x9E3779B9  # keeps the class pictures' order apart from the training pictures'


def step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed((seed * 1_000_003 + step) % 2**63)


class LoraTraining:
    def __init__(self, denoiser, family: FamilyTrainer, job: TrainingJob, objective, cache: Cache, device: str):
        from peft import LoraConfig

        self.denoiser, self.job, self.objective, self.cache, self.device = denoiser, job, objective, cache, device
        self.dtype = denoiser.dtype
        denoiser.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):  # PEFT draws the initial A matrices from torch's global generator
            torch.manual_seed(job.seed)
            denoiser.add_adapter(LoraConfig(r=job.rank, lora_alpha=job.rank, init_lora_weights="gaussian",
                                            target_modules=list(family.target_modules)), adapter_name=ADAPTER)
        self.params = {name: p for name, p in denoiser.named_parameters() if p.requires_grad}
        for parameter in self.params.values():  # trained in float32 whatever the base's precision
            parameter.data = parameter.data.float()
        self.gradient_checkpointing = device == "cuda"
        if self.gradient_checkpointing:
            denoiser.enable_gradient_checkpointing()
        self.optimizer, self.optimizer_name = make_optimizer(list(self.params.values()), job.learning_rate, device)

    def step(self, number: int) -> float:
        """Train step `number` (0-based); the loss, as a number."""
        job, generator = self.job, step_generator(self.job.seed, number)
        latents, conds = self.cache.pictures.draw(self._indices(number, len(self.cache.pictures.prompt_of), 0),
                                                  generator, self.objective)
        if self.cache.prior is not None:  # the class pictures ride in the same batch, weighed apart
            prior, prior_conds = self.cache.prior.draw(
                self._indices(number, len(self.cache.prior.prompt_of), _PRIOR_STREAM), generator, self.objective)
            latents, conds = torch.cat([latents, prior]), conds + prior_conds
        latents = latents.to(self.device, self.dtype)
        cond = {key: value.to(self.device, self.dtype) for key, value in stack(conds).items()}
        with self.autocast():
            losses = self.objective.losses(self.denoiser, latents, cond, generator)
        loss = losses[:job.batch_size].mean()
        if self.cache.prior is not None:
            loss = loss + job.prior_weight * losses[job.batch_size:].mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params.values(), MAX_GRAD_NORM)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def _indices(self, number: int, count: int, stream: int) -> list[int]:
        """The pictures of step `number`: each epoch visits every picture once, in its own order."""
        first = number * self.job.batch_size
        return [int(_order(self.job.seed ^ stream, k // count, count)[k % count])
                for k in range(first, first + self.job.batch_size)]

    def autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda" if self.device == "cuda" else "cpu", dtype=self.dtype)

    # --- checkpoints and the result ---------------------------------------------------------------

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        return dict(self.params), self.optimizer.state_dict()

    def load(self, lora: dict[str, torch.Tensor], optimizer: dict) -> None:
        missing = set(self.params) ^ set(lora)
        if missing:
            raise ValueError(f"the checkpoint doesn't match this adapter ({len(missing)} tensors differ)")
        with torch.no_grad():
            for name, parameter in self.params.items():
                parameter.copy_(lora[name])
        self.optimizer.load_state_dict(optimizer)

    def adapter_layers(self) -> dict[str, torch.Tensor]:
        """The trained layers under diffusers' LoRA names, in float32, for `save_lora_weights`."""
        from peft.utils import get_peft_model_state_dict

        layers = get_peft_model_state_dict(self.denoiser, adapter_name=ADAPTER)
        return {name: value.detach().float().cpu().contiguous() for name, value in layers.items()}

    def close(self) -> None:
        """The denoiser as it was loaded: no adapter, no checkpointing, for the next training."""
        if self.gradient_checkpointing:
            self.denoiser.disable_gradient_checkpointing()
        self.denoiser.unload_lora()
        self.optimizer = None


@functools.lru_cache(maxsize=64)
def _order(seed: int, epoch: int, count: int) -> torch.Tensor:
    return torch.randperm(count, generator=torch.Generator("cpu").manual_seed((seed * 7919 + epoch) % 2**63))


def make_optimizer(params: list, learning_rate: float, device: str):
    """AdamW with 8-bit moments on a GPU where bitsandbytes runs; plain AdamW elsewhere."""
    if device == "cuda":
        try:
            import bitsandbytes

            return bitsandbytes.optim.AdamW8bit(params, lr=learning_rate, weight_decay=WEIGHT_DECAY), "AdamW8bit"
        except (ImportError, RuntimeError) as e:  # not installed, or no kernels for this GPU
            log.warning("8-bit AdamW unavailable (%s: %s); training with AdamW", type(e).__name__, e)
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=WEIGHT_DECAY), "AdamW"

"""Applying a preset's SpeedOptions (models/presets.py) to a loaded model.

Each option is a switch on the preset, off by default; bench/bench_models.py measures what
each one buys, side by side with the plain library call. Libraries are imported inside the
functions, as everywhere in models/.
"""

from __future__ import annotations

from functools import lru_cache

from models.device import target_device, target_dtype
from models.presets import SpeedOptions


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX-BF16), which is
    where oneDNN makes bf16 matmuls and convolutions faster than float32; elsewhere torch
    emulates bf16 and it is slower."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:  # not Linux: torch's own view of the CPU
        import torch

        return torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX")
    return "avx512_bf16" in flags or "amx_bf16" in flags


def uses_fast_decoder(speed: SpeedOptions) -> bool:
    return speed.fast_decoder is not None and (target_device() == "cpu" or speed.fast_decoder_on_gpu)


def uses_cpu_bf16(speed: SpeedOptions) -> bool:
    return speed.cpu_bf16 and target_device() == "cpu" and cpu_has_native_bf16()


def load_dtype(speed: SpeedOptions, gpu_dtype: str = "float16"):
    """The dtype to load weights in: the GPU's half precision, bf16 on a bf16 CPU when the
    preset opts in, float32 otherwise."""
    import torch

    return torch.bfloat16 if uses_cpu_bf16(speed) else target_dtype(gpu_dtype)


def record(speed: SpeedOptions) -> dict:
    """`{"speed": what of it is in effect here}` for a result record's model; nothing at all
    for the plain pipeline, so records of presets without speed-ups stay as they were."""
    return {"speed": on} if (on := applied(speed)) else {}


def applied(speed: SpeedOptions) -> dict:
    """What of `speed` is in effect here (empty: the plain pipeline)."""
    out: dict = {}
    if uses_fast_decoder(speed):
        out["decoder"] = speed.fast_decoder.describe()
    if uses_cpu_bf16(speed):
        out["dtype"] = "bfloat16"
    if speed.channels_last:
        out["channels_last"] = True
    if speed.threads:
        out["threads"] = speed.threads
    return out


def load_fast_decoder(speed: SpeedOptions, dtype):
    """The preset's TAESD-shaped AutoencoderTiny where it decodes, or None. Called under LOAD_LOCK."""
    if not uses_fast_decoder(speed):
        return None
    from diffusers import AutoencoderTiny

    from models.weights import ensure_weights

    return AutoencoderTiny.from_pretrained(ensure_weights(speed.fast_decoder), dtype=dtype)


def apply_runtime(speed: SpeedOptions, *modules) -> None:
    """Options that act on modules already on their device, and on the process."""
    import torch

    if speed.threads:
        torch.set_num_threads(speed.threads)  # process-wide, as torch has it
    if speed.channels_last:
        for module in modules:
            if module is not None:
                module.to(memory_format=torch.channels_last)

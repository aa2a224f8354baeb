"""A preset's speed options (SpeedOptions), and applying them to a loaded model.

Each option is a switch on the preset, off by default; bench/bench_models.py measures what
each one buys, side by side with the plain library call. Libraries are imported inside the
functions, as everywhere in models/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from models.common.device import target_device, target_dtype
from models.common.weights import Weights, atelier_home


@dataclass(frozen=True)
class SpeedOptions:
    """Speed-ups a preset opts into (models/common/speed.py applies them). All off by default, so a
    preset without them runs the plain pipeline; bench/bench_models.py measures each one.

    - fast_decoder: weights of a TAESD-shaped AutoencoderTiny that decodes the final image
      instead of the full VAE. A different decoder: not the same pixels, much less time. On a
      CPU only, unless fast_decoder_on_gpu: a GPU decodes with the full VAE in milliseconds.
    - cpu_bf16: on a CPU with native bfloat16 (AVX512-BF16 or AMX), load the model in
      bfloat16. Ignored on CPUs without it (emulated bf16 is slower than float32) and on GPUs,
      which use the preset's gpu_dtype. Not the same pixels as float32.
    - channels_last: convolution weights and activations in NHWC layout (same maths).
    - threads: torch.set_num_threads for the process; None leaves torch's default.
    - fuse_qkv: attention's query, key and value projections as one matrix product (diffusers'
      fuse_qkv_projections), in the denoiser and the VAE. Same maths in one bigger product.
      LoRA adapters target the separate projections, so the first batch that uses one unfuses
      them for the rest of the instance's life (models/image/lora_cache.py).
    - compile: on a GPU, torch.compile the denoiser and the VAE decoder (images), or MusicGen's
      decoder (music). The first call at each size compiles, once per container, with the
      artefacts cached under ATELIER_COMPILE_CACHE (the weights Volume on Modal), so a later
      container compiles from the cache. An adapter switch recompiles. Ignored on a CPU.
    - static_cache (music): MusicGen decodes into a key/value cache allocated once per window
      instead of one that grows by a concatenation every step (models/music/engines/
      musicgen_cache.py). Same tokens for the same seed. MusicGen presets only, not Melody.
    - cpu_int8 (music): on a CPU, the weights of MusicGen's decoder layers (attention and
      feed-forward) in int8, by PyTorch's dynamic quantization; the embeddings, output heads,
      text encoder and audio codec stay float32. Each token reads a quarter of the bytes. Not
      the same tokens as float32. Ignored on GPUs.
    """

    fast_decoder: Weights | None = None
    fast_decoder_on_gpu: bool = False
    cpu_bf16: bool = False
    channels_last: bool = False
    threads: int | None = None
    fuse_qkv: bool = False
    compile: bool = False
    static_cache: bool = False
    cpu_int8: bool = False


NO_SPEEDUPS = SpeedOptions()


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


def uses_cpu_int8(speed: SpeedOptions) -> bool:
    return speed.cpu_int8 and target_device() == "cpu"


def uses_compile(speed: SpeedOptions) -> bool:
    # On a CPU, inductor needs a C++ toolchain and minutes of compiling for a laptop's one image.
    return speed.compile and target_device() == "cuda"


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
    if speed.fuse_qkv:
        out["fused_qkv"] = True
    if uses_compile(speed):
        out["compiled"] = True
    if speed.static_cache:
        out["static_cache"] = True
    if uses_cpu_int8(speed):
        out["int8"] = "decoder layers"
    return out


def load_fast_decoder(speed: SpeedOptions, dtype):
    """The preset's TAESD-shaped AutoencoderTiny where it decodes, or None. Called under LOAD_LOCK."""
    if not uses_fast_decoder(speed):
        return None
    from diffusers import AutoencoderTiny

    from models.common.weights import ensure_weights

    return AutoencoderTiny.from_pretrained(ensure_weights(speed.fast_decoder), dtype=dtype)


def apply_runtime(speed: SpeedOptions, *modules) -> None:
    """Options that act on modules already on their device, and on the process."""
    import torch

    if speed.threads:
        torch.set_num_threads(speed.threads)  # process-wide, as torch has it
    for module in modules:
        if module is None:
            continue
        if speed.channels_last:
            module.to(memory_format=torch.channels_last)
        if speed.fuse_qkv and hasattr(module, "fuse_qkv_projections"):
            module.fuse_qkv_projections()


def quantize_decoder_layers(speed: SpeedOptions, layers) -> None:
    """int8 weights for every Linear in `layers`, where the preset asks for it and the model runs
    on a CPU: PyTorch's dynamic quantization, which stores each weight as int8 with one scale
    and quantizes the activations on the fly at every call. A MusicGen token is a
    batch-of-two product through every weight, bound by how fast the weights are read, so a
    quarter of the bytes is most of the win (bench/results/). torch.ao.quantization is
    deprecated in favour of torchao but still in the torch pinned here; torchao's CPU int8 needs
    torch.compile to be fast, which a laptop's first clip would wait minutes for."""
    if not uses_cpu_int8(speed):
        return
    import warnings

    import torch

    with warnings.catch_warnings():  # the deprecation notices, once per load, in every log
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
        torch.ao.quantization.quantize_dynamic(layers, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def compile_pipeline(speed: SpeedOptions, denoiser, vae) -> None:
    """torch.compile a pipeline's denoiser in place and its VAE's decode, where the preset asks
    for it and the device is a GPU. Compiling is lazy: it happens at the first call."""
    if not uses_compile(speed):
        return
    import torch

    use_compile_cache()
    denoiser.compile(fullgraph=False)  # in place: the module stays itself, so LoRA still finds its layers
    vae.decode = torch.compile(vae.decode, fullgraph=False)


def compile_cache_dir() -> Path:
    """Where torch.compile keeps what it compiled: ATELIER_COMPILE_CACHE, else under ATELIER_HOME
    (on Modal the weights Volume, whose background commits keep it for the next container)."""
    return Path(os.environ.get("ATELIER_COMPILE_CACHE") or atelier_home() / "compile-cache")


def use_compile_cache() -> None:
    """Point inductor's and Triton's on-disk caches at compile_cache_dir(), unless the process
    was started with its own. They are read when the first compile runs, so this comes first."""
    root = compile_cache_dir()
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(root / "inductor"))
    os.environ.setdefault("TRITON_CACHE_DIR", str(root / "triton"))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")

"""Where a model runs, and in which precision.

On Modal the GPU class's image sets ATELIER_DEVICE=cuda: memory snapshots load weights
before any GPU is attached (`snap=True`), so "is CUDA available?" would say no at load
time. Weights are loaded in the target precision on the CPU, then moved in `snap=False`.
"""

from __future__ import annotations

import os


def target_device() -> str:
    import torch

    return os.environ.get("ATELIER_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")


def target_dtype(gpu_dtype: str = "float16"):
    """Half precision on a GPU; float32 on a CPU, where half precision is slow or unsupported."""
    import torch

    return getattr(torch, gpu_dtype) if target_device() == "cuda" else torch.float32

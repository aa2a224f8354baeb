"""Where a model runs, and in which precision.

On Modal the GPU class's image sets ATELIER_DEVICE=cuda: CPU memory snapshots load weights
before any GPU is attached (`snap=True`), so "is CUDA available?" would say no at load
time. Weights are loaded in the target precision on the CPU, then moved in `snap=False`.
Where the class also takes GPU memory snapshots (ATELIER_GPU_SNAPSHOT=1, set by app.py with
Modal's `enable_gpu_snapshot`), the GPU is attached while the snapshot is taken, so the model
classes move the weights there (and compile and warm up) before it: a restored container starts
with them on the GPU.
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


def gpu_snapshots() -> bool:
    """Whether this container's memory snapshot also keeps GPU memory (see above)."""
    return os.environ.get("ATELIER_GPU_SNAPSHOT") == "1"

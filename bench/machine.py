"""What the benchmarks say about the machine they ran on, in their tables' Device line."""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                    platform.processor())


def device_name() -> str:
    """The GPU's name where there is one, else the CPU's and its core count."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{cpu_name()}, {os.cpu_count()} cores"


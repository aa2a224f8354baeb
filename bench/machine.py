"""What the benchmarks say about the machine they ran on, in their tables' Device line, and
where their tables go."""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


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


def device_kind() -> str:
    """"cuda" or "cpu": the suffix of a table whose device decides its numbers."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def write_table(table: str, out: Path) -> None:
    """Print the markdown table, and keep it in `out` (usually under RESULTS)."""
    print("\n" + table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    print(f"written to {out}")

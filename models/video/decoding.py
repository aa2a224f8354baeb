"""The VAE's decode, followed as progress: one step per run of its decoder.

A pipeline decodes its latents inside its own call, after the last denoising step; on a long clip
that is a good share of the time. The VAE runs its decoder once per chunk of frames
(models/video/families.py sets the chunks and counts them), so hooks on the decoder module say
when each chunk starts and ends, without touching the pipeline's code: the call stays the plain
library call, and the progress bar moves on to "decoding 0 of N" as the decode begins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from models.common.progress import Report

STAGE = "decoding"


@contextmanager
def followed(decoder, total: int, report: Report) -> Iterator[None]:
    """While inside, each run of `decoder` (a torch module) is reported: 0 of `total` as the
    first starts, then one more as each ends."""
    done = [0]

    def before(module, args) -> None:
        if done[0] == 0:
            report(0, total, STAGE)

    def after(module, args, output) -> None:
        done[0] += 1
        report(min(done[0], total), total, STAGE)

    handles = [decoder.register_forward_pre_hook(before), decoder.register_forward_hook(after)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()

"""HED soft edges: the network ControlNet 1.1 uses for its soft-edge annotator, and running it.

The architecture is lllyasviel's Apache-2.0 reimplementation of HED (five VGG-style stages, each
with a one-channel side output; the edge map is the sigmoid of their mean), written here from
its description so that `ControlNetHED.pth` (lllyasviel/Annotators) loads into it by name. The
widths are a parameter only so that tests can build a tiny one (models/random_weights/tiny_guides.py).
Imports torch: model side only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS_FILE = "ControlNetHED.pth"
CONFIG_FILE = "hed.json"  # only beside random-weight copies: the real file has the default widths
WIDTHS = (64, 128, 256, 512, 512)
LAYERS = (2, 2, 3, 3, 3)


class _Stage(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, layers: int):
        super().__init__()
        self.convs = nn.Sequential(*[nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1)
                                     for i in range(layers)])
        self.projection = nn.Conv2d(out_channels, 1, 1)

    def forward(self, x: torch.Tensor, down: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if down:
            x = nn.functional.max_pool2d(x, 2, 2)
        for conv in self.convs:
            x = nn.functional.relu(conv(x))
        return x, self.projection(x)


class ControlNetHED(nn.Module):
    def __init__(self, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))  # the mean colour, learned (pixels in 0..255)
        ins = (3, *widths[:-1])
        for i, (c_in, c_out, layers) in enumerate(zip(ins, widths, LAYERS, strict=True)):
            setattr(self, f"block{i + 1}", _Stage(c_in, c_out, layers))

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        h, sides = pixels - self.norm, []
        for i in range(5):
            h, side = getattr(self, f"block{i + 1}")(h, down=i > 0)
            sides.append(side)
        return sides


def load(folder: Path) -> ControlNetHED:
    config = folder / CONFIG_FILE
    widths = tuple(json.loads(config.read_text())["widths"]) if config.exists() else WIDTHS
    net = ControlNetHED(widths)
    # weights_only: a plain state dict, read without running any pickled code
    net.load_state_dict(torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return net.eval()


def save(net: ControlNetHED, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), folder / WEIGHTS_FILE)
    widths = [getattr(net, f"block{i + 1}").projection.in_channels for i in range(5)]
    if tuple(widths) != WIDTHS:
        (folder / CONFIG_FILE).write_text(json.dumps({"widths": widths}))


@torch.inference_mode()
def soft_edges(net: ControlNetHED, rgb: np.ndarray) -> np.ndarray:
    """An RGB picture (H×W×3 uint8) → soft edges (H×W uint8, white edges on black)."""
    import cv2

    height, width = rgb.shape[:2]
    pixels = torch.from_numpy(rgb.copy()).float().permute(2, 0, 1)[None]
    pixels = pixels.to(next(net.parameters()).device, next(net.parameters()).dtype)
    sides = [side[0, 0].float().cpu().numpy() for side in net(pixels)]
    sides = [cv2.resize(side, (width, height), interpolation=cv2.INTER_LINEAR) for side in sides]
    edges = 1 / (1 + np.exp(-np.mean(np.stack(sides, axis=2), axis=2)))
    return (edges * 255.0).clip(0, 255).astype(np.uint8)

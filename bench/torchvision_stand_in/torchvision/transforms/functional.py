"""What the DreamBooth scripts and transformers' image_utils import from torchvision.transforms.functional."""

import numpy as np
import torch


def crop(image, top: int, left: int, height: int, width: int):
    return image.crop((left, top, left + width, top + height))


def pil_to_tensor(image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()

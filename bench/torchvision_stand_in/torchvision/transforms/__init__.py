"""The transforms diffusers' DreamBooth scripts use, on PIL images, as torchvision defines them."""

from __future__ import annotations

import enum
import random

import numpy as np
import torch
from PIL import Image

from torchvision.transforms import functional  # noqa: F401  (the SD3 script imports its `crop`)


class InterpolationMode(enum.Enum):
    NEAREST = Image.NEAREST
    NEAREST_EXACT = -1  # named by transformers' image_utils at import; the scripts never use it
    BILINEAR = Image.BILINEAR
    BICUBIC = Image.BICUBIC
    BOX = Image.BOX
    HAMMING = Image.HAMMING
    LANCZOS = Image.LANCZOS


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, value):
        for transform in self.transforms:
            value = transform(value)
        return value


class Resize:
    """The shorter side to `size`, the aspect ratio kept."""

    def __init__(self, size: int, interpolation: InterpolationMode = InterpolationMode.BILINEAR):
        self.size, self.interpolation = size, interpolation

    def __call__(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        scale = self.size / min(width, height)
        return image.resize((round(width * scale), round(height * scale)), self.interpolation.value)


class CenterCrop:
    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        left, top = round((width - self.size) / 2), round((height - self.size) / 2)
        return image.crop((left, top, left + self.size, top + self.size))


class RandomCrop(CenterCrop):
    @staticmethod
    def get_params(image: Image.Image, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
        width, height = image.size
        h, w = output_size
        return random.randint(0, height - h), random.randint(0, width - w), h, w

    def __call__(self, image: Image.Image) -> Image.Image:
        top, left, h, w = self.get_params(image, (self.size, self.size))
        return image.crop((left, top, left + w, top + h))


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, image: Image.Image) -> Image.Image:
        return image.transpose(Image.FLIP_LEFT_RIGHT) if random.random() < self.p else image


class ToTensor:
    def __call__(self, image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean[0], std[0]

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        return (tensor - self.mean) / self.std

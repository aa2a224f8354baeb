"""A tiny random-weight twin of the Stable Diffusion safety checker (models/image/safety.py), for
the tiny presets and the tests: a TEST DOUBLE.

Its CLIP vision tower is random (2 layers, 32 wide, 32 px input), so what it "sees" means
nothing. To make it flag at will, all of its concept embeddings are set to its own embedding of
one picture, `flagged_picture()` (a magenta and green checkerboard), and every concept's
threshold to FLAG_THRESHOLD: it flags an image whose embedding's cosine with that picture's
passes the threshold, which the picture itself does (cosine 1), and which, measured when this
was written, 36 others did not: uniform and Gaussian noise (0.89 at most) and plain colours
(0.79 at most). The three "special care"
thresholds are set above any cosine, so they never add to a score. A test makes an image
flagged by generating the picture itself (image to image at strength 0 returns its input).
"""

from __future__ import annotations

from pathlib import Path

from models.random_weights.parts import SEED

FLAG_THRESHOLD = 0.999
SIZE = 32  # the twin's input, in pixels


def flagged_picture(size: int = 64):
    """The picture the twin flags: an 8-pixel magenta and green checkerboard."""
    import numpy as np
    from PIL import Image

    squares = (np.indices((size, size)) // 8).sum(axis=0) % 2
    colours = np.array([[255, 0, 255], [0, 200, 0]], dtype=np.uint8)
    return Image.fromarray(colours[squares])


def build_tiny_safety_checker(out_dir: Path) -> None:
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessorPil

    torch.manual_seed(SEED)
    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
                     "vocab_size": 1000, "max_position_embeddings": 77, "bos_token_id": 998, "eos_token_id": 999},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
                       "image_size": SIZE, "patch_size": 4},
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    processor = CLIPImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    pixels = processor(images=[flagged_picture()], return_tensors="pt").pixel_values
    with torch.no_grad():
        target = torch.nn.functional.normalize(checker.visual_projection(checker.vision_model(pixels)[1]), dim=-1)
        checker.concept_embeds.copy_(target.expand_as(checker.concept_embeds))
        checker.concept_embeds_weights.fill_(FLAG_THRESHOLD)
        checker.special_care_embeds_weights.fill_(2.0)  # a cosine never passes 2
    checker.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)

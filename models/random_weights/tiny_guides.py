"""Guides with random weights, built offline: ControlNets, IP-Adapters and annotator models for the
tiny presets (a few hundred KB each, for tests), and real-size twins of SD 2.1's ControlNet and of
the annotators (for the sd-turbo twin's benchmark).

Each is written as the real one is published (`save_pretrained` folders; the IP-Adapter as one
safetensors file with its image encoder beside it; HED as ControlNetHED.pth), so the loading code
is the one real weights go through (models/image/guided.py, annotators.py). A freshly initialised
ControlNet adds zeros (its output convolutions start at zero) and so changes nothing: the tiny
ones get small random outputs instead, so a control visibly moves a tiny image.
"""

from __future__ import annotations

from pathlib import Path

from models.random_weights.parts import SEED


def _nonzero(module, std: float = 0.02) -> None:
    """Draw a ControlNet's zero-initialised output layers (its "zero convolutions") at random."""
    import torch

    for name, param in module.named_parameters():
        if param.abs().sum() == 0 and ("controlnet" in name or "conv_out" in name):
            with torch.no_grad():
                param.normal_(0.0, std)


# --- ControlNets ------------------------------------------------------------------------------


def build_tiny_controlnet(out_dir: Path) -> None:
    """A ControlNetModel the shape of the tiny UNet's encoder (its VAE halves the size: one downsampling
    in the conditioning embedding)."""
    import torch
    from diffusers import ControlNetModel

    from models.random_weights.tiny_image import tiny_unet

    torch.manual_seed(SEED)
    net = ControlNetModel.from_unet(tiny_unet(), conditioning_embedding_out_channels=(16, 32))
    _nonzero(net)
    net.save_pretrained(out_dir)


def build_tiny_sd3_controlnet(out_dir: Path) -> None:
    """An SD3ControlNetModel for tiny-sd3, configured as SD3.5 Large's (it borrows the transformer's
    position embedding, and takes the pooled text projection)."""
    import torch
    from diffusers import SD3ControlNetModel

    torch.manual_seed(SEED)
    net = SD3ControlNetModel(
        sample_size=32, patch_size=2, in_channels=16, out_channels=16, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=64,
        pos_embed_max_size=64, pos_embed_type=None, use_pos_embed=False, force_zeros_for_pooled_projection=False,
        qk_norm="rms_norm",
    )
    _nonzero(net)
    net.save_pretrained(out_dir)


def sd21_controlnet():
    """ControlNet 1.x for Stable Diffusion 2.1: the SD 2.1 UNet's encoder and middle (as thibaud's
    controlnet-sd21-*-diffusers configs)."""
    from diffusers import ControlNetModel

    return ControlNetModel(
        in_channels=4,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        cross_attention_dim=1024,
        attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True,
        flip_sin_to_cos=True,
        freq_shift=0,
        norm_num_groups=32,
        conditioning_embedding_out_channels=(16, 32, 96, 256),
    )


def build_sd21_controlnet_twin(out_dir: Path) -> None:
    import torch

    from models.random_weights.twins import made

    torch.manual_seed(SEED)
    made(sd21_controlnet).save_pretrained(out_dir)


# --- IP-Adapters ------------------------------------------------------------------------------


def build_tiny_ip_adapter(out_dir: Path) -> None:
    """h94's layout for the tiny UNet: `ip-adapter.safetensors` (an image projection to 4 tokens, and
    key/value projections for each cross-attention layer) and `image_encoder/` (a tiny CLIP vision model)."""
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from models.random_weights.tiny_image import tiny_unet

    torch.manual_seed(SEED)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32,
        patch_size=8, projection_dim=32))
    encoder.save_pretrained(out_dir / "image_encoder")
    unet = tiny_unet()
    cross, blocks = unet.config.cross_attention_dim, unet.config.block_out_channels
    tensors = {
        "image_proj.proj.weight": torch.randn(4 * cross, 32) * 0.1,
        "image_proj.proj.bias": torch.zeros(4 * cross),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key_id = 1  # as h94's files count: every attention layer, the cross-attention ones odd
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        part, index = name.split(".")[0], int(name.split(".")[1]) if not name.startswith("mid") else -1
        hidden = blocks[-1] if part == "mid_block" else (blocks[index] if part == "down_blocks" else blocks[::-1][index])
        for side in ("k", "v"):
            tensors[f"ip_adapter.{key_id}.to_{side}_ip.weight"] = torch.randn(hidden, cross) * 0.2
        key_id += 2
    save_file(tensors, out_dir / "ip-adapter.safetensors")


def build_tiny_sd3_ip_adapter(out_dir: Path) -> None:
    """InstantX's SD3.5 layout for tiny-sd3: a time-aware image projection (diffusers' names), joint
    attention processors for each transformer block, and a tiny SigLIP vision model in image_encoder/."""
    import torch
    from diffusers.models.attention_processor import SD3IPAdapterJointAttnProcessor2_0
    from diffusers.models.embeddings import IPAdapterTimeImageProjection
    from safetensors.torch import save_file
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(SEED)
    SiglipVisionModel(SiglipVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                         num_attention_heads=4, image_size=32, patch_size=8)
                      ).save_pretrained(out_dir / "image_encoder")
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out_dir / "image_encoder")
    inner, hidden = 32, 64  # the tiny MMDiT's width; the projection's (its loader assumes 64-wide heads)
    projection = IPAdapterTimeImageProjection(embed_dim=32, output_dim=inner, hidden_dim=hidden, heads=hidden // 64,
                                              num_queries=4, timestep_in_dim=32)
    tensors = {f"image_proj.{k}": v for k, v in projection.state_dict().items()}
    for block in range(2):  # tiny_sd3_transformer's num_layers
        processor = SD3IPAdapterJointAttnProcessor2_0(hidden_size=inner, ip_hidden_states_dim=inner, head_dim=8,
                                                      timesteps_emb_dim=hidden)
        for k, v in processor.state_dict().items():
            tensors[f"ip_adapter.{block}.{k}"] = v if "norm" in k else v + torch.randn_like(v) * 0.2
    save_file({k: v.contiguous() for k, v in tensors.items()}, out_dir / "ip-adapter.safetensors")


# --- annotator models -------------------------------------------------------------------------


def _depth_model(backbone: dict, head: dict, size: int):
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    layers = backbone["num_hidden_layers"]
    stages = [f"stage{i}" for i in (layers // 4, layers // 2, 3 * layers // 4, layers)]
    config = DepthAnythingConfig(
        backbone_config=Dinov2Config(patch_size=14, image_size=size, out_features=stages, reshape_hidden_states=False,
                                     **backbone),
        patch_size=14, reassemble_hidden_size=backbone["hidden_size"], depth_estimation_type="relative", **head)
    return DepthAnythingForDepthEstimation(config)


def depth_twin():
    """Depth Anything V2 Small's architecture (DINOv2-S backbone, DPT head)."""
    return _depth_model(dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536),
                        dict(neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64, head_hidden_size=32), 518)


def _save_depth(out_dir: Path, model, size: int) -> None:
    from transformers import DPTImageProcessor

    model.save_pretrained(out_dir)
    DPTImageProcessor(do_resize=True, size={"height": size, "width": size}, keep_aspect_ratio=True,
                      ensure_multiple_of=14, resample=3, do_rescale=True, do_normalize=True,
                      image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(out_dir)


def build_tiny_depth(out_dir: Path) -> None:
    import torch

    torch.manual_seed(SEED)
    _save_depth(out_dir, _depth_model(dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                           intermediate_size=37),
                                      dict(neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                                           head_hidden_size=8), 56), size=56)


def build_depth_twin(out_dir: Path) -> None:
    import torch

    torch.manual_seed(SEED)
    _save_depth(out_dir, depth_twin(), size=518)


def _pose_model(width: int, layers: int, heads: int, size: tuple[int, int]):
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation

    backbone = VitPoseBackboneConfig(image_size=list(size), patch_size=[16, 16], hidden_size=width,
                                     num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=4 * width,
                                     out_indices=[layers])
    return VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, use_simple_decoder=True, num_labels=17))


def pose_twin():
    """ViTPose-B's architecture (ViT-B/16 at 256×192, a simple decoder to 17 heatmaps)."""
    return _pose_model(width=768, layers=12, heads=12, size=(256, 192))


def _save_pose(out_dir: Path, model, size: tuple[int, int]) -> None:
    from transformers import VitPoseImageProcessor

    model.save_pretrained(out_dir)
    VitPoseImageProcessor(size={"height": size[0], "width": size[1]}).save_pretrained(out_dir)


def build_tiny_pose(out_dir: Path) -> None:
    import torch

    torch.manual_seed(SEED)
    _save_pose(out_dir, _pose_model(width=32, layers=2, heads=2, size=(64, 48)), (64, 48))


def build_pose_twin(out_dir: Path) -> None:
    import torch

    torch.manual_seed(SEED)
    _save_pose(out_dir, pose_twin(), (256, 192))


def build_tiny_hed(out_dir: Path) -> None:
    import torch

    from models.image import hed

    torch.manual_seed(SEED)
    hed.save(hed.ControlNetHED(widths=(4, 8, 8, 8, 8)), out_dir)


def build_hed_twin(out_dir: Path) -> None:
    import torch

    from models.image import hed

    torch.manual_seed(SEED)
    hed.save(hed.ControlNetHED(), out_dir)

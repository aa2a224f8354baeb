"""The guide models' architectures at their real sizes: every ControlNet, IP-Adapter, image encoder and
annotator models/image/guides.py names, as factories.

Called under `torch.device("meta")` they give the modules without allocating a byte: that is how
tests/models/test_twins.py checks the parameter counts in guides.py's PARAMS table (what the doctor's
GPU arithmetic adds for the guides a preset holds at once), as it checks the twins' against
REAL_PARAMS. The SD 2.1 ControlNet and the annotators are also built with random weights
(tiny_guides.py), for the sd-turbo twin's benchmark.

Where the sizes come from: the published `config.json` files' main dimensions of the repos guides.py
names, read from public copies, not checked against the hub from here (no network). Union ControlNets:
the base model's encoder with the union layers (xinsir's ProMax for SDXL; InstantX's FLUX union: 5
double- and 10 single-stream blocks). SD3.5 Large's ControlNets: 19 joint blocks at the MMDiT's width
(38 heads of 64). The IP-Adapters: their image projection and a key/value pair for every attention
layer they attach to, as diffusers' loaders build them (h94's SDXL adapter on the UNet's 70
cross-attention layers; InstantX's SD3.5 time-aware resampler on 38 joint blocks; XLabs' FLUX adapter
on 19 double-stream blocks).
"""

from __future__ import annotations

from collections.abc import Callable

from models.random_weights.tiny_guides import depth_twin, pose_twin, sd21_controlnet


def sdxl_union_controlnet():
    from diffusers import ControlNetUnionModel

    return ControlNetUnionModel(
        block_out_channels=(320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048, attention_head_dim=(5, 10, 20),
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816)


def sd35_large_controlnet():
    from diffusers import SD3ControlNetModel

    return SD3ControlNetModel(num_layers=19, attention_head_dim=64, num_attention_heads=38, joint_attention_dim=4096,
                              caption_projection_dim=2432, pooled_projection_dim=2048, pos_embed_type=None,
                              use_pos_embed=False)


def flux_union_controlnet():
    from diffusers import FluxControlNetModel

    return FluxControlNetModel(num_layers=5, num_single_layers=10, num_mode=10)


def clip_vit_h_encoder():
    """h94's image encoder for the SDXL ViT-H adapter (OpenCLIP ViT-H/14's vision tower)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16, patch_size=14,
        image_size=224, projection_dim=1024))


def siglip_so400m_encoder():
    from transformers import SiglipVisionConfig, SiglipVisionModel

    return SiglipVisionModel(SiglipVisionConfig(
        hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, patch_size=14,
        image_size=384))


def clip_vit_l_encoder():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, patch_size=14,
        image_size=224, projection_dim=768))


def sdxl_ip_adapter():
    """The image projection (ViT-H's 1024 → 4 tokens of 2048) and a key/value pair per cross-attention
    layer of the SDXL UNet: 10 at width 640, 60 at 1280."""
    from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0
    from diffusers.models.embeddings import ImageProjection
    from torch import nn

    layers = [IPAdapterAttnProcessor2_0(hidden_size=w, cross_attention_dim=2048) for w in [640] * 10 + [1280] * 60]
    return nn.ModuleList([ImageProjection(image_embed_dim=1024, cross_attention_dim=2048, num_image_text_embeds=4),
                          *layers])


def sd35_ip_adapter():
    """InstantX's time-aware resampler (SigLIP's 1152 → 64 tokens of 2432) and a processor per joint block."""
    from diffusers.models.attention_processor import SD3IPAdapterJointAttnProcessor2_0
    from diffusers.models.embeddings import IPAdapterTimeImageProjection
    from torch import nn

    projection = IPAdapterTimeImageProjection(embed_dim=1152, output_dim=2432, hidden_dim=1280, heads=20,
                                              num_queries=64, timestep_in_dim=320)
    layers = [SD3IPAdapterJointAttnProcessor2_0(hidden_size=2432, ip_hidden_states_dim=2432, head_dim=64,
                                                timesteps_emb_dim=1280) for _ in range(38)]
    return nn.ModuleList([projection, *layers])


def flux_ip_adapter():
    """XLabs' projection (CLIP-L's 768 → 4 tokens of 4096) and a key/value pair per double-stream block."""
    from diffusers.models.embeddings import ImageProjection
    from diffusers.models.transformers.transformer_flux import FluxIPAdapterAttnProcessor
    from torch import nn

    layers = [FluxIPAdapterAttnProcessor(hidden_size=3072, cross_attention_dim=4096) for _ in range(19)]
    return nn.ModuleList([ImageProjection(image_embed_dim=768, cross_attention_dim=4096, num_image_text_embeds=4),
                          *layers])


def hed():
    from models.image import hed as hed_model

    return hed_model.ControlNetHED()


# By the names guides.py's PARAMS table uses.
GUIDE_MODELS: dict[str, Callable] = {
    "controlnet-sd21": sd21_controlnet,
    "controlnet-union-sdxl-promax": sdxl_union_controlnet,
    "controlnet-sd3.5-large": sd35_large_controlnet,
    "controlnet-union-flux": flux_union_controlnet,
    "ip-adapter-sdxl-vit-h": sdxl_ip_adapter,
    "ip-adapter-sd3.5-large": sd35_ip_adapter,
    "ip-adapter-flux": flux_ip_adapter,
    "clip-vit-h-encoder": clip_vit_h_encoder,
    "siglip-so400m-encoder": siglip_so400m_encoder,
    "clip-vit-l-encoder": clip_vit_l_encoder,
    "depth-anything-v2-small": depth_twin,
    "vitpose-base": pose_twin,
    "hed": hed,
}


def meta_count(name: str) -> int:
    """The parameters of a guide model, counted on the meta device."""
    import torch

    with torch.device("meta"):
        module = GUIDE_MODELS[name]()
    return sum(p.numel() for p in module.parameters())

"""What differs between video architectures (models/video/families.py), checked against the
libraries' own behaviour: single-file checkpoints read over a folder, the VAE's decode chunks as
the decoders actually run them, the latent layouts previews read; and a video model that fails
leaves the other kinds serving."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import torch

from models.common.weights import BuiltWeights
from models.presets import VIDEO_PRESETS
from models.requests import ImageRequest, VideoRequest
from models.video import families

TINY = VIDEO_PRESETS["tiny-video"]


def test_a_single_file_checkpoint_replaces_the_folders_components():
    """ltx-video's distilled transformer and VAE come from one .safetensors file under LTX-Video's
    own key names; here the tiny transformer, written that way from another seed."""
    from models.random_weights.parts import SEED
    from models.random_weights.tiny_video import TINY_CHECKPOINT_FILE, tiny_ltx_transformer

    checkpoint = BuiltWeights("models.random_weights.tiny_video:build_tiny_video_checkpoint", "tiny-video-checkpoint")
    spec = replace(TINY, checkpoint=checkpoint, checkpoint_file=TINY_CHECKPOINT_FILE, checkpoint_parts=("transformer",))
    folder_only = families.load_pipeline(TINY, torch.float32)
    with_file = families.load_pipeline(spec, torch.float32)
    assert type(with_file).__name__ == "LTXPipeline"
    torch.manual_seed(SEED + 1)  # the checkpoint's draw, again
    written = tiny_ltx_transformer().state_dict()
    loaded = with_file.transformer.state_dict()
    assert loaded.keys() == written.keys() and all(torch.equal(loaded[k], written[k]) for k in written)
    assert not torch.equal(loaded["proj_in.weight"], folder_only.transformer.state_dict()["proj_in.weight"])
    # What the file doesn't hold still comes from the folder.
    assert torch.equal(with_file.vae.decoder.conv_out.conv.weight, folder_only.vae.decoder.conv_out.conv.weight)


@pytest.mark.parametrize("frames,calls", [(9, 1), (17, 3), (33, 5)])
def test_ltx_decode_chunks_are_counted_as_the_vae_runs_its_decoder(frames, calls):
    from models.random_weights.tiny_video import tiny_ltx_vae

    vae = tiny_ltx_vae().eval()
    job = VideoRequest(prompt="x", frames=frames).resolve("tiny-video")
    families.decode_in_chunks(TINY, vae, job)
    latent = families.latent_shape(TINY, job)
    runs = []
    vae.decoder.register_forward_hook(lambda *_: runs.append(1))
    with torch.no_grad():
        out = vae.decode(torch.randn(1, 128, *latent), torch.tensor([0.05])).sample
    assert out.shape[2] == frames and len(runs) == families.decoder_calls(TINY, vae, latent) == calls


def test_ltx_chunks_follow_the_presets_budget():
    ltx = VIDEO_PRESETS["ltx-video"]
    assert families.chunk_frames(ltx, 768, 512) == 152  # the default 5 s clip (121 frames) decodes whole
    assert families.decoded_at_once(ltx, 768, 512, 121) == pytest.approx(768 * 512 * 121 / 1e6)
    assert families.chunk_frames(ltx, 1280, 720) == 64  # 10.7 s at 1280×720: chunks of 65 frames
    assert families.decoded_at_once(ltx, 1280, 720, 257) <= ltx.decode_megapixel_frames


def test_mochi_decodes_in_tiles_as_counted():
    """Mochi's VAE in miniature (the decoder's real layout, a few channels), tiled as mochi-1 is,
    then with smaller tiles so that a small clip crosses their seams cheaply."""
    from diffusers import AutoencoderKLMochi

    mochi = VIDEO_PRESETS["mochi-1"]
    vae = AutoencoderKLMochi(encoder_block_out_channels=(32, 32, 32, 32), decoder_block_out_channels=(32, 32, 32, 32),
                             layers_per_block=(1, 1, 1, 1, 1)).eval()
    job = VideoRequest(prompt="x", frames=7).resolve("mochi-1")
    families.decode_in_chunks(mochi, vae, job)
    assert vae.use_tiling and families.decoder_calls(mochi, vae, families.latent_shape(mochi, job)) == 3 * 5
    vae.tile_sample_min_height = vae.tile_sample_min_width = 64
    vae.tile_sample_stride_height = vae.tile_sample_stride_width = 48
    latent = (2, 12, 14)  # 96×112 px: two rows and three columns of tiles
    runs = []
    vae.decoder.register_forward_hook(lambda *_: runs.append(1))
    with torch.no_grad():
        out = vae.decode(torch.randn(1, 12, *latent)).sample
    assert out.shape[2:] == (7, 96, 112)
    assert len(runs) == families.decoder_calls(mochi, vae, latent) == 2 * 3


def test_previews_read_the_middle_latent_frame_of_each_layout():
    ltx_job = VideoRequest(prompt="x", frames=17).resolve("tiny-video")  # 3 × 2 × 3 latents
    packed = torch.arange(3 * 2 * 3 * 128, dtype=torch.float32).reshape(1, 3 * 2 * 3, 128)  # LTX: tokens × channels
    middle = families.middle_frame(TINY, packed, ltx_job)
    assert middle.shape == (128, 2, 3) and middle[0, 0, 0] == 1 * 6 * 128  # frame 1's first token, channel 0
    mochi = VIDEO_PRESETS["mochi-1"]
    mochi_job = VideoRequest(prompt="x", frames=13).resolve("mochi-1")  # 3 latent frames
    grid = torch.zeros(1, 12, 3, 60, 106)
    grid[0, :, 1] = 1
    assert torch.equal(families.middle_frame(mochi, grid, mochi_job), torch.ones(12, 60, 106))


def test_a_video_model_that_fails_leaves_the_other_kinds_serving(model_classes, monkeypatch):
    from models.presets import PRESETS
    from ui.errors import GenerationError
    from ui.generation import LocalBackend

    broken = replace(TINY, name="broken-video", weights=BuiltWeights("models.random_weights.nowhere:build", "broken"))
    monkeypatch.setitem(PRESETS["video"], "broken-video", broken)
    backend = LocalBackend(model_classes, {"image": "tiny", "music": "tiny", "video": "broken-video"})

    async def events(request):
        return [e async for e in backend.generate(backend.resolve(request))]

    with pytest.raises(GenerationError, match="^The broken-video video model failed: ModuleNotFoundError"):
        asyncio.run(events(VideoRequest(prompt="waves")))
    assert asyncio.run(events(ImageRequest(prompt="a fox")))[-1]["type"] == "result"
    assert {m["kind"]: m["state"] for m in backend.health()["models"]} == {"video": "failed", "image": "ready"}

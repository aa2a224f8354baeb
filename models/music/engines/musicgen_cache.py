"""MusicGen's key/value cache in transformers 5.23: one prefill per window, and a static cache.

Two facts about `MusicgenForConditionalGeneration.generate` (transformers 5.23, read in its source):

- It prefills twice. generate() runs the decoder over the window's opening codes (`_prefill`) and
  keeps the result where nothing reads it; then `_sample` prefills again and decodes from its own.
  With the default cache the first prefill is only wasted work (a whole audio prompt's worth in a
  continuation window); with a cache handed in, both prefills write into it, so the opening codes
  are cached twice and every later token attends to a sequence the model never saw.
- It never builds the cache `cache_implementation` names: the decoder makes a growing
  `DynamicCache` whenever it is handed none, which concatenates every layer's keys and values
  once per token (aten::cat, a fifth of a CPU clip's time in bench/results/music-speed-cpu.md).

So the engine loads MusicGen through `single_prefill(...)`, and for a static cache hands generate()
one, sized for the window (`static_cache`). MusicGen Melody's generate() prefills once, but fails
to build a static cache (`_prepare_static_cache` looks for encoder outputs it has none of), so
MusicPreset refuses `static_cache` on melody presets.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)
def single_prefill(model_class):
    """`model_class` (MusicgenForConditionalGeneration) with generate()'s unread prefill skipped.

    generate() calls `_prefill` before `_sample` and passes the outputs on as `prefill_outputs`,
    which lands in `_sample`'s model kwargs, unread, while `_sample` calls `_prefill` itself.
    So a call whose model kwargs lack `prefill_outputs` is generate()'s own, and is skipped; the
    prefill `_sample` runs is the one that was always decoded from, so the tokens are the same."""

    class SinglePrefill(model_class):
        def _prefill(self, input_ids, generation_config, model_kwargs, is_first_iteration=True):
            if "prefill_outputs" not in model_kwargs:
                return None
            return super()._prefill(input_ids, generation_config, model_kwargs, is_first_iteration)

    SinglePrefill.__name__ = SinglePrefill.__qualname__ = model_class.__name__
    return SinglePrefill


def static_cache(model, opening: int, steps: int):
    """A cache for one window of `model`'s decoding: the self-attention keys and values in
    tensors allocated once, at the first token, for `opening` codes (the start token, and an
    audio prompt's frames) and the `steps` - 1 sampled codes fed back (the last one never is);
    the cross-attention's (the prompt's text,
    written once) in transformers' usual growing cache. Every step then attends over the whole
    allocation with the unwritten positions masked off: the same sums, in another order."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache, StaticCache

    config = model.decoder.config
    return EncoderDecoderCache(StaticCache(config=config, max_cache_len=opening + steps - 1), DynamicCache(config=config))

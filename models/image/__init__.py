"""Images with Hugging Face diffusers: text to image, image to image, inpainting, LoRA adapters.

    generator.py    ImageGenerator, the model class app.py turns into ImageModel/LargeImageModel
    request.py      ImageRequest and ImageJob (the web side imports these)
    uploads.py      input images and masks: sniffed, limited, converted; their request fields
    previews.py     what an image looks like while it forms
    loras.py        the LoRA adapter library (listing is torch-free: the web side reads it)
    lora_cache.py   adapters applied to a loaded pipeline, one batch at a time
    guides.py       the guide library per family: ControlNets, IP-Adapters, annotators, their sizes
    guide_request.py  a request's controls, references, vary, upscale and parent (the web side imports it)
    guided.py       guides on a loaded pipeline: ControlNets (the least used unloaded), the IP-Adapter
    annotators.py   a mode's control picture from any picture (hed.py: the soft-edge model)
    tiles.py        upscaling in tiles

Only generator.py, lora_cache.py, guided.py, annotators.py and hed.py load models; the rest is safe
for the web side.
"""

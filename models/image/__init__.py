"""Images with Hugging Face diffusers: text to image, image to image, inpainting, LoRA adapters.

    generator.py    ImageGenerator, the model class app.py turns into ImageModel/LargeImageModel
    request.py      ImageRequest and ImageJob (the web side imports these)
    uploads.py      input images and masks: sniffed, limited, converted; their request fields
    previews.py     what an image looks like while it forms
    loras.py        the LoRA adapter library (listing is torch-free: the web side reads it)
    lora_cache.py   adapters applied to a loaded pipeline, one batch at a time

Only generator.py and lora_cache.py load models; the rest is safe for the web side.
"""

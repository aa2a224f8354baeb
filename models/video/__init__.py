"""Video clips with Hugging Face diffusers: text to video and image to video (LTX-Video, Mochi 1).

    generator.py   VideoGenerator, the model class app.py turns into VideoModel/LargeVideoModel
    request.py     VideoRequest and VideoJob, and the rules the models set on frames and sizes
                   (the web side imports these)
    families.py    what differs between the video architectures: pipelines, latents, decoding
    decoding.py    the VAE's decode in chunks, counted as progress
    previews.py    what a clip looks like while it forms: its middle frame from the latents
    encoding.py    frames to an MP4 (H.264, yuv420p, faststart) with its recipe, and a poster

Only generator.py, families.py and decoding.py load or run models; encoding.py needs PyAV;
request.py is safe for the web side.
"""

"""The model side: what runs on a GPU container (or in-process locally), by kind of work.

    presets.py        the preset table: which weights each name means, its defaults, its GPU
    requests.py       the kinds of work and their request/job schemas: `parse`, REQUESTS, JOBS
    common/           what every kind shares: errors, request fields and messages, progress
                      events, batching, devices, speed options, weights, recipes in files
    image/            images with diffusers: the model class, its request, uploads, previews, LoRAs
    music/            music with MusicGen: the model class, its request, audio, melodies, engines
    video/            video with diffusers (LTX-Video, Mochi 1): the model class, its request and
                      rules, decoding in chunks, previews, MP4 encoding
    training/         LoRA adapters trained on a few pictures: the trainer class, its request, the loop
    random_weights/   tiny models and real-size twins built offline; reached only through the
                      presets that name them (a BuiltWeights "module:function"), never imported
                      by a serving path

The web side (ui/) may import presets, requests, common.errors, common.events, common.fields,
common.messages, common.recipes, each kind's request (video.request too), uploads and melody modules,
image.loras (the library's listing), image.guides and image.guide_request (the guide library and a
request's guides), and training.families and training.cancel (which presets train; cancel flags): none
of them imports torch. Model libraries are imported inside the functions that
load models, so app.py, which the web container imports too, stays light.
"""

"""What every kind of work shares, on both sides of the wire.

    errors.py     every exception the model side raises on purpose (one place, as ui/errors.py)
    fields.py     the strict base of request schemas, prompt and seed fields, base64 uploads,
                  a job checked again where a model receives it
    messages.py   validation errors as sentences a person reads
    events.py     the kinds of event a model yields (progress, result), declared once, and their makers
    progress.py   generation as a stream of those events: reporting steps, the model thread
    batching.py   requests that can share one model call, run as one
    device.py     where a model runs, and in which precision
    speed.py      a preset's speed options, and applying them to a loaded model
    weights.py    where a preset's weights come from, and getting them into a folder
    recipes.py    the settings written inside PNG, WAV, MP3 and MP4 files, and read back
    signatures.py what a file of a kind no checker accepts is, named from its first bytes

Nothing here imports a modality package: image/, music/, video/ and the presets import from here.
"""

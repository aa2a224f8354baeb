"""Training LoRA adapters on a few pictures: the model side of "train your own adapter".

    request.py      TrainingRequest and TrainingJob: pictures, trigger, captions, preset, recipe
                    (the web side imports these, with families.py and cancel.py: no torch in them)
    families.py     which image families train, with which objective and target modules
    cancel.py       the cancel flag per run id: set by the web side, read between steps
    trainer.py      TrainingGenerator, the model class app.py turns into the `Trainer` GPU class
    session.py      one training as a stream of events: prepare, resume, train, finish
    cache.py        the latents and text embeddings, computed once (the encoders then leave the GPU)
    objectives.py   each family's noise, target and loss (DDPM for UNets, flow matching for MMDiTs)
    loop.py         the LoRA on the denoiser: one step, the optimizer, the state a checkpoint keeps
    run.py          a run's folder: cached encodings and checkpoints, so a restart resumes

A training's events (besides the usual progress/result shapes of models/common/progress.py):
progress with stage "drawing class pictures", "encoding class pictures" or "encoding pictures"
(done/total pictures), then "training" (done/total steps) with `loss`, `lr`, `eta_s`,
`resumed_from`, and now and then `estimate` {seconds, basis}, `checkpoint` (the step) and
`preview` {mime, data}; the result holds the final sample (a PNG whose recipe is the image
request that draws it again), up to four of the samples drawn (WebP; the record's `samples` says
at which steps) and a record with the adapter's entry. A cancelled training
raises models.common.errors.Cancelled.
"""

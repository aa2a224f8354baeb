"""A stand-in for torchvision, for bench/bench_train.py's baseline only (a test double, named so).

diffusers' DreamBooth example scripts import `torchvision.transforms` for five picture transforms
(resize, crop, flip, to tensor, normalise). The registry's torchvision wheels are CUDA builds that
can't load beside this project's CPU torch, so the bench runs the scripts with this package first
on their path: the same transforms on PIL and numpy, nothing else. It is never imported by Atelier.
"""

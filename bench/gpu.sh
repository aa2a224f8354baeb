#!/usr/bin/env bash
# The GPU half of bench_models, as one run on a GPU machine with no network: what the README's GPU
# rows came from. Stages in order of what matters most, each given what time is left before
# DEADLINE_S, so a run cut short still returns every way it finished (JSON after each way).
#
#   OUT=/tmp/gpu-results bash bench/gpu.sh                 # every stage: gap, musicgen, sdxl, flux
#   OUT=/tmp/gpu-results bash bench/gpu.sh gap musicgen    # only the stages named
#
# All of them take longer than one 10-minute command; name them across runs (bench/results/gpu-todo.md).
#
# The machine needs torch with CUDA; the other Python packages it lacks can come as wheels in
# .whl/ (installed into /tmp/site, first on PYTHONPATH). Twins are drawn on the GPU and saved in
# the preset's GPU dtype under ATELIER_HOME (about 7 GB for SDXL, 34 GB for FLUX).
# Render a fetched JSON here with: .venv/bin/python bench/bench_models.py --from-json F --out F.md
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-results}
DEADLINE_S=${DEADLINE_S:-570}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH=/tmp/site
fi
export ATELIER_HOME=${ATELIER_HOME:-/tmp/atelier-home} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, diffusers, transformers, modal; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__, 'modal', modal.__version__)" \
    | tee -a "$OUT/gpu.txt" || exit 1

left() { echo $((DEADLINE_S - SECONDS)); }
STAGES=${*:-gap musicgen sdxl flux}
stage() {  # name, then bench_models arguments; skipped when not asked for, or under a minute is left
    local name=$1
    shift
    [[ " $STAGES " == *" $name "* ]] || return 0
    if [ "$(left)" -lt 60 ]; then
        echo "== $name: skipped, $(left) s left" | tee -a "$OUT/log.txt"
        return
    fi
    echo "== $name ($(left) s left)" | tee -a "$OUT/log.txt"
    timeout "$(left)" python3 bench/bench_models.py --build-on-gpu --json "$OUT/$name.json" --out "$OUT/$name.md" "$@" \
        2>>"$OUT/log.txt"
}

# The gap (issue 25, item 1): Atelier's path, the plain call, and the plain call in a new thread, nothing else,
# so the three rows come first. SDXL-Turbo twin, 512², 1 step.
stage gap --presets sdxl-turbo-twin --steps 1 --repeats 10 --timeout 240
# MusicGen-small twin, a 10 s clip (target: ≥ 10× real time), with the static cache (real since 2026-12-05).
# One warm call: a clip took 32 s here.
stage musicgen --presets musicgen-small-twin --repeats 1 --timeout 120 --variants static-cache
# SDXL-Turbo twin, 512², 1 step (the issue's target: ≤ 120 ms warm on an H100): the switches.
stage sdxl --presets sdxl-turbo-twin --steps 1 --repeats 10 --timeout 240 --variants fuse-qkv,channels-last,fuse-qkv+compile
# FLUX.1-schnell twin, 1024², 4 steps (target ≤ 600 ms). 34 GB to draw, write and read: last.
stage flux --presets flux-schnell-twin --repeats 3 --timeout 300 --variants fuse-qkv
echo "== done in $SECONDS s" | tee -a "$OUT/log.txt"

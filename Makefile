# Two commands for a newcomer: `make studio` and `make test`. Both set up .venv first.
# PyTorch is installed on its own and pinned while the rest installs, so pip never swaps
# in a different (multi-GB CUDA) build.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
PRESET ?=
PORT   ?= 8000

.PHONY: setup studio test bench clean audiocraft-env system-deps

# What the whole test suite needs from the system, checked before anything slow starts:
# Debian's chromium (the browser tests; Playwright can't download browsers here), ffprobe (the
# video tests read MP4s and their recipes with it: Debian's ffmpeg), and what the audiocraft
# venv builds av 11 from (gcc, pkg-config, FFmpeg's headers). As root with apt they are
# installed; otherwise make stops at once with the one command to run.
CHROMIUM    := /usr/bin/chromium
SYSTEM_PKGS := chromium fonts-dejavu-core ffmpeg gcc pkg-config libavformat-dev libavcodec-dev libavdevice-dev \
               libavutil-dev libavfilter-dev libswscale-dev libswresample-dev

$(BIN)/atelier: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	echo "$(TORCH)" > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -e ".[model,web,dev]"
	touch $@

setup: $(BIN)/atelier

# audiocraft (the music engine of the audiocraft-* and tiny-audiocraft/tiny-audiogen presets)
# pins torch 2.1, so it gets a venv of its own (Python 3.11, as its Modal image), built from
# pyproject.toml's audiocraft group (the Modal image's pins, as app.py reads them). Rebuilt only when they change.
# About 5 min and 6 GB (torch 2.1's CUDA wheels are the only ones the registry has); av 11
# builds from source: needs gcc, pkg-config and Debian's libav*-dev (see app.py).
# python3.11 on PATH, else pyenv's 3.11 (pyenv's shim refuses a version that isn't selected).
AUDIOCRAFT_PYTHON ?= $(shell for p in python3.11 $$(pyenv root 2>/dev/null)/versions/3.11*/bin/python3.11; do \
	"$$p" -V >/dev/null 2>&1 && { echo "$$p"; break; }; done)
AC_VENV := .venv-audiocraft

audiocraft-env: setup
	@pins=$$(mktemp); $(BIN)/python -c 'import app; print("\n".join(app.AUDIOCRAFT_PACKAGES))' > $$pins; \
	if cmp -s $$pins $(AC_VENV)/requirements.txt; then echo "$(AC_VENV) is up to date"; rm $$pins; exit 0; fi; \
	if [ -z "$(AUDIOCRAFT_PYTHON)" ]; then echo "audiocraft-env needs Python 3.11: run \`pyenv install 3.11\` (or set AUDIOCRAFT_PYTHON=/path/to/python3.11)" >&2; exit 1; fi; \
	set -e; rm -rf $(AC_VENV); $(AUDIOCRAFT_PYTHON) -m venv $(AC_VENV); \
	$(AC_VENV)/bin/pip install --quiet --upgrade pip; \
	$(AC_VENV)/bin/pip install --quiet -r $$pins; \
	mv $$pins $(AC_VENV)/requirements.txt

studio: setup
	$(BIN)/atelier serve --port $(PORT) $(if $(PRESET),--preset $(PRESET))

system-deps:
	@missing=0; [ -x $(CHROMIUM) ] || missing=1; \
	for c in ffprobe gcc pkg-config; do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	pkg-config --exists libavformat libavcodec libavdevice libavutil libavfilter libswscale libswresample 2>/dev/null || missing=1; \
	if [ ! -e $(AC_VENV)/requirements.txt ] && [ -z "$(AUDIOCRAFT_PYTHON)" ]; then \
		echo "make test builds $(AC_VENV) with Python 3.11: run  pyenv install 3.11  (or set AUDIOCRAFT_PYTHON=/path/to/python3.11)" >&2; exit 1; fi; \
	[ $$missing = 0 ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing system packages: $(SYSTEM_PKGS)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PKGS) >/dev/null; \
	else echo "make test needs system packages: run  sudo apt-get install -y $(SYSTEM_PKGS)" >&2; exit 1; fi

# The whole suite, nothing skipped (tests/conftest.py turns a skip into a failure): system
# packages first (fast to check), then .venv, then the audiocraft venv, then pytest.
test: system-deps
	@$(MAKE) --no-print-directory audiocraft-env
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(AC_VENV) test-artifacts .pytest_cache

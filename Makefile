# Two commands for a newcomer: `make studio` and `make test`. Both set up .venv first.
# PyTorch is installed on its own and pinned while the rest installs, so pip never swaps
# in a different (multi-GB CUDA) build.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
PRESET ?=
PORT   ?= 8000

.PHONY: setup studio test bench clean

$(BIN)/atelier: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	echo "$(TORCH)" > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -e ".[dev]"
	touch $@

setup: $(BIN)/atelier

studio: setup
	$(BIN)/atelier serve --port $(PORT) $(if $(PRESET),--preset $(PRESET))

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache

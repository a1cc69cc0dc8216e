# Rosetta: `make demo` (set up + read the bundled samples), `make test` (set up + run the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps demo test sheets bench train-recognizer clean

setup: system-deps $(STAMP)

system-deps:
	sh scripts/setup-debian.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,serve,ray]"
	touch $(STAMP)

demo: setup
	mkdir -p out
	$(BIN)/rosetta read src/rosetta/samples --format json -o out/demo.json --viz out/viz
	@echo "wrote out/demo.json and overlays in out/viz/"

test: setup
	$(BIN)/python -m pytest

sheets: setup
	$(BIN)/rosetta synth sheet -o docs

bench: setup
	$(BIN)/python benchmarks/synth.py

train-recognizer: setup
	nice -n 10 $(BIN)/rosetta train recognizer --out runs/rec --threads 1 --resume

clean:
	rm -rf out .pytest_cache

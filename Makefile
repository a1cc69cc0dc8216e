# Rosetta: `make demo` (set up + read the bundled samples), `make test` (set up + run the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps demo test sheets bench train-recognizer train-detector train-stop evaluate clean

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
	$(BIN)/python benchmarks/recognizer.py
	$(BIN)/python benchmarks/detector.py

# Background training at 1 thread, resuming from runs/ or else from the checkpoints committed in checkpoints/.
train-recognizer: setup
	mkdir -p runs/rec; [ -f runs/rec/last.pt ] || cp checkpoints/recognizer_last.pt runs/rec/last.pt 2>/dev/null || true
	nice -n 10 $(BIN)/rosetta train recognizer --out runs/rec --threads 1 --resume

train-detector: setup
	mkdir -p runs/det; [ -f runs/det/last.pt ] || cp checkpoints/detector_last.pt runs/det/last.pt 2>/dev/null || true
	nice -n 10 $(BIN)/rosetta train detector --out runs/det --threads 1 --resume --eval-every 1500

train-stop:  # SIGTERM: each trainer finishes its step, writes last.pt and exits (data workers ignore it)
	-pkill -TERM -f "bin/[r]osetta train"

evaluate: setup
	sh scripts/evaluate.sh

clean:
	rm -rf out .pytest_cache

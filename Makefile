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
# The runs in progress (docs/RESULTS.md): the recognizer's second cycle, started from the shipped step-40000
# weights (a warm restart: full difficulty, new samples, lr 1e-3 over 12000 steps), and the detector with the
# patch4 stem, fine-tuned from the shipped detector (lr 5e-4 over 15000 steps).
train-recognizer: setup
	mkdir -p runs/rec2; [ -f runs/rec2/last.pt ] || cp checkpoints/recognizer_last.pt runs/rec2/last.pt 2>/dev/null || true
	nice -n 10 $(BIN)/rosetta train recognizer --out runs/rec2 --threads 1 --resume --steps 12000 --lr 1e-3 --seed 2 \
		--set curriculum_steps=0 --set warmup=300

train-detector: setup
	mkdir -p runs/det_patch4; [ -f runs/det_patch4/last.pt ] || cp checkpoints/detector_last.pt runs/det_patch4/last.pt 2>/dev/null || true
	nice -n 10 $(BIN)/rosetta train detector --out runs/det_patch4 --threads 1 --resume --steps 15000 --lr 5e-4 \
		--eval-every 3000 --set stem=patch4 --set warmup=200

train-stop:  # SIGTERM: each trainer finishes its step, writes last.pt and exits (data workers ignore it)
	-pkill -TERM -f "bin/[r]osetta train"

evaluate: setup
	sh scripts/evaluate.sh

clean:
	rm -rf out .pytest_cache

# Rosetta: `make demo` (set up + read the bundled samples), `make test` (set up + run the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps demo test test-fast sheets web-picture bench train-recognizer pack-recognizer train-detector train-stop evaluate clean

setup: system-deps $(STAMP)

system-deps:
	sh scripts/setup-debian.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,dev,serve,ray]"
	touch $(STAMP)

demo: setup
	mkdir -p out
	$(BIN)/rosetta read src/rosetta/samples --format json -o out/demo.json --viz out/viz
	@echo "wrote out/demo.json and overlays in out/viz/"

test: setup
	$(BIN)/python -m pytest

test-fast: setup  # everything but the slow tests (subprocesses, Ray, int8 builds, training, browser): about a minute
	$(BIN)/python -m pytest -m "not slow"

sheets: setup
	$(BIN)/rosetta synth sheet -o docs

# The README's pictures from the real service and models: docs/web_page.png (the page in headless Chromium with
# the Latin sign dropped on it) and docs/overlay.jpg (rosetta read --viz)
web-picture: setup
	$(BIN)/python scripts/web_picture.py

bench: setup
	$(BIN)/python benchmarks/synth.py
	$(BIN)/python benchmarks/recognizer.py
	$(BIN)/python benchmarks/detector.py

# Background training (nice), resuming from runs/ or else from the checkpoint committed in checkpoints/.
# rec5 (ended at step 7000: checkpoints/recognizer_rec5.pt): two residual blocks per stage and two context blocks
# (3.1 M parameters, ResNet-18-like as Rosetta's), grown from the recognizer of 2026-12-01 (rosetta.train.grow) and
# fine-tuned on the photo-grouped training splits plus VinText; its blend 0.4 with that model is the shipped
# recognizer (2026.12.06). rec6 continued rec5 at lr 1.5e-4 with the crops the reader cuts (rosetta.train.context)
# and forgot Arabic (stopped at step 2716, not kept). The run in progress, rec7, starts from the shipped blend at a
# gentle lr 6e-5 with more Arabic line batches (0.3) and the reader's crops, one thread. Blends with the model of
# 2026-12-01 or candidates: `python scripts/choose_recognizer.py --blend CKPT --alphas ...` / `--models DIR`.
# When a GPU is lent, run the recognizer there (--device cuda) and bring the checkpoint back.
train-recognizer: setup  # rec7: resumes runs/rec7, else its committed resume point (step 1168 of 4000)
	mkdir -p runs/rec7; [ -f runs/rec7/last.pt ] || cp checkpoints/recognizer_rec7.pt runs/rec7/last.pt
	nice -n 10 $(BIN)/rosetta train recognizer --out runs/rec7 --threads 1 --workers 1 --resume \
		--init src/rosetta/models --steps 4000 --lr 6e-5 --seed 7 --eval-every 1000 \
		--set model.blocks=2,2,2 --set model.context_blocks=2 --set curriculum_steps=1 --set warmup=100 \
		--set line_batch_share=0.3 --set context_photos=icdar2013_borndigital_dev:1-240 --set context_share=0.15 \
		--set loosen_share=0.4

pack-recognizer:
	$(BIN)/python -c "from rosetta.train.common import pack_checkpoint as p; p('runs/rec7/last.pt', 'checkpoints/recognizer_rec7.pt')"

# the run the shipped detector (2026.12.05) came from: the detector of 2026-12-01 (the weight average in
# checkpoints/detector_p4h.pt, as shipped then in float16) fine-tuned with born-digital graphics (img_1..240)
# beside ICDAR 2015 img_1..180 and synthetic scenes; scored on the held-out img_181..200 and born-digital
# img_241..260 (best.pt: step 2000, shipped); int8 rounding from 3800
train-detector: setup
	nice -n 10 $(BIN)/rosetta train detector --out runs/det_bd --threads 1 --resume \
		--init checkpoints/detector_p4h.pt --steps 4500 --lr 3e-4 --eval-every 1000 --seed 7 \
		--set stem=patch4 --set holdout=20 --set bd_share=0.5 --set bd_holdout=20 --set warmup=200 \
		--set qat=1 --set qat_from=3800

train-stop:  # SIGTERM: each trainer finishes its step, writes last.pt and exits (data workers ignore it)
	-pkill -TERM -f "bin/[r]osetta train"

evaluate: setup
	sh scripts/evaluate.sh

clean:
	rm -rf out .pytest_cache

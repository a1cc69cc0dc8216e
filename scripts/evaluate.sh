#!/bin/sh
# Score the shipped models and run the benchmarks; JSON lands in docs/results/ (figures for docs/RESULTS.md).
#   sh scripts/evaluate.sh            # everything (about 15 minutes on 2 cores)
#   sh scripts/evaluate.sh quick      # accuracy only
set -eu
cd "$(dirname "$0")/.."
R=${ROSETTA:-.venv/bin/rosetta}
PY=${PYTHON:-.venv/bin/python}
D=${ROSETTA_DATA:-../shared/data}
OUT=docs/results
mkdir -p $OUT
$R eval recognizer --data $D/iiit5k_train --split val -o $OUT/rec_iiit5k_val.json > /dev/null
$R eval recognizer --data $D/icdar2015_wordrec_train --split val -o $OUT/rec_ic15_val.json > /dev/null
$R eval recognizer --data $D/arabic_lines_dev --split val -o $OUT/rec_arabic_val.json > /dev/null
$R eval recognizer --synthetic cyrillic -o $OUT/rec_cyrillic_synth_val.json > /dev/null
$R eval detector --data $D/icdar2015_dev --images 201-250 -o $OUT/det_ic15_val.json > /dev/null
$R eval ocr --data $D/icdar2015_dev --images 201-250 -o $OUT/ocr_ic15_val.json > /dev/null
[ "${1:-}" = quick ] && exit 0
$PY benchmarks/recognizer.py > $OUT/bench_recognizer.json
$PY benchmarks/detector.py > $OUT/bench_detector.json
$PY benchmarks/peers.py > $OUT/bench_peers.txt
$PY benchmarks/int8.py > $OUT/bench_int8.jsonl
$PY benchmarks/batch.py --images 200 > $OUT/bench_batch.jsonl
$PY benchmarks/serve_load.py --requests 120 --rss-requests 5000 > $OUT/bench_serve.jsonl

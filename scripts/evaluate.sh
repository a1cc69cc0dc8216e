#!/bin/sh
# Score the shipped models and run the benchmarks; JSON lands in docs/results/ (figures for docs/RESULTS.md).
#   sh scripts/evaluate.sh                  # everything (about 20 minutes on 2 cores)
#   sh scripts/evaluate.sh quick            # accuracy only (= accuracy)
#   sh scripts/evaluate.sh batch serve      # some sections: accuracy speed peers int8 int8speed int8noise batch serve
#                                           # servemem (the service under 16 concurrent 79 MP uploads)
# Benchmarks want the machine to themselves: pause background training first.
set -eu
cd "$(dirname "$0")/.."
R=${ROSETTA:-.venv/bin/rosetta}
PY=${PYTHON:-.venv/bin/python}
D=${ROSETTA_DATA:-../shared/data}
OUT=docs/results
mkdir -p $OUT
SECTIONS=${*:-accuracy speed peers int8 batch serve}
[ "$SECTIONS" = quick ] && SECTIONS=accuracy
for s in $SECTIONS; do
  case $s in
    accuracy)
      $R eval recognizer --data $D/iiit5k_train --split val -o $OUT/rec_iiit5k_val.json > /dev/null
      $R eval recognizer --data $D/icdar2015_wordrec_train --split val -o $OUT/rec_ic15_val.json > /dev/null
      $R eval recognizer --data $D/arabic_lines_dev --split val -o $OUT/rec_arabic_val.json > /dev/null
      $R eval recognizer --synthetic cyrillic -o $OUT/rec_cyrillic_synth_val.json > /dev/null
      $R eval recognizer --synthetic cyrillic --scripts cyrillic -o $OUT/rec_cyrillic_synth_val_hint.json > /dev/null
      $R eval detector --data $D/icdar2015_dev --images 201-250 -o $OUT/det_ic15_val.json > /dev/null
      $R eval ocr --data $D/icdar2015_dev --images 201-250 -o $OUT/ocr_ic15_val.json > /dev/null ;;
    speed)
      $PY benchmarks/recognizer.py > $OUT/bench_recognizer.json
      $PY benchmarks/detector.py > $OUT/bench_detector.json ;;
    peers) $PY benchmarks/peers.py > $OUT/bench_peers.txt ;;
    int8) $PY benchmarks/int8.py > $OUT/bench_int8.jsonl ;;  # its own e2e figures; int8speed / int8noise keep theirs
    int8speed) $PY benchmarks/int8.py --speed-only > $OUT/bench_int8_speed.json ;;  # the e2e speed-up alone
    int8noise) $PY benchmarks/int8.py --noise-only --noise-seeds 120 --no-mixed > $OUT/bench_int8_noise.jsonl ;;  # 120 paired draws, ~25 min
    batch) $PY benchmarks/batch.py --images 200 --repeats 3 > $OUT/bench_batch.jsonl ;;
    serve) $PY benchmarks/serve_load.py --requests 120 --rss-requests 5000 > $OUT/bench_serve.jsonl ;;
    servemem) $PY benchmarks/serve_memory.py --out $OUT/serve_memory.jsonl ;;
    *) echo "evaluate.sh: unknown section $s (accuracy speed peers int8 int8speed int8noise batch serve servemem, or quick)" >&2; exit 2 ;;
  esac
done

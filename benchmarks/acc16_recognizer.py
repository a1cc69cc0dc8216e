"""The int8 recognizer end to end, one thread: ONNX Runtime's int8 graph vs the same graph on the acc16 kernel
(rosetta.runtime.acc16_recognizer, chosen per layer at load) vs the fp32 graph (ONNX Runtime), on real crops
batched as the product batches them; then the int8 OCR per image on ICDAR 2015 photos with either int8 reader.

    python benchmarks/acc16_recognizer.py [--crops 500] [--rounds 5] [--images 20]
                                          [--out docs/results/int8_acc16_e2e.jsonl]

Crops: the first --crops/2 of IIIT5K train and of ICDAR 2015 word-recognition train ($ROSETTA_DATA or
../shared/data), grouped by width into batches of 32 (``Recognizer.batches``) and padded (``pad_batch``). The
choice at load is timed on the full batch of median width, in a fresh cache folder, and its duration reported.
Times: batch by batch, each runner in turn (the order rotating), --rounds times; CPU time of this process and
wall time, summed over the batches of each batch's best (and median) round. Outputs: the executor's logits are
checked equal to ONNX Runtime's int8 graph's on every batch. OCR: ``rosetta.OCR(ReadConfig(int8=True))`` with
its recognizer's network forced to ONNX Runtime's int8 graph, and the same with the executor (nothing else
changes), per image alternately, CPU time per image (best of 2 runs each), same words checked. Run it niced on a shared host.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rosetta.data.crops import load_crops
from rosetta.runtime.acc16 import isa, library_or_build
from rosetta.runtime.acc16_recognizer import (EXECUTOR, MODEL, Acc16Config, cpu_model, int8_recognizer_session,
                                              ort_session)
from rosetta.runtime.decode import greedy_decode, log_softmax
from rosetta.runtime.preprocess import pad_batch, to_input
from rosetta.runtime.recognizer import Recognizer

log = logging.getLogger("acc16_recognizer")


def real_batches(n: int, rec: Recognizer) -> list[np.ndarray]:
    half = n // 2
    crops = load_crops("iiit5k_train", "train").images[:half] \
        + load_crops("icdar2015_wordrec_train", "train").images[:half]
    inputs = [to_input(c) for c in crops]
    return [pad_batch([inputs[i] for i in idx])[0] for idx in rec.batches([x.shape[1] for x in inputs])]


def time_rounds(runners: dict, batches: list[np.ndarray], rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per batch, each runner ``rounds`` times, interleaved batch by batch (the order rotating), so that a busy
    neighbour slows all runners alike: (runner -> clock -> per-batch seconds of every round)."""
    names = list(runners)
    out = {k: {"cpu": [[] for _ in batches], "wall": [[] for _ in batches]} for k in names}
    for r in range(rounds):
        for b, x in enumerate(batches):
            turn = (r + b) % len(names)
            for k in names[turn:] + names[:turn]:
                c, w = time.process_time(), time.perf_counter()
                runners[k].run(None, {"x": x})
                out[k]["cpu"][b].append(time.process_time() - c)
                out[k]["wall"][b].append(time.perf_counter() - w)
        log.info("round %d: %s", r, {k: round(sum(v["cpu"][b][-1] for b in range(len(batches))), 3)
                                     for k, v in out.items()})
    return out


def summary(per_batch: list[list[float]]) -> dict[str, float]:
    """Seconds for all batches: the sum of each batch's best round, and of its median round."""
    return {"best": sum(map(min, per_batch)), "median": sum(map(statistics.median, per_batch))}


def ocr_rows(images: list[Path], runner, repeats: int = 2) -> dict:
    import rosetta
    from rosetta.config import ReadConfig
    from rosetta.io import load_image

    cfg = ReadConfig(int8=True, threads=1)
    shipped = rosetta.OCR(cfg)
    base = shipped.recognizer

    def reading(r) -> Recognizer:  # the shipped int8 recognizer with its network run by ``r``
        return Recognizer(lambda x: r.run(None, {"x": x})[0], base.charset, base.decode_cfg, None, base.meta)

    plain = rosetta.OCR(cfg, detector=shipped.detector, recognizer=reading(ort_session(str(MODEL), 1)))
    ours = rosetta.OCR(cfg, detector=shipped.detector, recognizer=reading(runner))
    secs = {"ORT int8": [], "acc16 int8": []}
    same = 0
    for i, p in enumerate(images):
        img = load_image(p)
        pair = [("ORT int8", plain), ("acc16 int8", ours)]
        words, best = {}, {name: float("inf") for name, _ in pair}
        for r in range(repeats + 1):  # the first call per shape warms up
            for name, ocr in (pair if (i + r) % 2 == 0 else pair[::-1]):
                t = time.process_time()
                res = ocr(img)
                if r:
                    best[name] = min(best[name], time.process_time() - t)
                words[name] = [w.text for w in res.words]
        for name in secs:
            secs[name].append(best[name])
        same += words["ORT int8"] == words["acc16 int8"]
    return {"images": len(images), "same_words": same,
            **{f"{k}_s_per_image": sum(v) / len(v) for k, v in secs.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--crops", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("docs/results/int8_acc16_e2e.jsonl"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rec = Recognizer.load(threads=1)  # batching, and the fp32 graph on ONNX Runtime
    batches = real_batches(args.crops, rec)
    n = sum(len(x) for x in batches)
    full = [x for x in batches if len(x) == max(map(len, batches))]
    sample = full[len(full) // 2]  # the full batch (32 crops) of median width
    cache = Path(tempfile.mkdtemp(prefix="acc16-choice-"))
    t = time.perf_counter()
    ex = int8_recognizer_session(MODEL, 1, sample, Acc16Config(), cache=cache)
    first_load = time.perf_counter() - t
    entry = next(iter(json.loads((cache / "acc16_choice.json").read_text()).values()))
    t = time.perf_counter()
    ex = int8_recognizer_session(MODEL, 1, sample, cache=cache)
    cached_load = time.perf_counter() - t
    t = time.perf_counter()
    ort8 = ort_session(str(MODEL), 1)
    ort_load = time.perf_counter() - t
    if entry["use"] != EXECUTOR:
        log.warning("the choice at load took ONNX Runtime's graph (%.2fx); the executor is timed anyway",
                    entry["speedup"])
        from rosetta.runtime.acc16_recognizer import Acc16Recognizer, load_spec
        ex = Acc16Recognizer(load_spec(next(cache.glob("acc16-graph-*.npz"))), library_or_build(cache), 1,
                             entry["layers"])
    same = exact = 0
    for x in batches:
        a, b = ort8.run(None, {"x": x})[0], ex.run(None, {"x": x})[0]
        exact += int(np.array_equal(a, b))
        same += sum(greedy_decode(p)[0] == greedy_decode(q)[0] for p, q in zip(log_softmax(a, -1), log_softmax(b, -1)))
    runners = {"ORT int8 graph": ort8, "acc16 executor": ex, "ORT fp32": rec.network.session}
    res = time_rounds(runners, batches, args.rounds)
    lib = library_or_build(cache)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu_model(), "kernel_isa": isa(lib), "threads": 1,
            "crops": n, "batches": len(batches), "batch_widths": [int(x.shape[3]) for x in batches]}
    row = {**meta, "layers": entry["layers"], "choice": entry["use"], "choice_speedup_on_sample": entry["speedup"],
           "choice_timing_s": entry["timing_seconds"], "first_load_s": first_load, "cached_load_s": cached_load,
           "ort_int8_load_s": ort_load, "batches_bit_identical": exact, "same_texts": same,
           **{f"{k} {c} {s}": t for k, v in res.items() for c in ("cpu", "wall") for s, t in summary(v[c]).items()}}
    rows = [row]
    print(json.dumps(row, indent=1))
    if args.images:
        from rosetta.data.splits import data_root

        imgs = [data_root() / "icdar2015_dev" / "images" / f"img_{i}.jpg" for i in range(201, 201 + args.images)]
        orow = {**meta, "ocr": True, **ocr_rows(imgs, ex)}
        print(json.dumps(orow, indent=1))
        rows.append(orow)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()

"""The recognizer's int8 layers seen by the acc16 kernel: outlier share per layer for each weight grid, saturation
on real activations for each spill interval, and validation accuracy of each grid.

    python benchmarks/acc16_layers.py [--crops 128] [--share 0.005] [--skip-accuracy]
                                      [--out docs/results/int8_acc16_layers.jsonl]
                                      [--accuracy-out docs/results/int8_acc16_accuracy.jsonl]

Weights: the shipped recognizer, BatchNorm folded, per output channel on three grids (rosetta.quant.layers):
``int7`` (ONNX Runtime's reduce_range, the shipped int8 graph), ``int8`` (full range) and ``codesigned`` (the
finest grid with at most ``--share`` of each channel's weights outside 7 bits). Activations: each convolution's
real input while the float model reads ``--crops`` training crops (IIIT5K + IC15 train, batches of 32 of similar
width as the recognizer batches them), rounded to uint8 with the shipped int8 graph's ranges and im2col'd.
Saturation: the acc16 kernel on those inputs with the codesigned weights; rows recomputed (their bound exceeded
int16) and outputs whose 16-bit sum did saturate (both recomputed exactly). Accuracy: the validation splits
(rosetta.train.recognizer.validation_sets) with the int8 arithmetic simulated in float (weights on the grid,
convolution inputs rounded to uint8).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from rosetta.data.crops import load_crops
from rosetta.models import MODEL_DIR
from rosetta.runtime.acc16 import Int8Gemm, compile_library, library, load, outlier_share, reference_gemm
from rosetta.quant.layers import (SCALE_MODES, activation_ranges, capture_inputs, crop_batches, fake_quantized,
                                  folded_convs, im2col, quantize_activations, quantize_weights, weight_scales)
from rosetta.train.predict import TorchRecognizer as Recognizer

KSPILLS = (16, 32, 64)
log = logging.getLogger("acc16_layers")


def real_crops(n: int) -> list[np.ndarray]:
    half = n // 2
    return load_crops("iiit5k_train", "train").images[:half] + load_crops("icdar2015_wordrec_train", "train").images[:half]


def layer_rows(model: torch.nn.Module, crops: list[np.ndarray], share: float, lib) -> list[dict]:
    ranges = activation_ranges(MODEL_DIR / "recognizer.int8.onnx")
    layers = folded_convs(model)
    inputs = capture_inputs(model, [x.name for x in layers], crop_batches(crops))
    rows = []
    for layer in layers:
        sc, zp = ranges[layer.name]
        grids = {m: quantize_weights(layer.weight, weight_scales(layer.weight, m, share)).numpy().T for m in SCALE_MODES}
        a = np.concatenate([im2col(quantize_activations(x, sc, zp), layer.conv, zp) for x in inputs[layer.name]])
        real = a[:, :layer.depth]
        row = {"layer": layer.name, "K": layer.depth, "N": int(layer.weight.shape[0]), "M": int(a.shape[0]),
               **{f"outliers_{m}": outlier_share(q) for m, q in grids.items()},
               "act_mean": float(real.mean()), "act_zero": float((real == zp).mean()), "act_zero_point": zp}
        if lib is not None:
            q = grids["codesigned"].astype(np.int8)
            g, ref = Int8Gemm(q, lib), reference_gemm(a[:, :layer.depth], q)
            for ks in KSPILLS:
                out, sat = g.acc16(a, kspill=ks)
                if not np.array_equal(out, ref):
                    raise AssertionError(f"{layer.name}: acc16 differs from the int32 reference (kspill {ks})")
                row[f"rows_recomputed_k{ks}"] = sat.rows_checked / a.shape[0]
                row[f"outputs_saturated_k{ks}"] = sat.outputs / out.size
            row["outlier_nnz"] = g.outliers.nnz
        rows.append(row)
        log.info("%s", json.dumps(row))
    return rows


def accuracy_rows(rec: Recognizer, share: float) -> list[dict]:
    from rosetta.train.recognizer import evaluate, validation_sets

    sets = validation_sets()
    ranges = activation_ranges(MODEL_DIR / "recognizer.int8.onnx")
    variants = {"float": rec.model, "int7 weights": fake_quantized(rec.model, "int7")}
    variants.update({f"{m} + uint8 inputs": fake_quantized(rec.model, m, share, ranges) for m in SCALE_MODES})
    rows = []
    for name, model in variants.items():
        t = time.perf_counter()
        with torch.inference_mode():
            res = evaluate(model, rec.charset, sets)
        row = {"variant": name, **{f"{k}_word_acc": v["word_acc"] for k, v in res.items()},
               "arabic_val_cer": res["arabic_val"]["cer"], "seconds": round(time.perf_counter() - t, 1)}
        rows.append(row)
        log.info("%s", json.dumps(row))
    return rows


def table(rows: list[dict], acc: list[dict]) -> str:
    lines = ["| layer | K | N | M | outliers int8 | outliers int7 | outliers codesigned | "
             + " | ".join(f"rows rechecked / outputs saturated, kspill {k}" for k in KSPILLS) + " |",
             "|---|---|---|---|---|---|---|" + "---|" * len(KSPILLS)]
    for r in rows:
        sat = " | ".join(f"{100 * r[f'rows_recomputed_k{k}']:.1f}% / {100 * r[f'outputs_saturated_k{k}']:.4f}%"
                         if f"rows_recomputed_k{k}" in r else "-" for k in KSPILLS)
        lines.append(f"| {r['layer']} | {r['K']} | {r['N']} | {r['M']} | {100 * r['outliers_int8']:.2f}% | "
                     f"{100 * r['outliers_int7']:.2f}% | {100 * r['outliers_codesigned']:.2f}% | {sat} |")
    total = {m: sum(r[f"outliers_{m}"] * r["K"] * r["N"] for r in rows) / sum(r["K"] * r["N"] for r in rows)
             for m in SCALE_MODES}
    lines.append(f"| all (weighted by size) | | | | {100 * total['int8']:.2f}% | {100 * total['int7']:.2f}% | "
                 f"{100 * total['codesigned']:.2f}% |" + " |" * len(KSPILLS))
    if acc:
        lines += ["", "| variant | IIIT5K-val word acc | IC15-val word acc | Arabic-val CER |", "|---|---|---|---|"]
        lines += [f"| {a['variant']} | {100 * a['iiit5k_val_word_acc']:.2f} | {100 * a['ic15_val_word_acc']:.2f} | "
                  f"{100 * a['arabic_val_cer']:.2f} |" for a in acc]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--crops", type=int, default=128)
    ap.add_argument("--share", type=float, default=0.005, help="outliers allowed per channel (codesigned grid)")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("docs/results/int8_acc16_layers.jsonl"))
    ap.add_argument("--accuracy-out", type=Path, default=Path("docs/results/int8_acc16_accuracy.jsonl"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    lib = library()
    if lib is None:
        built = compile_library(Path("/tmp/rosetta-acc16"))
        lib = load(built) if built else None
    rec = Recognizer.load()
    rows = layer_rows(rec.model, real_crops(args.crops), args.share, lib)
    acc = [] if args.skip_accuracy else accuracy_rows(rec, args.share)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "crops": args.crops, "share": args.share}
    for path, found in ((args.out, rows), (args.accuracy_out, acc)):
        if found:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps({**meta, **r}) + "\n" for r in found))
    print(table(rows, acc))


if __name__ == "__main__":
    main()

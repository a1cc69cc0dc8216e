"""int8 GEMM kernels on the recognizer's own layers, one thread: ours (acc32, acc16 with outliers, spills and the
saturation checks) against FBGEMM (PyTorch's quantized Linear and Conv2d) and ONNX Runtime (MatMulInteger,
QLinearConv), and the per-layer automatic choice (rosetta.quant.choose).

    python benchmarks/int8_acc16.py [--width 128] [--rounds 5] [--out docs/results/int8_acc16.jsonl]

Inputs: 32 real IIIT5K training crops of about ``--width`` px at height 32 (one recognizer batch), read by the
float model; each convolution's input rounded to uint8 with the shipped int8 graph's range, im2col'd for the
GEMMs (M = 32 x output positions, K = Cin x kh x kw, N = Cout). Weights: ours on the codesigned grid (at most
0.5% of each channel outside 7 bits: the outliers, computed in int32), the others on the shipped int7 grid (the
speed of an int8 GEMM does not depend on its values). Times: best of ``--rounds`` interleaved rounds, CPU time
of this process (the host is shared), ms. GEMM columns exclude im2col and requantization; the Conv columns
(FBGEMM Conv2d, ORT QLinearConv) include both.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import numpy as np
import torch

from rosetta.data.crops import load_crops
from rosetta.models import MODEL_DIR
from rosetta.quant.acc16 import Int8Gemm, compile_library, isa, library, load, reference_gemm, split_outliers
from rosetta.quant.choose import (ChooserConfig, fbgemm_conv, fbgemm_linear, kernel_candidates, ort_matmul_integer,
                                  ort_qlinear_conv, time_candidates)
from rosetta.quant.layers import (activation_ranges, capture_inputs, folded_convs, im2col, quantize_activations,
                                  quantize_weights, weight_scales)
from rosetta.recognition.preprocess import pad_batch, to_input
from rosetta.recognition.recognizer import Recognizer

log = logging.getLogger("int8_acc16")
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu() -> dict:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    field = lambda k: next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith(k)), "?")
    flags = set(field("flags").split())
    return {"model_name": field("model name"), "family": field("cpu family"), "model": field("model\t"),
            "flags": {f: f in flags for f in FLAGS}, "machine": platform.machine()}


def typical_batch(width: int, n: int = 32) -> torch.Tensor:
    """n real crops whose recognizer input is closest to ``width`` px wide, padded as the recognizer pads them."""
    inputs = [to_input(c) for c in load_crops("iiit5k_train", "train").images]
    inputs.sort(key=lambda x: abs(x.shape[1] - width))
    return pad_batch(inputs[:n])[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("docs/results/int8_acc16.jsonl"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    lib = library()
    if lib is None:
        built = compile_library(Path("/tmp/rosetta-acc16"))
        lib = load(built) if built else None
    if lib is None:
        raise SystemExit("the acc16 kernel could not be built or does not run on this CPU")
    info = {**cpu(), "kernel_isa": isa(lib), "date": time.strftime("%Y-%m-%d %H:%M"), "threads": 1}
    log.info("%s", json.dumps(info))
    rec = Recognizer.load()
    batch = typical_batch(args.width)
    ranges = activation_ranges(MODEL_DIR / "recognizer.int8.onnx")
    layers = folded_convs(rec.model)
    inputs = capture_inputs(rec.model, [x.name for x in layers], [batch])
    config = ChooserConfig(rounds=args.rounds)
    isas = [2, 3] if info["kernel_isa"] == "avx512bw" else [2]
    rows = []
    for layer in layers:
        sc, zp = ranges[layer.name]
        x = quantize_activations(inputs[layer.name][0], sc, zp).numpy()  # (B, Cin, H, W) uint8
        a = im2col(torch.from_numpy(x), layer.conv, zp)  # (M, padded K)
        a_k = np.ascontiguousarray(a[:, :layer.depth])
        s7 = weight_scales(layer.weight, "int7").numpy()
        q7 = quantize_weights(layer.weight, weight_scales(layer.weight, "int7")).numpy().astype(np.int8)  # (N, K)
        qc = quantize_weights(layer.weight, weight_scales(layer.weight, "codesigned")).numpy().T.astype(np.int8)
        gemm = Int8Gemm(qc, lib)
        dense_only = Int8Gemm(split_outliers(qc)[0], lib)
        ref = reference_gemm(a_k, qc)
        assert np.array_equal(gemm.acc16(a)[0], ref) and np.array_equal(gemm.acc32(a), ref)
        out = np.empty_like(ref)
        cands = {}
        for i in isas:
            tag = "" if i == 2 else " avx512"
            cands.update({f"ours {k}{tag}": f for k, f in kernel_candidates(gemm, a, config).items()}
                         if i == 2 else
                         {f"ours {k}{tag}": (lambda k=k: gemm.acc16(a, kspill=k, isa=3, out=out)) for k in config.kspills})
            cands[f"ours acc16 dense unchecked{tag}"] = lambda i=i: dense_only.acc16(a, kspill=32, check=False, isa=i, out=out)
            if i == 3:
                cands["ours acc32 avx512"] = lambda: gemm.acc32(a, isa=3, out=out)
        quant, lin = fbgemm_linear(q7.T, s7, sc, sc * 4)
        qa = quant(a_k)
        cands["FBGEMM Linear"] = lambda: lin(qa)
        quant_c, qconv = fbgemm_conv(layer.conv, q7.reshape(layer.weight.shape), s7, sc, sc * 4)
        qx = quant_c(x)
        cands["FBGEMM Conv2d"] = lambda: qconv(qx)
        mmi = ort_matmul_integer(q7.T)
        cands["ORT MatMulInteger"] = lambda: mmi(a_k)
        qlc = ort_qlinear_conv(layer.conv, q7.reshape(layer.weight.shape), s7, sc, sc * 4)
        cands["ORT QLinearConv"] = lambda: qlc(x)
        secs = time_candidates(cands, config.rounds)
        ours = {k: v for k, v in secs.items() if k.startswith("ours acc") and "unchecked" not in k and "avx512" not in k}
        product = {**ours, "ORT QLinearConv": secs["ORT QLinearConv"]}
        row = {"layer": layer.name, "M": int(a.shape[0]), "K": layer.depth, "N": int(qc.shape[1]),
               "outlier_share": gemm.outliers.nnz / qc.size, "ms": {k: round(v * 1e3, 3) for k, v in secs.items()},
               "best_ours": min(ours, key=ours.__getitem__), "chosen": min(product, key=product.__getitem__)}
        rows.append(row)
        log.info("%s", json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(json.dumps({"info": info, "batch": list(batch.shape)}) + "\n")
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    print(markdown(rows, info, list(batch.shape)))


def markdown(rows: list[dict], info: dict, shape: list[int]) -> str:
    cols = ["ours acc32", "ours acc16 (best k)", "ours acc16 dense unchecked", "FBGEMM Linear", "ORT MatMulInteger",
            "FBGEMM Conv2d", "ORT QLinearConv"]
    lines = [f"CPU: {info['model_name']} (family {info['family']}, model {info['model']}), flags: "
             + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in info["flags"].items())
             + f"; kernel ISA {info['kernel_isa']}; batch {shape}; 1 thread; ms, CPU time, best of rounds", "",
             "| layer | M x K x N | outliers | " + " | ".join(cols) + " | acc16 vs FBGEMM Linear | chosen |",
             "|---|---|---|" + "---|" * len(cols) + "---|---|"]
    total = {c: 0.0 for c in cols}
    total["chosen"] = 0.0
    for r in rows:
        ms = dict(r["ms"])
        ms["ours acc32"] = ms.get("ours acc32", float("nan"))
        best16 = min((v, k) for k, v in ms.items() if k.startswith("ours acc16/k") and "avx512" not in k)
        ms["ours acc16 (best k)"] = best16[0]
        for c in cols:
            total[c] += ms[c]
        total["chosen"] += ms[r["chosen"]]
        lines.append(f"| {r['layer']} | {r['M']} x {r['K']} x {r['N']} | {100 * r['outlier_share']:.2f}% | "
                     + " | ".join(f"{ms[c]:.2f}" + (f" ({best16[1].split('/')[1]})" if c == "ours acc16 (best k)" else "")
                                  for c in cols)
                     + f" | {ms['FBGEMM Linear'] / best16[0]:.2f}x | {r['chosen']} |")
    lines.append("| all layers | | | " + " | ".join(f"{total[c]:.2f}" for c in cols)
                 + f" | {total['FBGEMM Linear'] / total['ours acc16 (best k)']:.2f}x | {total['chosen']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""int8 GEMM kernels on the recognizer's own layers, one thread: ours (acc32, acc16 with outliers, spills and the
saturation checks) against FBGEMM (PyTorch's quantized Linear and Conv2d) and ONNX Runtime (MatMulInteger,
QLinearConv), and the per-layer automatic choice (rosetta.quant.choose).

    python benchmarks/int8_acc16.py [--width 128] [--rounds 5] [--out docs/results/int8_acc16.jsonl] [--table-only]

Inputs: 32 real IIIT5K training crops of about ``--width`` px at height 32 (one recognizer batch), read by the
float model; each convolution's input rounded to uint8 with the shipped int8 graph's range, im2col'd for the
GEMMs (M = 32 x output positions, K = Cin x kh x kw, N = Cout). Weights: ours on the codesigned grid (at most
0.5% of each channel outside 7 bits: the outliers, computed in int32), the others on the shipped int7 grid (the
speed of an int8 GEMM does not depend on its values); ours on that int7 grid too ("int7": the same numbers as the
shipped graph, its outliers the weights at +64, which 7 bits [-64, 63] leave out). "chosen": the automatic choice
(rosetta.quant.choose) between our convolution on the int7 grid and ORT's QLinearConv (what the product runs now). Times: best of ``--rounds`` interleaved rounds, CPU time
of this process (the host is shared), ms. GEMM columns exclude im2col and requantization; the convolution columns
("int7 conv": rosetta.runtime.int8_conv.Int8Conv on NHWC uint8, bit-identical to QLinearConv; FBGEMM Conv2d; ORT
QLinearConv) include both.
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
from rosetta.runtime.acc16 import Int8Gemm, compile_library, isa, library, load, reference_gemm, split_outliers
from rosetta.quant.choose import (ChooserConfig, fbgemm_conv, fbgemm_linear, kernel_candidates, ort_matmul_integer,
                                  ort_qlinear_conv, time_candidates)
from rosetta.runtime.int8_conv import Int8Conv, QuantParams
from rosetta.quant.files import int8_session
from rosetta.quant.layers import (activation_ranges, capture_inputs, folded_convs, im2col, quantize_activations,
                                  quantize_weights, weight_scales)
from rosetta.runtime.preprocess import pad_batch, to_input
from rosetta.train.predict import TorchRecognizer as Recognizer

log = logging.getLogger("int8_acc16")
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu() -> dict:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    field = lambda k: next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith(k)), "?")
    flags = set(field("flags").split())
    return {"model_name": field("model name"), "family": field("cpu family"), "model": field("model\t"),
            "flags": {f: f in flags for f in FLAGS}, "machine": platform.machine()}


def conv_share(feed: dict, runs: int = 3) -> float:
    """Share of the shipped int8 recognizer graph's kernel time spent in QLinearConv (ONNX Runtime's profiler)."""
    import os
    import tempfile

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads, so.enable_profiling = 1, 1, True
    so.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    sess = ort.InferenceSession(str(MODEL_DIR / "recognizer.int8.onnx"), so, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        sess.run(None, feed)
    path = sess.end_profiling()
    events = [e for e in json.loads(Path(path).read_text()) if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    os.remove(path)
    return sum(e["dur"] for e in events if e["args"].get("op_name") == "QLinearConv") / sum(e["dur"] for e in events)


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
    ap.add_argument("--table-only", action="store_true", help="print the table of an earlier run's --out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.table_only:
        head, *rows = [json.loads(line) for line in args.out.read_text().splitlines()]
        print(markdown(rows, head["info"], head["batch"]))
        return
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
        gemm, gemm7 = Int8Gemm(qc, lib), Int8Gemm(q7.T, lib)  # codesigned grid; the shipped int7 grid
        dense_only = Int8Gemm(split_outliers(qc)[0], lib)
        ref = reference_gemm(a_k, qc)
        assert np.array_equal(gemm.acc16(a)[0], ref) and np.array_equal(gemm.acc32(a), ref)
        assert np.array_equal(gemm7.acc16(a)[0], reference_gemm(a_k, q7.T))
        out = np.empty_like(ref)
        cands = {f"codesigned {k}": f for k, f in kernel_candidates(gemm, a, config).items()}
        cands.update({f"int7 {k}": f for k, f in kernel_candidates(gemm7, a, config).items()})
        cands["dense acc16 unchecked"] = lambda: dense_only.acc16(a, kspill=32, check=False, out=out)
        if 3 in isas:
            cands.update({f"codesigned acc16/k{k} avx512": (lambda k=k: gemm.acc16(a, kspill=k, isa=3, out=out))
                          for k in config.kspills})
            cands["codesigned acc32 avx512"] = lambda: gemm.acc32(a, isa=3, out=out)
        quant, lin = fbgemm_linear(q7.T, s7, sc, sc * 4)
        qa = quant(a_k)
        cands["FBGEMM Linear"] = lambda: lin(qa)
        quant_c, qconv = fbgemm_conv(layer.conv, q7.reshape(layer.weight.shape), s7, sc, sc * 4)
        qx = quant_c(x)
        cands["FBGEMM Conv2d"] = lambda: qconv(qx)
        mmi = ort_matmul_integer(q7.T)
        cands["ORT MatMulInteger"] = lambda: mmi(a_k)
        qlc = ort_qlinear_conv(layer.conv, q7.reshape(layer.weight.shape), s7, sc, sc * 4, x_zero=zp)
        cands["ORT QLinearConv"] = lambda: qlc(x)
        x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        ours_conv = {k: Int8Conv(q7.reshape(layer.weight.shape), s7, QuantParams(sc, zp), QuantParams(sc * 4, 0),
                                 lib, kspill=k, stride=layer.conv.stride, padding=layer.conv.padding) for k in config.kspills}
        ref_conv = qlc(x).transpose(0, 2, 3, 1)
        assert all(np.array_equal(c(x_nhwc), ref_conv) for c in ours_conv.values())  # bit-identical to ORT
        cands.update({f"int7 conv/k{k}": (lambda c=c: c(x_nhwc)) for k, c in ours_conv.items()})
        secs = time_candidates(cands, config.rounds)
        best = lambda grid: min((v, k) for k, v in secs.items() if k.startswith(grid) and "avx512" not in k)
        product = {k: v for k, v in secs.items() if k.startswith("int7 conv")}  # the shipped graph's numbers
        product["ORT QLinearConv"] = secs["ORT QLinearConv"]
        row = {"layer": layer.name, "M": int(a.shape[0]), "K": layer.depth, "N": int(qc.shape[1]),
               "outliers_codesigned": gemm.outliers.nnz / qc.size, "outliers_int7": gemm7.outliers.nnz / qc.size,
               "ms": {k: round(v * 1e3, 3) for k, v in secs.items()},
               "best_codesigned": best("codesigned")[1], "best_int7": best("int7 acc")[1],
               "best_int7_conv": best("int7 conv")[1],
               "chosen": min(product, key=product.__getitem__)}
        rows.append(row)
        log.info("%s", json.dumps(row))
    sess = int8_session(MODEL_DIR, "recognizer", threads=1)  # the whole shipped int8 graph, for scale
    feed = {"x": batch.numpy()}
    info["ort_int8_recognizer_ms"] = round(time_candidates({"ort": lambda: sess.run(None, feed)}, args.rounds)["ort"] * 1e3, 2)
    info["ort_conv_share"] = round(conv_share(feed), 4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(json.dumps({"info": info, "batch": list(batch.shape)}) + "\n")
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    print(markdown(rows, info, list(batch.shape)))


def markdown(rows: list[dict], info: dict, shape: list[int]) -> str:
    cols = ["codesigned acc32", "codesigned best", "int7 best", "dense acc16 unchecked", "FBGEMM Linear",
            "ORT MatMulInteger", "int7 conv", "FBGEMM Conv2d", "ORT QLinearConv", "chosen (int7)"]
    lines = [f"CPU: {info['model_name']} (family {info['family']}, model {info['model']}), flags: "
             + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in info["flags"].items())
             + f"; kernel ISA {info['kernel_isa']}; batch {shape}; 1 thread; ms of CPU time, best of the rounds", "",
             "| layer | M x K x N | outliers codesigned / int7 | " + " | ".join(cols) + " | int7 best vs FBGEMM Linear |",
             "|---|---|---|" + "---|" * len(cols) + "---|"]
    total = {c: 0.0 for c in cols}
    for r in rows:
        ms = dict(r["ms"])
        ms["codesigned acc32"] = ms.get("codesigned acc32", float("nan"))
        ms["codesigned best"], ms["int7 best"] = ms[r["best_codesigned"]], ms[r["best_int7"]]
        ms["int7 conv"] = ms[r["best_int7_conv"]]
        ms["chosen (int7)"] = ms[r["chosen"]]
        for c in cols:
            total[c] += ms[c]
        label = {"codesigned best": f" ({r['best_codesigned'].split(' ', 1)[1]})",
                 "int7 best": f" ({r['best_int7'].split(' ', 1)[1]})",
                 "int7 conv": f" ({r['best_int7_conv'].split('/')[1]})", "chosen (int7)": f" ({r['chosen']})"}
        lines.append(f"| {r['layer']} | {r['M']} x {r['K']} x {r['N']} | {100 * r['outliers_codesigned']:.2f}% / "
                     f"{100 * r['outliers_int7']:.2f}% | " + " | ".join(f"{ms[c]:.2f}{label.get(c, '')}" for c in cols)
                     + f" | {ms['FBGEMM Linear'] / ms['int7 best']:.2f}x |")
    lines.append("| all layers | | | " + " | ".join(f"{total[c]:.2f}" for c in cols)
                 + f" | {total['FBGEMM Linear'] / total['int7 best']:.2f}x |")
    whole = info.get("ort_int8_recognizer_ms")
    if whole:
        share = info.get("ort_conv_share", 1.0)
        rest = whole * (1 - share)
        lines += ["", "End to end, projected from these layers (measured: benchmarks/acc16_recognizer.py): "
                  "the whole shipped int8 recognizer graph (ONNX Runtime, same batch, 1 thread) takes "
                  f"{whole:.2f} ms, {100 * share:.1f}% of it in QLinearConv (ONNX "
                  f"Runtime's profiler). Its other {rest:.2f} ms plus the chosen convolutions ({total['chosen (int7)']:.2f}"
                  f" ms) make {rest + total['chosen (int7)']:.2f} ms: {whole / (rest + total['chosen (int7)']):.2f}x, "
                  "with the same outputs (the chosen convolutions are bit-identical to QLinearConv)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""The acc16 kernel (rosetta.runtime.acc16): exactly the int32 product on random and real layer inputs, spills and
outliers included, at edge sizes; saturation counted, never silent; the per-layer chooser. Skipped when the
library cannot be built here (no C compiler, or a CPU without AVX2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rosetta.runtime.acc16 import (Int8Gemm, compile_library, emulate_acc16, isa, outlier_share,
                                 pad_activations, reference_gemm, split_outliers)
from rosetta.quant.choose import ChooserConfig, choose, kernel_candidates


def _case(rng, m, k, n, high=256, zeros=0.4, weights=127):
    a = (rng.integers(0, high, (m, k)) * (rng.random((m, k)) > zeros)).astype(np.uint8)
    q = rng.integers(-weights, weights + 1, (k, n)).astype(np.int8)
    return a, q


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 3, 16), (3, 5, 17), (4, 37, 15), (5, 63, 33), (17, 129, 64),
                                   (65, 288, 65), (70, 1153, 130)])
def test_exact_with_outliers_and_spills(lib, m, k, n):
    """Odd K, K not a multiple of the vector step, M and N around the tile sizes; full-range int8 weights, so
    ~half of them are outliers; large activations, so many blocks saturate and are corrected."""
    rng = np.random.default_rng(m * 1000 + k + n)
    a, q = _case(rng, m, k, n)
    g, ref = Int8Gemm(q, lib), reference_gemm(a, q)
    assert g.outliers.nnz == int(((q < -64) | (q > 63)).sum())
    for kspill in (4, 8, 12, 16, 64, 1024):
        out, sat = g.acc16(a, kspill=kspill)
        assert np.array_equal(out, ref), kspill
        _, hit, pairs = emulate_acc16(a, split_outliers(q)[0], kspill)  # what the instructions alone would give
        assert pairs == 0 and (sat.outputs, sat.pairs) == (hit, 0)
    assert np.array_equal(g.acc32(a), ref)


def test_saturation_is_counted_and_corrected(lib):
    """All activations 255 and weights 63: every 16-bit lane saturates after two steps of K. The checked
    kernel still returns the exact product and counts every output; unchecked, the output is wrong."""
    a = np.full((6, 40), 255, np.uint8)
    q = np.full((40, 20), 63, np.int8)
    g, ref = Int8Gemm(q, lib), reference_gemm(a, q)
    out, sat = g.acc16(a, kspill=40)
    assert np.array_equal(out, ref)
    assert (sat.rows_checked, sat.outputs, sat.pairs) == (6, 6 * 20, 0)
    raw, _ = g.acc16(a, kspill=40, check=False)
    assert not np.array_equal(raw, ref) and raw.max() < ref.max()
    assert np.array_equal(raw, emulate_acc16(a, q, 40)[0])  # the emulation is what the instructions do


def test_pair_saturation_counted_with_8bit_dense(lib):
    """Dense weights allowed the full int8 range: vpmaddubsw saturates pairs (255 x 127 x 2 > 32767); counted."""
    rng = np.random.default_rng(7)
    a, q = _case(rng, 9, 50, 21, zeros=0.0)
    g = Int8Gemm(q, lib, dense_range=(-128, 127))
    assert g.outliers.nnz == 0 and not g.dense_fits_acc32
    out, sat = g.acc16(a, kspill=8)
    _, hit, pairs = emulate_acc16(a, q, 8)
    assert np.array_equal(out, reference_gemm(a, q))
    assert pairs > 0 and (sat.outputs, sat.pairs) == (hit, pairs)
    with pytest.raises(ValueError, match="7-bit"):
        g.acc32(a)


def test_small_activations_need_no_check(lib):
    """Bounded inputs (a <= 15, |w| <= 63, 32 products per lane: 15 x 63 x 32 < 32767) are never rechecked."""
    rng = np.random.default_rng(3)
    a, q = _case(rng, 33, 200, 40, high=16, weights=63)
    out, sat = Int8Gemm(q, lib).acc16(a, kspill=64)
    assert np.array_equal(out, reference_gemm(a, q)) and sat.rows_checked == 0


def test_padded_inputs_and_wrong_shapes(lib):
    rng = np.random.default_rng(5)
    a, q = _case(rng, 8, 30, 10)
    g = Int8Gemm(q, lib)
    padded = pad_activations(a)
    assert padded.shape == (8, 32) and not padded[:, 30:].any()
    assert np.array_equal(g.acc16(padded)[0], g.acc16(a)[0])
    with pytest.raises(ValueError, match="depth 30"):
        g.acc16(a[:, :29])
    with pytest.raises(RuntimeError, match="refused"):
        g.acc16(a, kspill=6)  # spills every 4 steps of K at least


def test_split_round_trip():
    rng = np.random.default_rng(1)
    q = rng.integers(-127, 128, (50, 30))
    dense, out = split_outliers(q)
    assert dense.min() >= -64 and dense.max() <= 63
    assert np.array_equal(dense.astype(np.int32) + out.dense(q.shape), q)
    assert outlier_share(q) == pytest.approx(out.nnz / q.size)
    empty_dense, empty = split_outliers(np.zeros((0, 4), np.int8))
    assert empty.nnz == 0 and empty_dense.shape == (0, 4)


def test_avx512_path_equals_avx2(lib):
    if isa(lib) != "avx512bw":
        pytest.skip(f"this CPU runs the {isa(lib)} path only (no AVX-512BW)")
    rng = np.random.default_rng(11)
    a, q = _case(rng, 37, 301, 45)
    g = Int8Gemm(q, lib)
    ref = reference_gemm(a, q)
    assert np.array_equal(g.acc16(a, kspill=16, isa=3)[0], ref) and np.array_equal(g.acc32(a, isa=3), ref)


def test_chooser_picks_an_exact_kernel(lib):
    rng = np.random.default_rng(2)
    a, q = _case(rng, 64, 96, 32, high=40, weights=63)
    g = Int8Gemm(q, lib)
    cands = kernel_candidates(g, pad_activations(a), ChooserConfig(rounds=2, kspills=(16, 32)))
    assert sorted(cands) == ["acc16/k16", "acc16/k32", "acc32"]
    choice = choose(cands, ChooserConfig(rounds=2))
    assert choice.path in cands and choice.seconds[choice.path] == min(choice.seconds.values())
    assert choice.speedup_over(choice.path) == 1.0
    with pytest.raises(ValueError):
        choose({})


def _data() -> Path | None:
    from rosetta.data.splits import data_root

    root = data_root()
    return root if (root / "iiit5k_train" / "labels.jsonl").exists() else None


@pytest.mark.skipif(_data() is None, reason="real data (shared/data/iiit5k_train) not present")
def test_real_layer_inputs(lib):
    """The shipped recognizer's first stage-2 convolution on 16 real crops: exact on the codesigned grid (outliers
    under 1%) for every spill interval; the full int8 grid puts far more weights outside 7 bits."""
    from rosetta.data.crops import load_crops
    from rosetta.models import MODEL_DIR
    from rosetta.quant.layers import (activation_ranges, capture_inputs, crop_batches, folded_convs, im2col,
                                      quantize_activations, quantize_weights, weight_scales)
    from rosetta.train.predict import TorchRecognizer as Recognizer

    torch.set_num_threads(1)
    model = Recognizer.load().model
    layer = next(x for x in folded_convs(model) if x.name.startswith("stage2.") and ".conv1." in x.name)
    sc, zp = activation_ranges(MODEL_DIR / "recognizer.int8.onnx")[layer.name]
    x = capture_inputs(model, [layer.name], crop_batches(load_crops("iiit5k_train", "train").images[:16], 16))
    a = im2col(quantize_activations(x[layer.name][0], sc, zp), layer.conv, zp)
    assert a.shape[1] == layer.depth == 576 and a.any()
    q = quantize_weights(layer.weight, weight_scales(layer.weight, "codesigned")).numpy().T.astype(np.int8)
    q8 = quantize_weights(layer.weight, weight_scales(layer.weight, "int8")).numpy()
    assert outlier_share(q) < 0.01 < outlier_share(q8)
    g, ref = Int8Gemm(q, lib), reference_gemm(a, q)
    assert g.outliers.nnz > 0
    for kspill in (16, 32, 64, 576):
        assert np.array_equal(g.acc16(a, kspill=kspill)[0], ref), kspill
    assert np.array_equal(g.acc32(a), ref)


def test_no_compiler_means_no_kernel(tmp_path):
    """Without a working C compiler nothing is built and None says so (callers keep ONNX Runtime's path)."""
    assert compile_library(tmp_path, cc=str(tmp_path / "no-such-cc")) is None
    assert compile_library(tmp_path, cc="false") is None


def test_fake_quantized_weights_sit_on_the_grid():
    """The folded weights of a fake-quantized model are exactly the grid's values; the float model is untouched
    and the outputs stay close."""
    from rosetta.quant.layers import fake_quantized, folded_convs, quantize_weights, weight_scales
    from rosetta.recognition.model import CTCRecognizer, RecognizerConfig

    torch.manual_seed(0)
    model = CTCRecognizer(RecognizerConfig(num_classes=7)).eval()
    for m in model.modules():  # non-trivial BatchNorms, so that folding matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    before = [x.weight.clone() for x in folded_convs(model)]
    q = fake_quantized(model, "codesigned")
    for orig, layer in zip(before, folded_convs(q)):
        scale = weight_scales(orig, "codesigned")
        grid = quantize_weights(orig, scale).float() * scale.view(-1, 1)
        assert torch.allclose(layer.weight.flatten(1), grid, rtol=1e-5, atol=1e-7)
    assert all(torch.equal(a, b.weight) for a, b in zip(before, folded_convs(model)))
    x = torch.rand(2, 1, 32, 48) * 2 - 1
    with torch.no_grad():
        ref, out = model(x)[0], q(x)[0]
    assert not torch.equal(ref, out) and (ref - out).abs().max() < 0.05 * ref.abs().max()


def test_refuses_weights_it_cannot_take(lib):
    with pytest.raises(ValueError, match="1 <= K, N"):
        Int8Gemm(np.zeros((5000, 8), np.int8), lib)
    with pytest.raises(ValueError, match="1 <= K, N"):
        Int8Gemm(np.zeros((8, 0), np.int8), lib)


@pytest.mark.parametrize("cin,cout,kernel,stride,pad,h,w", [(3, 8, 3, 1, 1, 5, 6), (32, 64, 3, 2, 1, 9, 14),
                                                             (17, 33, (1, 3), 1, (0, 1), 1, 13),
                                                             (64, 40, 1, (2, 1), 0, 8, 7), (24, 20, (2, 3), 1, (0, 1), 2, 9)])
def test_conv_equals_onnxruntime_qlinearconv(lib, cin, cout, kernel, stride, pad, h, w):
    """Int8Conv (im2col in C, acc16, requantization) gives QLinearConv's uint8 output exactly on 7-bit weights,
    with zero points and a bias; on full int8 weights it stays exact where ONNX Runtime's AVX2 kernel saturates."""
    from rosetta.quant.choose import ort_qlinear_conv
    from rosetta.runtime.int8_conv import Int8Conv, QuantParams

    rng = np.random.default_rng(cin + cout)
    conv = torch.nn.Conv2d(cin, cout, kernel, stride, pad, bias=False)
    q = rng.integers(-64, 65, (cout, cin) + conv.kernel_size).astype(np.int8)
    ws = (rng.random(cout) * 0.02 + 0.001).astype(np.float32)
    bias = (rng.standard_normal(cout) * 0.5).astype(np.float32)
    xq, yq = QuantParams(0.03, int(rng.integers(0, 20))), QuantParams(0.2, int(rng.integers(0, 30)))
    x = rng.integers(0, 256, (2, h, w, cin)).astype(np.uint8)  # NHWC
    geo = dict(stride=conv.stride, padding=conv.padding)
    c = Int8Conv(q, ws, xq, yq, lib, bias=bias, **geo)
    ours = c(x)
    ort = ort_qlinear_conv(conv, q, ws, xq.scale, yq.scale, x_zero=xq.zero_point, y_zero=yq.zero_point, bias=bias)
    ref = ort(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).transpose(0, 2, 3, 1)
    assert np.array_equal(ours, ref)
    assert np.array_equal(c(x, kspill=0), ref)  # the acc32 kernel: the same outputs
    q8 = rng.integers(-127, 128, q.shape).astype(np.int8)
    got = Int8Conv(q8, ws, QuantParams(0.03, 0), QuantParams(0.2, 0), lib, **geo)(x)
    acc = torch.nn.functional.conv2d(torch.from_numpy(x.transpose(0, 3, 1, 2)).double(), torch.from_numpy(q8).double(),
                                     stride=conv.stride, padding=conv.padding).numpy().transpose(0, 2, 3, 1)
    mult = np.float32(0.03) * np.float32(1) * ws / np.float32(0.2)
    exact = np.clip(np.rint(acc.astype(np.float32) * mult), 0, 255)
    assert np.abs(got - exact).max() <= 1  # float32 rounding of the multiply only
    assert np.array_equal(Int8Conv(q8, ws, QuantParams(0.03, 0), QuantParams(0.2, 0), lib, **geo)(x, kspill=0), got)
    with pytest.raises(ValueError, match="expected uint8"):
        c(x.astype(np.float32))

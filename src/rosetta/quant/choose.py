"""The benchmarks' extra candidates for the per-layer int8 choice (:mod:`rosetta.runtime.choose`, re-exported
here): ONNX Runtime's MatMulInteger and QLinearConv built for one layer, and FBGEMM through PyTorch (imported only
when called).

>>> choice = choose({"slow": lambda: sum(range(20000)), "fast": lambda: None}, ChooserConfig(rounds=3))
>>> choice.path
'fast'
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from rosetta.runtime.choose import Choice, ChooserConfig, choose, kernel_candidates, time_candidates


def ort_matmul_integer(q: np.ndarray, threads: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """ONNX Runtime's MatMulInteger with the weights ``q`` (K, N) int8: (M, K) uint8 -> (M, N) int32."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    k, n = q.shape
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w"], ["y"])], "mmi",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, ["m", k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["m", n])],
        [numpy_helper.from_array(np.ascontiguousarray(q, dtype=np.int8), "w")])
    sess = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
                                _options(threads), providers=["CPUExecutionProvider"])
    return lambda a: sess.run(None, {"a": a})[0]


def ort_qlinear_conv(conv, q: np.ndarray, w_scale: np.ndarray, x_scale: float, y_scale: float, threads: int = 1,
                     x_zero: int = 0, y_zero: int = 0, bias: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """ONNX Runtime's QLinearConv for the ``nn.Conv2d`` ``conv`` with weights ``q`` (Cout, Cin, kh, kw) int8,
    per-channel ``w_scale`` and a float ``bias`` (quantized as ONNX Runtime's quantizer does: scale x_scale *
    w_scale): uint8 (B, Cin, H, W) -> uint8 (B, Cout, Ho, Wo)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    ph, pw = conv.padding
    ws = np.asarray(w_scale, np.float32)
    inits = [numpy_helper.from_array(np.ascontiguousarray(q, dtype=np.int8), "w"),
             numpy_helper.from_array(np.float32(x_scale), "xs"), numpy_helper.from_array(np.uint8(x_zero), "xz"),
             numpy_helper.from_array(ws, "ws"), numpy_helper.from_array(np.zeros(q.shape[0], np.int8), "wz"),
             numpy_helper.from_array(np.float32(y_scale), "ys"), numpy_helper.from_array(np.uint8(y_zero), "yz")]
    inputs = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    if bias is not None:
        inits.append(numpy_helper.from_array(np.rint(bias / (np.float32(x_scale) * ws)).astype(np.int32), "b"))
        inputs.append("b")
    node = helper.make_node("QLinearConv", inputs, ["y"],
                            kernel_shape=list(conv.kernel_size), strides=list(conv.stride), pads=[ph, pw, ph, pw])
    graph = helper.make_graph([node], "qconv", [helper.make_tensor_value_info("x", TensorProto.UINT8, None)],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
    sess = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
                                _options(threads), providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": x})[0]


def fbgemm_linear(q: np.ndarray, w_scale: np.ndarray, x_scale: float, y_scale: float):
    """PyTorch's quantized Linear (FBGEMM, 32-bit accumulation) with weights ``q`` (K, N) int8 and per-channel
    ``w_scale``: returns (quantize, run): quantize((M, K) uint8) -> its input tensor; run(that) -> quint8 (M, N)."""
    import torch

    _fbgemm()
    k, n = q.shape
    qw = torch._make_per_channel_quantized_tensor(torch.from_numpy(np.ascontiguousarray(q.T, dtype=np.int8)),
                                                  torch.from_numpy(w_scale.astype(np.float64)),
                                                  torch.zeros(n, dtype=torch.long), 0)
    lin = torch.ao.nn.quantized.Linear(k, n)
    lin.set_weight_bias(qw, None)
    lin.scale, lin.zero_point = float(y_scale), 0
    quant = lambda a: torch._make_per_tensor_quantized_tensor(torch.from_numpy(a), float(x_scale), 0)
    return quant, lin


def fbgemm_conv(conv, q: np.ndarray, w_scale: np.ndarray, x_scale: float, y_scale: float):
    """PyTorch's quantized Conv2d (FBGEMM) for ``conv`` with weights ``q`` (Cout, Cin, kh, kw) int8: returns
    (quantize, run): quantize(uint8 (B, Cin, H, W)) -> its channels-last input tensor; run(that) -> quint8."""
    import torch

    _fbgemm()
    qw = torch._make_per_channel_quantized_tensor(torch.from_numpy(np.ascontiguousarray(q, dtype=np.int8)),
                                                  torch.from_numpy(w_scale.astype(np.float64)),
                                                  torch.zeros(q.shape[0], dtype=torch.long), 0)
    qc = torch.ao.nn.quantized.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                      conv.padding, bias=False)
    qc.set_weight_bias(qw, None)
    qc.scale, qc.zero_point = float(y_scale), 0
    quant = lambda x: torch._make_per_tensor_quantized_tensor(torch.from_numpy(x), float(x_scale), 0).contiguous(
        memory_format=torch.channels_last)
    return quant, qc


def _fbgemm() -> None:
    import torch

    if "fbgemm" not in torch.backends.quantized.supported_engines:
        raise RuntimeError("this PyTorch has no FBGEMM backend")
    torch.backends.quantized.engine = "fbgemm"


def _options(threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return so


__all__ = ["Choice", "ChooserConfig", "choose", "fbgemm_conv", "fbgemm_linear", "kernel_candidates", "ort_matmul_integer", "ort_qlinear_conv",
           "time_candidates"]

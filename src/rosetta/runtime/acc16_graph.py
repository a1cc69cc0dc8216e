"""The int8 recognizer's QDQ graph read into plain data for the acc16 executor
(:mod:`rosetta.runtime.acc16_recognizer`): the float front as a small model (x -> NHWC uint8), each
DequantizeLinear -> Conv -> QuantizeLinear as a :class:`ConvSpec` (int8 weights, per-channel scales, int32 bias,
grids, stride, padding, and the graph's own nodes of it as a model for ONNX Runtime's QLinearConv, NHWC in and
out), each DequantizeLinear x 2 -> Add -> QuantizeLinear as an :class:`AddSpec` (a model ONNX Runtime fuses into
QLinearAdd), and the tail checked to be only a dequantization of the last uint8 tensor. Reading needs the ``onnx``
package; the result is saved as one .npz (:func:`save_spec`) and read back without it (:func:`load_spec`).

>>> spec = read_graph(MODEL)                                   # doctest: +SKIP
>>> [s.name for s in spec.steps][:2]                           # doctest: +SKIP
['stage1/down/down.0', 'stage1/conv1/conv1.2']
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rosetta.runtime.int8_conv import QuantParams

MODEL = Path(__file__).resolve().parent.parent / "models" / "recognizer.int8.onnx"


class UnsupportedGraph(ValueError):
    """The int8 graph holds something the executor does not run (it is then not offered)."""


@dataclass
class ConvSpec:
    """One int8 convolution of the graph: its weights and grids, and the graph's own nodes of it as a model
    (NHWC uint8 in, ``x_nhwc``, and out, ``y_nhwc``) for ONNX Runtime's QLinearConv."""
    name: str
    x: str  # the uint8 input tensor (a QuantizeLinear's output in the graph)
    y: str  # the uint8 output tensor
    q: np.ndarray  # (Cout, Cin, kh, kw) int8
    w_scale: np.ndarray  # (Cout,) float32
    bias: np.ndarray | None  # (Cout,) int32 on the grid x_scale * w_scale
    xq: QuantParams
    yq: QuantParams
    stride: tuple[int, int]
    padding: tuple[int, int]
    ort_model: bytes


@dataclass
class AddSpec:
    """A residual add: DequantizeLinear x 2 -> Add -> QuantizeLinear as a model (ONNX Runtime fuses it into
    QLinearAdd), inputs named ``a`` and ``b`` as in the graph."""
    name: str
    a: str
    b: str
    y: str
    model: bytes


@dataclass
class GraphSpec:
    """Everything the executor needs from the graph, as plain data (saved to the cache, so later loads need
    no ``onnx``): the float front as a model (x -> NHWC uint8 ``front_nhwc``), the steps in order, and the last
    uint8 tensor with its grid (the logits are it, dequantized)."""
    front: bytes
    front_out: str
    steps: list
    exit: str
    exit_q: QuantParams


def _options(threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.enable_cpu_mem_arena = False  # shapes change with every batch: as the runtime's sessions (issue 25)
    so.log_severity_level = 3
    return so


def ort_session(model: bytes | str, threads: int, disabled: Sequence[str] = ()):
    """An ONNX Runtime CPU session of ``model`` (a path or serialized bytes) at ``threads``, idle threads not
    spinning."""
    import onnxruntime as ort

    return ort.InferenceSession(model, _options(threads), providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled) or None)


def _submodel(graph, nodes: list, inputs: list, outputs: list, opset) -> bytes:
    """A model of ``nodes`` (the graph's own, plus extra ones) with the initializers they read, serialized."""
    from onnx import helper

    used = {i for n in nodes for i in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    g = helper.make_graph(nodes, "part", inputs, outputs, inits)
    return helper.make_model(g, opset_imports=opset).SerializeToString()


def _name(tensor: str) -> str:
    """'/model/stage1/conv1/conv1.2/Relu_output_0' -> 'stage1/conv1/conv1.2'."""
    parts = tensor.strip("/").split("/")
    parts = parts[1:] if parts and parts[0] == "model" else parts
    return "/".join(parts[:-1]) or tensor


def read_graph(path: Path) -> GraphSpec:
    """The steps of the int8 graph at ``path`` (needs ``onnx``; :class:`UnsupportedGraph` if it is not of the
    shape expected)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    arr = lambda name: numpy_helper.to_array(inits[name])
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def qparams(node) -> QuantParams:
        return QuantParams(float(arr(node.input[1])), int(arr(node.input[2])) if len(node.input) > 2 else 0)

    def is_q(t: str) -> bool:  # an activation quantized in the graph (a QuantizeLinear's output)
        p = producer.get(t)
        return p is not None and p.op_type == "QuantizeLinear"

    def dq_of_q(t: str):  # t = DequantizeLinear(a QuantizeLinear's output) -> that DQ node
        p = producer.get(t)
        return p if p is not None and p.op_type == "DequantizeLinear" and is_q(p.input[0]) else None

    def only_q(t: str):  # the single QuantizeLinear reading t, if that is all that reads it
        c = consumers.get(t, [])
        return c[0] if len(c) == 1 and c[0].op_type == "QuantizeLinear" else None

    uint8 = lambda name: helper.make_tensor_value_info(name, TensorProto.UINT8, None)
    transpose = lambda i, o, perm: helper.make_node("Transpose", [i], [o], perm=perm)
    steps: list = []
    for n in g.node:
        if n.op_type == "Conv" and dq_of_q(n.input[0]) and only_q(n.output[0]):
            dqx, qy = dq_of_q(n.input[0]), only_q(n.output[0])
            dqw = producer.get(n.input[1])
            dqb = producer.get(n.input[2]) if len(n.input) > 2 else None
            if dqw is None or dqw.op_type != "DequantizeLinear" or dqw.input[0] not in inits:
                raise UnsupportedGraph(f"{path}: {n.output[0]}: weights are not an int8 initializer")
            if dqb is not None and (dqb.op_type != "DequantizeLinear" or dqb.input[0] not in inits):
                raise UnsupportedGraph(f"{path}: {n.output[0]}: bias is not an int32 initializer")
            att = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            pads = list(att.get("pads", [0, 0, 0, 0]))
            if att.get("group", 1) != 1 or list(att.get("dilations", [1, 1])) != [1, 1] or pads[:2] != pads[2:]:
                raise UnsupportedGraph(f"{path}: {n.output[0]}: grouped, dilated or asymmetric convolution")
            q = arr(dqw.input[0])
            if q.dtype != np.int8 or q.ndim != 4 or np.any(arr(dqw.input[2]) != 0):
                raise UnsupportedGraph(f"{path}: {n.output[0]}: weights must be 2-D int8 kernels, zero points 0")
            xq, yq = qparams(dqx), qparams(qy)
            if xq != qparams(producer[dqx.input[0]]):
                raise UnsupportedGraph(f"{path}: {n.output[0]}: input dequantized on another grid")
            ws = np.ascontiguousarray(np.broadcast_to(arr(dqw.input[1]).astype(np.float32), (q.shape[0],)))
            bias = arr(dqb.input[0]).astype(np.int32) if dqb is not None else None
            nodes = [transpose("x_nhwc", dqx.input[0], [0, 3, 1, 2]), dqx, dqw] + ([dqb] if dqb is not None else []) \
                + [n, qy, transpose(qy.output[0], "y_nhwc", [0, 2, 3, 1])]
            ort_model = _submodel(g, nodes, [uint8("x_nhwc")], [uint8("y_nhwc")], model.opset_import)
            steps.append(ConvSpec(_name(n.output[0]), dqx.input[0], qy.output[0], q, ws, bias, xq, yq,
                                  tuple(att.get("strides", [1, 1])), tuple(pads[:2]), ort_model))
        elif n.op_type == "Add" and dq_of_q(n.input[0]) and dq_of_q(n.input[1]) and only_q(n.output[0]):
            da, db, qy = dq_of_q(n.input[0]), dq_of_q(n.input[1]), only_q(n.output[0])
            sub = _submodel(g, [da, db, n, qy], [uint8(da.input[0]), uint8(db.input[0])], [uint8(qy.output[0])],
                            model.opset_import)
            steps.append(AddSpec(_name(qy.output[0]), da.input[0], db.input[0], qy.output[0], sub))
    if not steps:
        raise UnsupportedGraph(f"{path}: no int8 convolution found")
    read = [t for st in steps for t in step_inputs(st)]
    produced = {st.y for st in steps}
    entries = sorted({t for t in read if t not in produced})
    if len(entries) != 1:
        raise UnsupportedGraph(f"{path}: expected one float front, found {entries}")
    front = _front(g, producer, entries[0], model.opset_import, transpose, uint8)
    exits = [st.y for st in steps if st.y not in read]
    if len(exits) != 1:
        raise UnsupportedGraph(f"{path}: expected one last int8 tensor, found {exits}")
    exit_q = _check_tail(g, consumers, exits[0], qparams(producer[exits[0]]), arr)
    return GraphSpec(front, entries[0], steps, exits[0], exit_q)


def step_inputs(step) -> tuple[str, ...]:
    return (step.x,) if isinstance(step, ConvSpec) else (step.a, step.b)


def _front(g, producer, out: str, opset, transpose, uint8) -> bytes:
    """The float front: every node from the graph's input to ``out`` (a uint8 tensor), then NCHW -> NHWC."""
    need, stack = set(), [out]
    while stack:
        t = stack.pop()
        p = producer.get(t)
        if p is None or id(p) in need:
            continue
        need.add(id(p))
        stack.extend(p.input)
    nodes = [n for n in g.node if id(n) in need]
    ins = [i for i in g.input if any(i.name in n.input for n in nodes)]
    if [i.name for i in ins] != ["x"]:
        raise UnsupportedGraph(f"the float front reads {[i.name for i in ins]}, expected only 'x'")
    return _submodel(g, nodes + [transpose(out, "front_nhwc", [0, 2, 3, 1])], ins, [uint8("front_nhwc")], opset)


def _check_tail(g, consumers, exit_: str, q: QuantParams, arr) -> QuantParams:
    """The nodes from the last uint8 tensor (B, C, 1, T) to the output must be Q/DQ on that same grid, a Squeeze
    of axis 2 and a Transpose (0, 2, 1): then the output is that tensor, in NHWC, dequantized."""
    from onnx import helper

    t, out, seen = exit_, g.output[0].name, []
    while t != out:
        c = consumers.get(t, [])
        if len(c) != 1:
            raise UnsupportedGraph(f"{t}: read by {len(c)} nodes after the last convolution")
        n = c[0]
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            if QuantParams(float(arr(n.input[1])), int(arr(n.input[2]))) != q:
                raise UnsupportedGraph(f"{n.name}: the tail changes the output grid")
        elif n.op_type == "Squeeze":
            if arr(n.input[1]).tolist() != [2]:
                raise UnsupportedGraph(f"{n.name}: squeeze of another axis than 2")
        elif n.op_type == "Transpose":
            if list(helper.get_attribute_value(n.attribute[0])) != [0, 2, 1]:
                raise UnsupportedGraph(f"{n.name}: another transpose than (0, 2, 1)")
        else:
            raise UnsupportedGraph(f"{n.name}: {n.op_type} after the last convolution")
        t = n.output[0]
        seen.append(n.op_type)
    if not seen or seen[0] != "DequantizeLinear" or seen[-1] != "DequantizeLinear":
        raise UnsupportedGraph("the output is not dequantized from the last int8 tensor")
    return q


def save_spec(spec: GraphSpec, path: Path) -> None:
    """``spec`` as one .npz (arrays, models as bytes, the rest as JSON), written atomically."""
    arrays: dict[str, np.ndarray] = {"front": np.frombuffer(spec.front, np.uint8)}
    steps = []
    for i, st in enumerate(spec.steps):
        if isinstance(st, ConvSpec):
            arrays.update({f"{i}.q": st.q, f"{i}.ws": st.w_scale, f"{i}.model": np.frombuffer(st.ort_model, np.uint8)})
            if st.bias is not None:
                arrays[f"{i}.bias"] = st.bias
            steps.append({"kind": "conv", "name": st.name, "x": st.x, "y": st.y,
                          "xq": [st.xq.scale, st.xq.zero_point], "yq": [st.yq.scale, st.yq.zero_point],
                          "stride": list(st.stride), "padding": list(st.padding)})
        else:
            arrays[f"{i}.model"] = np.frombuffer(st.model, np.uint8)
            steps.append({"kind": "add", "name": st.name, "a": st.a, "b": st.b, "y": st.y})
    meta = {"front_out": spec.front_out, "exit": spec.exit, "exit_q": [spec.exit_q.scale, spec.exit_q.zero_point],
            "steps": steps}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_spec(path: Path) -> GraphSpec:
    """What :func:`save_spec` wrote (no ``onnx`` needed)."""
    with np.load(path) as z:
        meta = json.loads(z["meta"].tobytes())
        steps: list = []
        for i, st in enumerate(meta["steps"]):
            if st["kind"] == "conv":
                steps.append(ConvSpec(st["name"], st["x"], st["y"], z[f"{i}.q"], z[f"{i}.ws"],
                                      z[f"{i}.bias"] if f"{i}.bias" in z.files else None, QuantParams(*st["xq"]),
                                      QuantParams(*st["yq"]), tuple(st["stride"]), tuple(st["padding"]),
                                      z[f"{i}.model"].tobytes()))
            else:
                steps.append(AddSpec(st["name"], st["a"], st["b"], st["y"], z[f"{i}.model"].tobytes()))
        return GraphSpec(z["front"].tobytes(), meta["front_out"], steps, meta["exit"], QuantParams(*meta["exit_q"]))


__all__ = ["AddSpec", "ConvSpec", "GraphSpec", "MODEL", "UnsupportedGraph", "load_spec", "ort_session", "read_graph",
           "save_spec", "step_inputs"]

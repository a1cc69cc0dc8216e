"""Small shipped graphs: float weights stored as float16, cast back to float32 when ONNX Runtime loads them.

The safetensors the graphs come from hold float16 weights already, so nothing is lost that was not lost there;
ONNX Runtime folds each Cast into a float32 constant when it builds the session, so inference runs in float32 as
before. Each graph also carries the sha256 of the safetensors file it was written from
(:data:`SOURCE_KEY`), so a graph left over from other weights is found out (:func:`rosetta.runtime.files.check_graph`).

>>> import numpy as np, onnx
>>> from onnx import helper, numpy_helper, TensorProto
>>> w = numpy_helper.from_array(np.full((4, 4), 0.1, np.float32), "w")
>>> g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
...                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
...                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
>>> m = compact(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), source="abc")
>>> [i.data_type == TensorProto.FLOAT16 for i in m.graph.initializer], m.graph.node[0].op_type
([True], 'Cast')
>>> import onnxruntime as ort
>>> s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
>>> round(float(s.run(None, {"x": np.ones((1, 4), np.float32)})[0][0, 0]), 3)
0.4
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rosetta.runtime.files import SOURCE_KEY, file_sha256  # the runtime checks the stamp written here

MIN_ELEMENTS = 16  # smaller float tensors (shapes, scalars) stay float32: nothing to save


def compact(model: onnx.ModelProto, source: str | None = None) -> onnx.ModelProto:
    """``model`` with every float32 initializer of at least :data:`MIN_ELEMENTS` values stored as float16 plus
    a Cast to float32 under the old name (so no consumer changes); ``source`` stamped as :data:`SOURCE_KEY`."""
    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < MIN_ELEMENTS:
            keep.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16")
        keep.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "__cast"))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = casts + list(graph.node)  # casts first: the node list stays in topological order
    del graph.node[:]
    graph.node.extend(nodes)
    if source is not None:
        entry = next((p for p in model.metadata_props if p.key == SOURCE_KEY), None) or model.metadata_props.add()
        entry.key, entry.value = SOURCE_KEY, source
    return model


def write_compact(src: Path, dest: Path, weights: Path | None = None) -> Path:
    """Compact the ONNX file ``src`` into ``dest`` (atomically), stamped with the sha256 of ``weights``."""
    model = compact(onnx.load(str(src)), file_sha256(weights) if weights is not None else None)
    onnx.checker.check_model(model)
    tmp = dest.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dest)
    return dest


__all__ = ["SOURCE_KEY", "compact", "write_compact", "file_sha256"]

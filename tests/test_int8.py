"""int8 models (ONNX Runtime static QDQ): the recognizer agrees with fp32 on clean words, the detector finds the
same boxes; stale or unsupported models refuse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rosetta.io import load_image
from rosetta.models import MODEL_DIR
from rosetta.ops.rotated import rotated_iou
from rosetta.quant.detector import build_int8 as build_detector_int8
from rosetta.quant.ort_int8 import quantize_recognizer
from rosetta.quant.recognizer import build_int8
from rosetta.train.predict import TorchDetector
from rosetta.train.predict import TorchRecognizer as Recognizer
from tests.test_recognition import render_word

WORDS = ["STATION", "coffee", "hello", "2024", "OPEN", "market", "Berlin", "TAXI", "Jazz", "station", "PIZZA",
         "garden", "EXIT", "hotel", "Zone", "river"]
FONTS = ["DejaVu Sans", "Liberation Serif", "Liberation Sans", "Noto Sans"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    for f in ("recognizer.safetensors", "recognizer.json"):
        shutil.copy(MODEL_DIR / f, d / f)
    calib = [render_word(w, f, s) for w in WORDS for f in FONTS for s in (28, 40)][:96]
    build_int8(d, calib)
    return d


def test_int8_agrees_with_fp32(folder):
    crops = [render_word(w, f, 34) for w in WORDS for f in FONTS[:2]]
    fp32, int8 = Recognizer.load(folder), Recognizer.load(folder, engine="int8")
    a, b = fp32(crops), int8(crops)
    same = np.mean([x[0] == y[0] for x, y in zip(a, b)])
    assert same >= 0.9, list(zip(a, b))  # stated tolerance: 90% identical strings on clean words
    assert np.mean([abs(x[1] - y[1]) for x, y in zip(a, b)]) < 0.05  # confidences within 0.05 on average


def test_unsupported_layer_raises_instead_of_falling_back(folder, tmp_path):
    class WithGelu(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, targets=None):
            logits, _ = self.inner(x)
            return torch.nn.functional.gelu(logits), None

    rec = Recognizer.load(folder)
    calib = [render_word(w, "DejaVu Sans", 34) for w in WORDS] * 3
    with pytest.raises(ValueError, match="unsupported layer"):
        quantize_recognizer(WithGelu(rec.model), calib, tmp_path / "x.onnx")


SAMPLES = sorted((Path(__file__).parents[1] / "src/rosetta/samples").glob("*.jpg"))


@pytest.fixture(scope="module")
def det_folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("det")
    for f in ("detector.safetensors", "detector.json"):
        shutil.copy(MODEL_DIR / f, d / f)
    photos = [load_image(p) for p in SAMPLES]
    build_detector_int8(d, photos + [np.ascontiguousarray(p[:, ::-1]) for p in photos])  # 8 calibration images
    return d


def test_int8_detector_finds_the_fp32_boxes(det_folder):
    fp32, int8 = TorchDetector.load(det_folder, engine="onnx"), TorchDetector.load(det_folder, engine="int8")
    images = [load_image(p) for p in SAMPLES]
    found, total = 0, 0
    for (a, _), (b, _) in zip(fp32(images), int8(images)):
        total += len(a)
        if len(a) and len(b):
            found += int((rotated_iou(torch.from_numpy(a), torch.from_numpy(b)).max(1).values >= 0.5).sum())
        assert abs(len(a) - len(b)) <= max(2, 0.3 * len(a))
    assert total >= 10 and found >= 0.8 * total  # stated tolerance: 80% of fp32 words found again at IoU 0.5


@pytest.mark.parametrize("name", ["recognizer", "detector"])
def test_stale_or_missing_int8_model_is_refused(name, request, tmp_path):
    source = request.getfixturevalue("folder" if name == "recognizer" else "det_folder")
    for f in (f"{name}.safetensors", f"{name}.json", f"{name}.int8.onnx", f"{name}.int8.json"):
        shutil.copy(source / f, tmp_path / f)
    load = (Recognizer if name == "recognizer" else TorchDetector).load
    (tmp_path / f"{name}.int8.json").write_text(json.dumps({"weights_sha1": "0" * 40}))
    with pytest.raises(ValueError, match="rosetta quantize"):
        load(tmp_path, engine="int8")
    (tmp_path / f"{name}.int8.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="rosetta quantize"):
        load(tmp_path, engine="int8")


def test_int8_detector_pools_its_float_stem_in_float(det_folder, tmp_path):
    """With the "pool" stem (a 3x3 convolution and a max-pool), the pool stays in float (ONNX Runtime would
    otherwise pool uint8 in a slow NCHW kernel): the built graph quantizes after the pool, and its stamp tells
    the session to keep it that way. The shipped detector's "patch4" stem has no pool, and no such rewrite."""
    import onnx
    import onnxruntime as ort

    from rosetta.detection.model import DetectorConfig, RotatedFasterRCNN
    from rosetta.models import load_weights, save_weights
    from rosetta.quant.ort_int8 import ORT_DISABLED_OPTIMIZERS, has_float_pool

    shipped, meta = load_weights("detector", det_folder)
    pool_stem = meta["model_config"].get("stem", "pool") == "pool"
    assert has_float_pool(det_folder / "detector.int8.onnx") == pool_stem
    assert json.loads((det_folder / "detector.int8.json").read_text())["ort_disabled_optimizers"] == (
        list(ORT_DISABLED_OPTIMIZERS) if pool_stem else [])
    model = RotatedFasterRCNN.build(DetectorConfig(stem="pool"))  # the shipped weights, a pool stem of its own
    own = model.state_dict()
    model.load_state_dict({k: v.float() for k, v in shipped.items() if own[k].shape == v.shape}, strict=False)
    save_weights("detector", model.state_dict(), {**meta, "model_config": {"width": 0.5, "stem": "pool"}}, tmp_path)
    build_detector_int8(tmp_path, [load_image(p) for p in SAMPLES] * 2)
    path = tmp_path / "detector.int8.onnx"
    assert has_float_pool(path)
    assert json.loads((tmp_path / "detector.int8.json").read_text())["ort_disabled_optimizers"] == list(
        ORT_DISABLED_OPTIMIZERS)
    opt = tmp_path / "optimized.onnx"
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(opt)
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"],
                         disabled_optimizers=list(ORT_DISABLED_OPTIMIZERS))
    nodes = onnx.load(str(opt)).graph.node
    pool = next(n for n in nodes if "MaxPool" in n.op_type)
    producers = {o: n for n in nodes for o in n.output}
    assert producers[pool.input[0]].op_type != "QuantizeLinear"  # pools floats, not uint8
    # ... in ONNX Runtime's blocked float layout, straight from the stem's convolution (the stem is exported
    # 32 channels wide for that: with ShuffleNet's 24 the pool ran in NCHW between two layout conversions)
    assert pool.domain == "com.microsoft.nchwc" and producers[pool.input[0]].op_type == "Conv"


def test_int8_graph_reads_shapes_from_quantized_tensors(det_folder):
    """No Shape node reads a dequantized tensor: ONNX Runtime would dequantize the whole map to read its shape."""
    import onnx

    nodes = onnx.load(str(det_folder / "detector.int8.onnx")).graph.node
    dequantized = {n.output[0] for n in nodes if n.op_type == "DequantizeLinear"}
    shapes = [n for n in nodes if n.op_type == "Shape"]
    assert shapes and not any(n.input[0] in dequantized for n in shapes)


def test_int8_detector_from_fine_tuned_weights(det_folder, tmp_path):
    """`rosetta quantize --detector-weights` builds the int8 graph from a fine-tuned checkpoint's network part;
    a checkpoint whose RoI head (outside that graph) differs from the folder's is refused."""
    from rosetta.quant.detector import int8_weights

    det = TorchDetector.load(det_folder)
    state = {k: v.clone() for k, v in det.model.state_dict().items()}
    state["trunk.stage2.0.branch2.0.0.weight"] *= 1.01
    torch.save({"model": state}, tmp_path / "ok.pt")
    model = int8_weights(det.model, tmp_path / "ok.pt")
    assert torch.equal(model.state_dict()["trunk.stage2.0.branch2.0.0.weight"], state["trunk.stage2.0.branch2.0.0.weight"])
    key = next(k for k in state if k.startswith("roi_heads.") and k.endswith("weight"))
    state[key] = state[key] + 0.1
    torch.save({"model": state}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="RoI head"):
        int8_weights(det.model, tmp_path / "bad.pt")


def test_int8_detector_is_calibrated_at_its_working_size(det_folder):
    """Activation ranges depend on the scale the network sees: calibration runs at the detector's own working
    size, through the same uint8 preparation as inference, and the stamp says which size."""
    from rosetta.quant.ort_int8 import detector_batches

    facts = json.loads((det_folder / "detector.int8.json").read_text())
    det = TorchDetector.load(det_folder)
    photo = load_image(SAMPLES[0])
    assert facts["calibration_size"] in {det.working_size(load_image(p).shape) for p in SAMPLES}
    size = det.working_size(photo.shape)
    (batch,) = detector_batches([photo], size)
    ref, _, _ = det.model.transform.from_uint8([photo], size)
    assert batch.shape == tuple(ref.shape) and np.array_equal(batch, ref.numpy())


def test_balanced_rpn_outputs_are_exact_in_float_and_finer_in_int8(det_folder, tmp_path):
    """The int8 graph's RPN outputs: logits floored at -12 and the five box-delta components scaled to one range
    inside the regression convolution, then scaled back by a float multiply after the rounding. In float that
    changes nothing but the floored logits; in the built graph the logits' rounding step is finer than their
    raw range allows and the unscaling multiply is done in float (by the RPN, on the anchors it selects)."""
    import onnx
    from onnx import numpy_helper

    from rosetta.engine.onnx import FEATURE_NAMES, DetectorFeatures
    from rosetta.quant.ort_int8 import detector_batches, rpn_delta_scale

    model = TorchDetector.load(det_folder).model.eval()
    x = torch.from_numpy(detector_batches([load_image(SAMPLES[0])], 640)[0])
    plain = DetectorFeatures(model)
    scale = rpn_delta_scale(plain, [x.numpy()])
    assert scale.shape == (5,) and scale.min() == 1.0 and scale.max() > 1.0  # the widest component keeps its range
    with torch.no_grad():
        a, b = plain(x), DetectorFeatures(model, -12.0, scale)(x)
    for name, u, v in zip(FEATURE_NAMES, a, b):
        want = u.clamp(min=-12.0) if name.startswith("l") else u
        torch.testing.assert_close(v, want, rtol=1e-4, atol=1e-4)
    assert float(a[FEATURE_NAMES.index("l0")].min()) < -12.0  # the floor does bite on real logits

    from dataclasses import replace

    from rosetta.quant.ort_int8 import DETECTOR_INT8

    for f in ("detector.safetensors", "detector.json"):
        shutil.copy(det_folder / f, tmp_path / f)
    build_detector_int8(tmp_path, [load_image(p) for p in SAMPLES] * 2, replace(DETECTOR_INT8, balance_rpn_outputs=True))
    assert json.loads((tmp_path / "detector.int8.json").read_text())["rpn_outputs"]["logit_floor"] == -12.0
    graph = onnx.load(str(tmp_path / "detector.int8.onnx")).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for i in range(3):
        q = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.name == f"l{i}_QuantizeLinear")
        low = -float(init[q.input[2]]) * float(init[q.input[1]])  # -zero_point * scale
        assert low >= -12.0 - 0.2, low
    unscale = json.loads(next(p.value for p in onnx.load(str(tmp_path / "detector.int8.onnx")).metadata_props
                              if p.key == "rosetta.dequantize"))
    assert all(min(unscale[f"d{i}"]["factor"]) < max(unscale[f"d{i}"]["factor"]) == 1.0 for i in range(3))  # after rounding


def test_int8_box_deltas_come_quantized_and_give_the_same_boxes(det_folder, tmp_path):
    """The int8 graph hands the RPN's box deltas over in uint8 (ONNX Runtime would dequantize every anchor's): the
    runtime dequantizes the anchors it selects (:class:`rosetta.runtime.proposals.QuantizedMap`), its proposals
    exactly those of the whole maps dequantized; the PyTorch path's runner dequantizes the whole maps, to the same
    floats (:func:`rosetta.train.predict.features_runner`)."""
    import onnxruntime as ort

    from rosetta import detect_batch
    from rosetta.runtime.detector import Detector
    from rosetta.runtime.proposals import QuantizedMap, propose

    sess = ort.InferenceSession(str(det_folder / "detector.int8.onnx"), providers=["CPUExecutionProvider"])
    assert [o.type for o in sess.get_outputs()][6:] == ["tensor(uint8)"] * 3
    for f in ("detector.safetensors", "detector.json", "detector.int8.onnx", "detector.int8.json"):
        shutil.copy(det_folder / f, tmp_path / f)
    shutil.copy(MODEL_DIR / "detector_roi.onnx", tmp_path / "detector_roi.onnx")  # the same weights' RoI head
    net = Detector.load(tmp_path, int8=True, threads=1).network
    ref = TorchDetector.load(det_folder, engine="int8")
    found = 0
    for p in SAMPLES:
        im = load_image(p)
        size = ref.working_size(im.shape)
        if net.pixel_input:
            batch, sizes, _ = detect_batch.patches([im], size, net.pixel_input)
        else:
            batch, sizes, _ = detect_batch.normalized([im], size)
        _, logits, deltas = net.maps(batch)
        assert all(isinstance(d, QuantizedMap) for d in deltas)
        whole = [(d.q.astype(np.float32) - d.zero_point) * d.scale * (1 if d.factor is None else d.factor)
                 for d in deltas]  # as ONNX Runtime would
        (got,), (want,) = propose(logits, deltas, sizes, net.rpn), propose(logits, whole, sizes, net.rpn)
        np.testing.assert_array_equal(got, want)
        found += len(got)
        _, (_, torch_deltas) = ref.model.features_engine(torch.from_numpy(batch))
        for t, w in zip(torch_deltas, whole):
            assert t.dtype == torch.float32
            np.testing.assert_array_equal(t.permute(0, 2, 3, 1).numpy(), w)
    assert found > 0


def test_patch4_int8_graph_reads_uint8_pixel_patches(tmp_path):
    """A patch4 detector's int8 graph reads the image's uint8 pixels in 4x4 patches, the normalization folded
    into its first convolution (int8, exact inputs): the same function as the normalized float graph, in
    float exactly and in int8 within the rounding of the maps."""
    import onnx
    import onnxruntime as ort

    from rosetta.detection.model import DetectorConfig, RotatedFasterRCNN
    from rosetta.detection.transform import DetectionTransform
    from rosetta.engine.onnx import FEATURE_NAMES, PIXEL_INPUT_KEY, DetectorFeatures
    from rosetta.quant.ort_int8 import DETECTOR_INT8, quantize_detector

    torch.manual_seed(0)
    model = RotatedFasterRCNN.build(DetectorConfig.from_arch({"width": 0.5, "stem": "patch4"})).eval()
    with torch.no_grad():  # BatchNorm statistics of a trained net, roughly: no dead or exploding maps
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.fill_(4.0)
    photos = [load_image(p) for p in SAMPLES]
    t = DetectionTransform(320)
    norm, _, _ = t.from_uint8(photos[:1], 320)
    patches, _, _ = t.patches(photos[:1], 320)
    with torch.no_grad():
        want = DetectorFeatures(model)(norm)
        got = DetectorFeatures(model, pixel_input=True)(patches.float())
    assert all(torch.allclose(a, b, atol=1e-3, rtol=1e-3) for a, b in zip(want, got))

    out = quantize_detector(model, photos + [np.ascontiguousarray(p[:, ::-1]) for p in photos], tmp_path / "d.onnx",
                            DETECTOR_INT8, size=320)
    graph = onnx.load(str(out))
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert {p.key: p.value for p in graph.metadata_props}[PIXEL_INPUT_KEY] == "4"
    assert not any(n.op_type == "QuantizeLinear" and n.input[0] == "x" for n in graph.graph.node)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": patches.numpy()})))
    p0 = torch.from_numpy(outs[FEATURE_NAMES[0]])
    ref = want[0]
    assert (p0 - ref).abs().mean() < 0.1 * ref.abs().mean()  # stated tolerance: 10% mean error on the finest map

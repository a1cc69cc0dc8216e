"""Run RapidOCR (1.4, ``rapidocr_onnxruntime``, PP-OCRv4; or 3.x, ``rapidocr``, PP-OCRv6 small) at one thread
and say, for each text line, where each character was decoded: a JSON request on stdin, a JSON answer on stdout.

    echo '{"mode": "ocr", "paths": ["img.jpg"]}' | /work/venvs/rapidocr3/bin/python benchmarks/rapidocr_worker.py
    echo '{"mode": "rec", "paths": ["crop.png"]}' | python benchmarks/rapidocr_worker.py   # the recognizer alone
    python benchmarks/rapidocr_worker.py --serve   # image paths in, one JSON line of lines out per image

rapidocr 3.x pins an OpenCV that clashes with 1.4's, so it lives in a venv of its own and this script runs in
whichever venv holds one of them (3.x is used where both import). It needs only the peer and numpy, never
rosetta: ``benchmarks/peers.py`` and ``benchmarks/peers_rec.py`` start it and score its answers.

``ocr`` answers, per image, the lines the peer keeps (its own text-score floor, 0.5): ``{"points": the line box's
corners in reading order, "text", "score", "cols": the CTC output column of each non-space character, "n_cols":
how many columns the line's crop spans}``, from the peer's own pipeline run step by step (detect, crop, turn
tall crops 90 degrees, direction classifier, recognise with ``return_word_box``). ``rec`` answers one text per
crop (read as the pipeline reads a crop: turned 90 degrees when at least 1.5x taller than wide; no direction
classifier). ``seconds``: the wall time of the whole request after one warm-up item.
"""

from __future__ import annotations

import json
import sys
import time

import cv2
import numpy as np

try:
    import rapidocr as _rapid3  # noqa: F401

    VERSION = 3
except ImportError:
    VERSION = 1


def _engine():
    if VERSION == 3:
        from rapidocr import RapidOCR

        eng = RapidOCR(params={"Global.log_level": "warning",
                               "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                               "EngineConfig.onnxruntime.inter_op_num_threads": 1})
        eng.update_params(return_word_box=True)
        return eng
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)


def _turned(box: np.ndarray) -> bool:
    """PP-OCR's rule (``get_rotate_crop_image``): a crop at least 1.5x taller than wide is turned 90 degrees."""
    w = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    h = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    return w > 0 and h / w >= 1.5


def _reading_order(box: np.ndarray, rotated90: bool, flipped: bool) -> np.ndarray:
    """Same as ``rosetta.eval_lines.reading_quad`` (this venv has no rosetta)."""
    if rotated90:
        box = box[[1, 2, 3, 0]]
    if flipped:
        box = box[[2, 3, 0, 1]]
    return box


def _char_cols(text: str, word_cols) -> list[int]:
    """The column of each non-space character: 1.4 lists a column for every character (spaces included), 3.x
    for the non-space ones only."""
    flat = [int(c) for group in word_cols for c in group]
    if len(flat) == len(text):
        return [c for ch, c in zip(text, flat) if not ch.isspace()]
    if len(flat) == sum(not ch.isspace() for ch in text):
        return flat
    raise ValueError(f"{len(flat)} columns for the line {text!r}")


def _to_original(boxes: np.ndarray, op_record: dict, h: int, w: int) -> np.ndarray:
    """Boxes from the peer's working image back to the input image (its ``_get_origin_points``)."""
    b = np.array(boxes, np.float32)
    for op in reversed(list(op_record)):
        v = op_record[op]
        if "padding" in op:
            b[:, :, 0] -= v["left"]
            b[:, :, 1] -= v["top"]
        elif "preprocess" in op:
            b[:, :, 0] *= v["ratio_w"]
            b[:, :, 1] *= v["ratio_h"]
    b[..., 0] = np.clip(b[..., 0], 0, w)
    b[..., 1] = np.clip(b[..., 1], 0, h)
    return b


def _lines_v1(eng, path: str) -> list[dict]:
    img = eng.load_img(path)
    raw_h, raw_w = img.shape[:2]
    img, ratio_h, ratio_w = eng.preprocess(img)
    op_record = {"preprocess": {"ratio_h": ratio_h, "ratio_w": ratio_w}}
    img, op_record = eng.maybe_add_letterbox(img, op_record)
    boxes, _ = eng.auto_text_det(img)
    if boxes is None:
        return []
    boxes = np.array(boxes, np.float32)
    crops = eng.get_crop_img_list(img, list(boxes))
    crops, cls_res, _ = eng.text_cls(crops)
    rec, _ = eng.text_rec(crops, True)
    flips = ["180" in lab and score > eng.text_cls.cls_thresh for lab, score in cls_res]
    out = []
    for box, orig, flip, (text, score, info) in zip(boxes, _to_original(boxes, op_record, raw_h, raw_w), flips, rec):
        if score < eng.text_score or not text.strip():
            continue
        n_cols, _, word_cols = info[0], info[1], info[2]
        out.append({"points": _reading_order(orig, _turned(box), flip).tolist(), "text": text, "score": float(score),
                    "cols": _char_cols(text, word_cols), "n_cols": float(n_cols)})
    return out


def _lines_v3(eng, path: str) -> list[dict]:
    from rapidocr.utils.process_img import map_boxes_to_original

    ori = eng.load_img(path)
    img, op_record = eng.preprocess_img(ori)
    det, cls, rec, _ = eng.run_ocr_steps(img, op_record)
    if det.boxes is None or rec.txts is None:
        return []
    boxes = np.array(det.boxes, np.float32)
    orig = map_boxes_to_original(boxes.copy(), op_record, *ori.shape[:2])
    flips = ["180" in lab and score > eng.text_cls.cls_thresh for lab, score in cls.cls_res]
    out = []
    for box, o, flip, text, score, info in zip(boxes, orig, flips, rec.txts, rec.scores, rec.word_results):
        if score < eng.text_score or not text.strip():
            continue
        out.append({"points": _reading_order(o, _turned(box), flip).tolist(), "text": text, "score": float(score),
                    "cols": _char_cols(text, info.word_cols), "n_cols": float(info.line_txt_len)})
    return out


def _read_crops(eng, paths: list[str]) -> list[str]:
    crops = []
    for p in paths:
        im = cv2.imread(p, cv2.IMREAD_COLOR)
        if im is None:
            raise SystemExit(f"rapidocr_worker: cannot read {p}")
        h, w = im.shape[:2]
        crops.append(np.ascontiguousarray(np.rot90(im)) if w > 0 and h / w >= 1.5 else im)
    if VERSION == 3:
        from rapidocr.ch_ppocr_rec import TextRecInput

        if eng.text_rec is None:  # loaded on first use
            eng(crops[0], use_det=False, use_cls=False, use_rec=True)
        return list(eng.text_rec(TextRecInput(img=crops)).txts)
    return [t for t, _ in eng.text_rec(crops)[0]]


def serve() -> None:
    """``--serve``: one image path a line on stdin, one JSON line back (``{"lines", "seconds"}``: that image's
    lines and the wall time to read it), after a first ``{"ready": true}`` once the engine is built; at end of
    input, ``{"peak_rss_mb"}``. For interleaved timing."""
    import resource

    eng = _engine()
    run = _lines_v3 if VERSION == 3 else _lines_v1
    print(json.dumps({"ready": True}), flush=True)  # the engine is built: the caller times the start-up
    for path in sys.stdin:
        t = time.perf_counter()
        lines = run(eng, path.strip())
        print(json.dumps({"lines": lines, "seconds": time.perf_counter() - t}), flush=True)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    req = json.load(sys.stdin)
    eng = _engine()
    paths = req["paths"]
    if req["mode"] == "ocr":
        run = _lines_v3 if VERSION == 3 else _lines_v1
        run(eng, paths[0])  # warm up
        t = time.perf_counter()
        results = [run(eng, p) for p in paths]
    elif req["mode"] == "rec":
        _read_crops(eng, paths[:1])
        t = time.perf_counter()
        results = []
        for k in range(0, len(paths), 256):
            results += _read_crops(eng, paths[k:k + 256])
    else:
        raise SystemExit(f"rapidocr_worker: unknown mode {req['mode']!r} (ocr or rec)")
    json.dump({"version": VERSION, "seconds": time.perf_counter() - t, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()

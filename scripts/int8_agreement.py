"""How far an int8 detector's boxes stray from the float detector's, on training images: a low-noise measure.

e2e hmean moves by a point or two under invisible input noise, so it cannot tell int8 variants apart on a few
hundred images. This matches each int8 detector's boxes (at the shipped threshold) to the float detector's on
the same images and reports the mean rotated IoU of the matches, the float boxes lost (no int8 box at IoU >=
0.5) and the extra int8 boxes, how many matches are under 0.8 and 0.9, the matched boxes' score shift (int8
minus float: a bias would call for thresholds of the int8 detector's own) and the boxes over 0.5 and 0.7.
Two references give the scale:

* ``noise``: the float detector on the images plus +-1 grey level of uniform noise (invisible to a person);
* ``int8-roi-head``: the float graph with only the RoI head's fully connected layers in int8 (FBGEMM).

Build variants with ``rosetta quantize detector --out FOLDER`` (a copy of the model folder) and its
``--float-scope`` / ``--weights-8bit`` switches, then:

    python scripts/int8_agreement.py --images 1-60 noise int8-roi-head src/rosetta/models /tmp/variant
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def agreement(ref: list[tuple[np.ndarray, np.ndarray]], other: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Match ``other``'s boxes to ``ref``'s image by image (best rotated IoU per reference box).

    >>> a = [(np.array([[10., 10., 20., 8., 0.]], np.float32), np.ones(1, np.float32))]
    >>> agreement(a, a)["mean_iou"], agreement(a, [(np.zeros((0, 5), np.float32), np.zeros(0))])["lost"]
    (1.0, 1)
    """
    from rosetta.ops.rotated import rotated_iou

    ious: list[float] = []
    diffs: list[float] = []  # other's score minus ref's, matched boxes
    lost = extra = total = 0
    for (rb, rs), (ob, os_) in zip(ref, other):
        total += len(rb)
        if not len(rb) or not len(ob):
            lost, extra = lost + len(rb), extra + len(ob)
            continue
        m = rotated_iou(torch.from_numpy(rb).double(), torch.from_numpy(ob).double()).numpy()  # (R, O)
        best, at = m.max(1), m.argmax(1)
        ious += best[best >= 0.5].tolist()
        diffs += (os_[at] - rs)[best >= 0.5].tolist()
        lost += int((best < 0.5).sum())
        extra += int((m.max(0) < 0.5).sum())
    iou = np.array(ious)
    return {"ref_boxes": total, "lost": lost, "extra": extra,
            "mean_iou": round(float(iou.mean()), 4) if len(iou) else None,
            "iou_under_0.8": int((iou < 0.8).sum()), "iou_under_0.9": int((iou < 0.9).sum()),
            "score_diff_mean": round(float(np.mean(diffs)), 4) if diffs else None,
            "score_diff_sd": round(float(np.std(diffs)), 4) if diffs else None,
            "boxes_over_0.5": [int(sum((s >= 0.5).sum() for _, s in ref)), int(sum((s >= 0.5).sum() for _, s in other))],
            "boxes_over_0.7": [int(sum((s >= 0.7).sum() for _, s in ref)), int(sum((s >= 0.7).sum() for _, s in other))]}


def main() -> None:
    from rosetta.cli_eval import ic15_training_rows
    from rosetta.detection.detector import Detector
    from rosetta.eval import noisy_copies

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="+", help="model folders with a detector.int8.onnx, or noise / int8-roi-head")
    ap.add_argument("--images", default="1-60", help="ICDAR 2015 dev image numbers (training images only)")
    ap.add_argument("--score-thresh", type=float, default=None,
                    help="keep boxes scored from this up (default: the detector's own), e.g. 0.3 to see score shifts")
    ap.add_argument("--float", dest="float_folder", default=None,
                    help="model folder of the float detector the variants are built from (default: the shipped one)")
    a = ap.parse_args()
    _, images = ic15_training_rows(a.images, "int8_agreement")
    torch.set_num_threads(1)
    def with_thresh(det: Detector) -> Detector:
        return det.with_config(score_thresh=a.score_thresh) if a.score_thresh is not None else det

    base = Path(a.float_folder) if a.float_folder else None
    fp32 = with_thresh(Detector.load(base, engine="onnx"))
    ref = [fp32([im])[0] for im in images]
    for name in a.variants:
        if name == "noise":
            out = [fp32([im])[0] for im in noisy_copies(images, 1)]
        else:
            if name == "int8-roi-head":
                det = Detector.load(base, engine="onnx")
                det.model.roi_heads.head = Detector.load(base, engine="int8").model.roi_heads.head
            else:
                det = Detector.load(Path(name), engine="int8")
            det = with_thresh(det)
            out = [det([im])[0] for im in images]
        print(json.dumps({"variant": name, **agreement(ref, out)}), flush=True)


if __name__ == "__main__":
    main()

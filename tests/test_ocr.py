"""OCR pipeline: inputs of every kind, batch order and errors, and upright crops of rotated words."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from rosetta import OCR, ImageError, ReadConfig, Result
from rosetta.geometry import rotated_crop
from tests.test_recognition import render_word


class OracleDetector:
    """Stands in for the detector: returns the boxes it was given (tests the rest of the pipeline)."""

    meta = {"version": "oracle"}

    def __init__(self, boxes: list[list[float]]):
        self.boxes = np.float32(boxes).reshape(-1, 5)

    def __call__(self, images):
        return [(self.boxes, np.ones(len(self.boxes), np.float32)) for _ in images]


def _rotated_scene(text: str, angle: float) -> tuple[np.ndarray, list[float]]:
    word = render_word(text, "DejaVu Sans", 44)
    h, w = word.shape
    canvas = np.full((400, 500), 255, np.uint8)
    canvas[200 - h // 2:200 - h // 2 + h, 250 - w // 2:250 - w // 2 + w] = word
    m = cv2.getRotationMatrix2D((250, 200), angle, 1.0)  # cv2: positive = counter-clockwise on screen
    rot = cv2.warpAffine(canvas, m, (500, 400), borderValue=255)
    return np.repeat(rot[..., None], 3, 2), [250.0, 200.0, float(w - 12), float(h - 8), float(angle)]


@pytest.fixture(scope="module")
def ocr_factory():
    from rosetta.train.predict import TorchRecognizer as Recognizer

    rec = Recognizer.load()
    return lambda boxes: OCR(detector=OracleDetector(boxes), recognizer=rec)


@pytest.mark.parametrize("angle", [0.0, 30.0, -55.0, 90.0])
def test_rotated_words_are_cropped_upright_and_read(ocr_factory, angle):
    img, box = _rotated_scene("HARBOUR", angle)
    crop = rotated_crop(img, box, 0.0)
    assert crop.shape[1] > crop.shape[0]  # upright: wider than tall
    res = ocr_factory([box])(img)
    assert [w.text.casefold() for w in res.words] == ["harbour"]  # case-insensitive, as the standard protocol
    assert res.words[0].box.angle == pytest.approx(angle, abs=0.01)


def test_every_input_kind_gives_the_same_result(ocr_factory):
    img, box = _rotated_scene("coffee", 10.0)
    ocr = ocr_factory([box])
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    results = [ocr(img), ocr(buf.getvalue()), ocr(Image.fromarray(img))]
    assert all(r.words == results[0].words for r in results) and results[0].text.lower() == "coffee"


def test_batch_keeps_order_and_reports_bad_inputs(ocr_factory, tmp_path):
    img, box = _rotated_scene("coffee", 0.0)
    ocr = ocr_factory([box])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really")
    out = ocr.batch([img, str(bad), np.zeros((3, 3), np.uint8), img])
    assert [type(r) for r in out] == [Result] * 4
    assert out[0].text.lower() == "coffee" and out[3].text == out[0].text
    assert out[1].error and "bad.jpg" in out[1].error and out[1].words == ()
    assert out[2].error is None
    with pytest.raises(ImageError, match="bad.jpg"):
        ocr(str(bad))


def test_tiny_and_blank_images_give_empty_results():
    ocr = OCR()
    assert ocr(np.zeros((4, 4, 3), np.uint8)).words == ()
    assert ocr(np.full((300, 400, 3), 255, np.uint8)).words == ()


def test_onnx_and_torch_detectors_agree():
    """The ONNX graph hands the RoI head maps that already went through its 1x1 reduction (the two commute
    with RoI align); the boxes and scores are PyTorch's own."""
    from rosetta.io import load_image
    from rosetta.train.predict import TorchDetector

    img = load_image(str(__import__("pathlib").Path(__file__).parents[1] / "src/rosetta/samples/sign_latin.jpg"))
    a = TorchDetector.load(engine="torch").with_config(score_thresh=0.05)([img])[0]
    onnx = TorchDetector.load(engine="onnx").with_config(score_thresh=0.05)
    assert onnx.model.features_engine.roi_reduced
    b = onnx([img])[0]
    assert len(a[0]) == len(b[0]) > 0
    if len(a[0]):
        assert np.abs(a[0] - b[0]).max() < 0.5 and np.abs(a[1] - b[1]).max() < 1e-3


def test_one_ocr_read_from_two_threads_gives_the_serial_results():
    """The HTTP service's lanes call one OCR concurrently: results must not mix."""
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from rosetta.io import load_image

    ocr = OCR(ReadConfig(threads=1))
    images = [load_image(p) for p in sorted((Path(__file__).parents[1] / "src/rosetta/samples").glob("*.jpg"))]
    serial = [ocr.read_arrays([im], ["x"])[0].to_dict()["words"] for im in images]
    assert sum(len(w) for w in serial) > 0
    with ThreadPoolExecutor(2) as pool:
        for _ in range(2):
            parallel = list(pool.map(lambda im: ocr.read_arrays([im], ["x"])[0].to_dict()["words"], images))
            assert parallel == serial


def test_words_read_with_low_confidence_are_dropped_unless_asked_for():
    """A word and a patch of noise: the noise is read with low confidence and dropped by default
    (the shipped recognizer card's ``min_confidence``), kept with ``min_confidence=0``; the word stays in both.
    One read per box (voting over several reads may leave noise with no text at all, dropped either way)."""
    from rosetta.train.predict import TorchRecognizer as Recognizer

    img, box = _rotated_scene("market", 0.0)
    noise = np.random.default_rng(0).integers(0, 256, (60, 200, 3), dtype=np.uint8)
    img = img.copy()
    img[20:80, 20:220] = noise
    boxes = [box, [120.0, 50.0, 200.0, 60.0, 0.0]]
    rec = Recognizer.load()
    once = ReadConfig(reread_margins=())
    strict = OCR(once, detector=OracleDetector(boxes), recognizer=rec)
    loose = OCR(ReadConfig(reread_margins=(), min_confidence=0.0), detector=OracleDetector(boxes), recognizer=rec)
    floor = rec.meta["min_confidence"]
    assert strict.config.min_confidence == floor > 0.5
    kept, everything = strict(img).words, loose(img).words
    assert [w.text.casefold() for w in kept] == ["market"] and kept[0].confidence >= floor
    assert len(everything) == 2 and min(w.confidence for w in everything) < floor
    rec.meta = {k: v for k, v in rec.meta.items() if k != "min_confidence"}  # the floor travels with the card
    assert OCR(detector=OracleDetector(boxes), recognizer=rec).config.min_confidence == 0.0
    rec.meta["min_confidence"] = 0.25
    assert OCR(detector=OracleDetector(boxes), recognizer=rec).config.min_confidence == 0.25


def test_the_reading_threshold_travels_in_the_detector_card():
    """The detector's threshold when words are read: ReadConfig.score_thresh, else the card's
    ``read_score_thresh``, else the detector's own (for detection alone); the detector then keeps boxes
    down to it."""
    from rosetta.runtime.detector import Detector
    from rosetta.train.predict import TorchRecognizer as Recognizer

    det, rec = Detector.load(), Recognizer.load()
    own = det.config.score_thresh
    det.meta.pop("read_score_thresh", None)
    assert OCR(detector=det, recognizer=rec).detector.config.score_thresh == own
    det.meta["read_score_thresh"] = 0.55
    ocr = OCR(detector=det, recognizer=rec)
    assert ocr.detector.config.score_thresh == 0.55 and ocr.config.score_thresh == 0.55
    assert det.config.score_thresh == own  # the detector given is not changed
    ocr = OCR(ReadConfig(score_thresh=0.9), detector=det, recognizer=rec)
    assert ocr.detector.config.score_thresh == 0.9


def test_rereads_keep_each_boxs_most_confident_read():
    """With ``reread_margins`` each box is cropped at every margin and read; the read with the highest
    confidence is kept, in box order (the stub recognizer is surest of the widest crop)."""
    from dataclasses import replace

    class WidthRecognizer:
        meta = {"version": "stub", "min_confidence": 0.0}

        def __call__(self, crops, scripts=None):
            return [(f"w{c.shape[1]}", c.shape[1] / 1000) for c in crops]

    img, box = _rotated_scene("market", 0.0)
    boxes = [box, [120.0, 50.0, 100.0, 30.0, 0.0]]
    once = OCR(ReadConfig(reread_margins=()), detector=OracleDetector(boxes), recognizer=WidthRecognizer())(img).words
    cfg = ReadConfig(reread_margins=(0.0, 0.4), combine="max")
    again = OCR(cfg, detector=OracleDetector(boxes), recognizer=WidthRecognizer())(img).words
    assert len(once) == len(again) == 2
    for a, b in zip(once, again):
        assert int(b.text[1:]) > int(a.text[1:]) and b.confidence == max(b.confidence, a.confidence)
        assert b.box == a.box


def test_reads_vote_two_agreeing_crops_beat_one_surer_misread():
    """With ``combine="vote"`` a box's reads are pooled by text: two narrow crops reading "CAT"
    outvote the widest crop's surer "CAR", and the word keeps its best agreeing read's confidence. Crops are
    cut at (along, across) margins: the widest here is 0.4 along and 0.0 across."""
    from dataclasses import replace

    class WideMisreads:
        meta = {"version": "stub", "min_confidence": 0.0}

        def __init__(self):
            self.shapes = []

        def __call__(self, crops, scripts=None):
            self.shapes += [c.shape[:2] for c in crops]
            widest = max(c.shape[1] for c in crops)
            return [("CAR", 0.9) if c.shape[1] == widest else ("CAT", 0.6 + c.shape[1] / 10000) for c in crops]

    img, box = _rotated_scene("market", 0.0)
    cfg = ReadConfig(crop_margin=0.0, reread_margins=(0.1, (0.4, 0.0)), combine="vote")
    rec = WideMisreads()
    (voted,) = OCR(cfg, detector=OracleDetector([box]), recognizer=rec)(img).words
    h = box[3]
    assert [s[0] for s in rec.shapes] == [round(h), round(1.2 * h), round(h)]  # across: 0, 0.1, 0
    assert voted.text == "CAT" and voted.confidence == max(0.6 + w / 10000 for _, w in rec.shapes[:2])
    (surest,) = OCR(replace(cfg, combine="max"), detector=OracleDetector([box]), recognizer=WideMisreads())(img).words
    assert (surest.text, surest.confidence) == ("CAR", 0.9)
    with pytest.raises(ValueError, match="combine"):
        replace(cfg, combine="mean")


def test_read_boxes_reads_given_boxes_as_the_pipeline_would(ocr_factory):
    """``OCR.read_boxes`` skips detection: the words of boxes handed to it are those the pipeline reads when
    its detector finds the same boxes (text, confidence, box), with the scores given; a box over blank paper
    yields no word; scores that do not match the boxes are refused."""
    img, box = _rotated_scene("HARBOUR", 30.0)
    blank = [60.0, 60.0, 80.0, 30.0, 0.0]
    ocr = ocr_factory([box, blank])
    found = ocr(img).words
    given = ocr.read_boxes(img, [box, blank], scores=[0.7, 0.9], name="scene").words
    assert [w.text for w in given] == [w.text for w in found] == ["HARBOUR"]
    assert given[0].confidence == found[0].confidence and given[0].box == found[0].box
    assert given[0].score == pytest.approx(0.7) and found[0].score == 1.0
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        ocr.read_boxes(img, [box, blank], scores=[0.5])


def test_an_images_words_do_not_depend_on_the_other_images_read_with_it():
    """``OCR.batch`` reads each image as ``OCR()`` reads it alone: the recognizer pads crops that share a batch
    to one width and a read moves a little with that padding, so crops of different images never share one
    (before, 3 of the 4 bundled samples came out with other confidences or words when read together)."""
    from pathlib import Path

    from rosetta.io import load_image

    images = [load_image(p) for p in sorted((Path(__file__).parents[1] / "src/rosetta/samples").glob("*.jpg"))]
    ocr = OCR(ReadConfig(threads=1))
    alone = [ocr(im).to_dict()["words"] for im in images]
    together = [r.to_dict()["words"] for r in ocr.batch(images)]
    assert sum(len(w) for w in alone) >= 10 and together == alone


def test_only_unsure_first_reads_are_read_again():
    """``ReadConfig.reread_below``: a box whose first read (at ``crop_margin``) is at least that sure is not read
    again; the others are read at every re-read margin and the surest read wins, as without the switch."""
    from dataclasses import replace

    class SureOfWideBoxes:  # sure of the first read of a wide box, unsure of a narrow one; re-reads read "FIX"
        meta = {"version": "stub", "min_confidence": 0.0}

        def __init__(self):
            self.calls: list[int] = []

        def __call__(self, crops, scripts=None):
            self.calls.append(len(crops))
            if len(self.calls) > 1:
                return [("FIX", 0.8)] * len(crops)
            return [("WIDE", 0.99) if c.shape[1] > 3 * c.shape[0] else ("NARROW", 0.5) for c in crops]

    img = np.full((300, 600, 3), 255, np.uint8)
    boxes = [[150.0, 100.0, 200.0, 30.0, 0.0], [400.0, 200.0, 60.0, 40.0, 0.0], [300.0, 250.0, 250.0, 30.0, 0.0]]
    cfg = ReadConfig(crop_margin=0.1, reread_margins=(0.05, 0.2), min_confidence=0.0)
    rec = SureOfWideBoxes()
    words = OCR(replace(cfg, reread_below=0.9), detector=OracleDetector(boxes), recognizer=rec)(img).words
    assert rec.calls == [3, 2]  # three first reads; the one unsure box read at the two other margins
    assert [(w.text, w.confidence) for w in words] == [("WIDE", 0.99), ("FIX", 0.8), ("WIDE", 0.99)]
    rec = SureOfWideBoxes()
    words = OCR(cfg, detector=OracleDetector(boxes), recognizer=rec)(img).words  # default: every box at every margin, one call
    assert rec.calls == [9] and [w.text for w in words] == ["WIDE", "NARROW", "WIDE"]


def test_detector_scale_and_long_side_cap_reach_the_detector_from_api_and_cli():
    """``ReadConfig(scale=, max_side=)`` and ``--scale/--max-side`` on read, batch and serve: a 463x1000 receipt is
    seen at 1250 px by default (the card's 1.25, cap 1600) and at 2500 px with 2.5 / 2500; nonsense is refused."""
    from rosetta.cli import build_parser

    receipt = (1000, 463, 3)
    assert OCR().detector.working_size(receipt) == 1250
    ocr = OCR(ReadConfig(scale=2.5, max_side=2500))
    assert ocr.detector.working_size(receipt) == 2500 and ocr.detector.working_size((720, 1280, 3)) == 2500
    assert OCR(ReadConfig(max_side=800)).detector.working_size((720, 1280, 3)) == 800
    with pytest.raises(ValueError, match="scale must be"):
        ReadConfig(scale=0.0)
    for cmd in (["read", "x.jpg"], ["batch", "in", "-o", "out"], ["serve"]):
        args = build_parser().parse_args([*cmd, "--scale", "2.5", "--max-side", "2500"])
        assert (args.scale, args.max_side) == (2.5, 2500)
        with pytest.raises(SystemExit) as exc:  # argparse: a usage error, exit 2, not a traceback
            build_parser().parse_args([*cmd, "--scale", "0"])
        assert exc.value.code == 2
    from rosetta.engine.batch import BatchConfig, make_ocr
    from rosetta.engine.serve import ServeConfig

    chosen = ReadConfig(scale=2.5, max_side=2500)
    assert make_ocr(BatchConfig(output="out", read=chosen)).detector.working_size(receipt) == 2500
    served = ServeConfig.from_dict(ServeConfig(read=chosen).to_dict())  # as the service's workers receive it
    assert served.read == chosen


def test_small_print_is_detected_again_larger():
    """``ReadConfig.dense_words``: when the first detection finds many small words (a receipt), the image is
    detected again at the small-print scale and those boxes are read; few words, large words, or a scale the
    caller chose leave the first detection alone."""
    from rosetta.runtime.detector import Detector

    class Canned(Detector):  # the shipped detector's settings, with canned boxes instead of the network
        def __init__(self, real: Detector, n: int, height: float):
            self.__dict__.update(real.__dict__)
            self.n, self.height, self.calls = n, height, 0

        def __call__(self, images):
            self.calls += 1
            boxes = np.float32([[40 + 5 * i, 50, 30, self.height, 0] for i in range(self.n)]).reshape(-1, 5)
            return [(boxes, np.ones(self.n, np.float32)) for _ in images]

    receipt = np.full((1000, 463, 3), 255, np.uint8)  # first seen at 1250 px (x1.25), then at 2500
    ocr = OCR(ReadConfig(small_words=None))  # few small words have their own pass (the next test)
    first = Canned(ocr.detector, 40, 12.0)  # 40 words 15 px tall as seen: small print
    ocr.detector, ocr.dense_detector = first, Canned(ocr.dense_detector, 3, 20.0)
    assert len(ocr(receipt).words) <= 3 and first.calls == 1 and ocr.dense_detector.calls == 1
    for n, height in ((10, 12.0), (40, 40.0)):  # few words; words 50 px tall as seen
        ocr.detector, ocr.dense_detector = Canned(first, n, height), Canned(first, 3, 20.0)
        ocr(receipt)
        assert ocr.dense_detector.calls == 0
    chosen = OCR(ReadConfig(scale=1.25))  # the caller's scale: a page is detected again at it, only with room for more words
    assert chosen.dense_detector.config.upscale == 1.25 and chosen.dense_detector.config.limits == (3000, 2000, 2000)
    chosen.detector, chosen.dense_detector = Canned(first, 40, 40.0), Canned(first, 3, 20.0)
    chosen(receipt)
    assert chosen.dense_detector.calls == 1


def test_a_few_small_words_are_detected_again_at_the_scale_they_need():
    """``ReadConfig.small_words``: a banner with two lines of 7-11 px text (seen at 9-14 px by the photo
    setting) is detected again at the scale that shows its words ~28 px tall, and reads far more of them than
    the first detection; large words are not detected twice."""
    from PIL import ImageDraw, ImageFont

    want = "free shipping on orders over contact support today".split()
    font_file = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

    def banner(size: int) -> np.ndarray:
        page = Image.new("RGB", (900, 300), (240, 244, 250))
        draw, font = ImageDraw.Draw(page), ImageFont.truetype(font_file, size)
        draw.text((40, 60), "Free shipping on orders over", fill=(20, 30, 90), font=font)
        draw.text((500, 200), "Contact support today", fill=(90, 20, 20), font=font)
        return np.array(page)

    def right(ocr: OCR, img: np.ndarray) -> int:
        return len({w.text.lower() for w in ocr(img).words} & set(want))

    ocr, first_only = OCR(), OCR(ReadConfig(small_words=None))
    small = [banner(size) for size in range(7, 12)]
    for img in small:
        scale = ocr.small_words_scale(img, ocr.detector([img])[0])
        assert scale is not None and scale > 1.8  # first seen at 1.25x
    assert sum(right(ocr, img) for img in small) >= sum(right(first_only, img) for img in small) + 5
    large = banner(24)
    assert ocr.small_words_scale(large, ocr.detector([large])[0]) is None
    assert right(ocr, large) == right(first_only, large) >= 7


def test_a_page_of_small_print_is_not_capped_at_the_photo_settings_200_words():
    """A 1280x800 page of ~700 words at 14 px: the photo setting stops at 200 proposals, so at most 200 words
    (it found ~150 and read 20% of the page); the small-print pass has room for them all (it finds > 600)."""
    import random

    from PIL import ImageDraw, ImageFont

    rng = random.Random(3)
    words = ["market", "river", "station", "coffee", "number", "garden", "window", "orange", "silver", "planet"]
    page = Image.new("RGB", (1280, 800), (248, 248, 250))
    draw, font = ImageDraw.Draw(page), ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 14)
    n = 0
    for y in range(10, 780, 22):
        x = 10
        while x < 1200:
            w = rng.choice(words)
            draw.text((x, y), w, fill=(30, 30, 30), font=font)
            x += draw.textlength(w + " ", font=font)
            n += 1
    img = np.array(page)
    ocr = OCR()
    first, _ = ocr.detector([img])[0]
    dense, _ = ocr.dense_detector([img])[0]
    assert n > 600 and len(first) <= 300 and ocr.small_print(img, (first, None))
    assert len(dense) > 0.85 * n


def test_a_long_strip_is_detected_in_tiles(ocr_factory):
    from PIL import ImageDraw, ImageFont

    words = "OPEN DAILY FRESH COFFEE BREAD MARKET STATION GARDEN HOTEL PHARMACY BOOKS MUSIC RADIO TRAVEL".split()
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 36)
    im = Image.new("RGB", (6000, 50), "white")
    draw, x, drawn = ImageDraw.Draw(im), 20, []
    for w in words * 2:
        if x + draw.textlength(w, font=font) > 5980:
            break
        draw.text((x, 5), w, font=font, fill="black")
        x += int(draw.textlength(w, font=font)) + 40
        drawn.append(w)
    arr = np.asarray(im)
    whole = OCR(ReadConfig(tile_aspect=None, small_words=None))(arr)  # (the small-words pass would read it larger)
    tiled = OCR(ReadConfig())(arr)
    right_whole = sum(w.text in drawn for w in whole.words)  # shrunk to the detector's cap: the text is ~10 px high
    got = [w.text for w in sorted(tiled.words, key=lambda w: w.box.cx)]
    hits = sum(g == w for g, w in zip(got, drawn))
    assert hits >= 0.8 * len(drawn) and len(got) <= len(drawn) + 1, (got, drawn)  # found once each, in order
    assert right_whole <= hits - 5

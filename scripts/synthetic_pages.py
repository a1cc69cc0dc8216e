"""Synthetic screenshots: lines of dictionary words (wamerican) in DejaVu Sans at 11-22 px on a light
background, 1280x800 (280-1,210 words a page); bag-of-words precision and recall of the OCR per page, with the
small-print pass (ReadConfig.dense_words) and without it.

    python scripts/synthetic_pages.py
"""
import collections, random, re, time, torch, numpy as np
from PIL import Image, ImageDraw, ImageFont
torch.set_num_threads(1)
from rosetta import OCR, ReadConfig
words = [w.strip() for w in open("/usr/share/dict/american-english") if w.strip().isalpha() and w.strip().isascii() and 3 <= len(w.strip()) <= 10]
rng = random.Random(7)
def page(size):
    im = Image.new("RGB", (1280, 800), (248, 248, 250)); d = ImageDraw.Draw(im)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    truth = []; y = 10
    while y < 800 - size * 1.6:
        x = 10
        while True:
            w = rng.choice(words); tw = d.textlength(w + " ", font=font)
            if x + tw > 1270: break
            d.text((x, y), w, fill=(30, 30, 30), font=font); truth.append(w); x += tw
        y += int(size * 1.6)
    return np.array(im), truth
def norm(t): return re.sub(r"[^0-9a-z]", "", t.lower())
pages = [page(s) for s in (11, 12, 13, 14, 16, 18, 20, 22)]
for label in ("rule", "no rule"):
    ocr = OCR(ReadConfig(threads=1, dense_words=None if label == "no rule" else ReadConfig.dense_words))
    for (im, truth), size in zip(pages, (11, 12, 13, 14, 16, 18, 20, 22)):
        t = time.perf_counter(); res = ocr(im); dt = time.perf_counter() - t
        pred = collections.Counter(norm(w.text) for w in res.words if norm(w.text)); gt = collections.Counter(norm(w) for w in truth)
        tp = sum((pred & gt).values()); p = tp / max(1, sum(pred.values())); r = tp / sum(gt.values())
        print(label, f"{size}px words {len(truth)} found {len(res.words)} P {p:.3f} R {r:.3f} {dt:.2f} s", flush=True)

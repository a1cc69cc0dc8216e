"""Search and tagging: retrieval on ICDAR 2015 among distractors, indexing and query speed at 100,000 images
(SQLite and PostgreSQL), tagging precision and recall on a labelled synthetic set.

    python benchmarks/search.py retrieval --read /work/cache/ic15_read.jsonl   # `rosetta read ... --format jsonl`
    python benchmarks/search.py speed --images 100000 --backend sqlite,postgres
    python benchmarks/search.py tagging
    python benchmarks/search.py all --read ... --out docs/results/search.jsonl

retrieval: the `rosetta read` output of ICDAR 2015 img_1..250 (read once beforehand, ``--read``) is indexed with
``--distractors`` synthetic images' text (default 10,000: words of real scene-text crops' labels from the
ICDAR 2015 / IIIT5K / SVT training sets and strings from the synthetic-data corpus, confidences drawn from the
real reads, word counts drawn from the real reads' non-empty ones), in a shuffled order. Every ground-truth word of img_201..250 with 4+ letters (ignore regions
skipped) is a query; recall@10 is the share whose image is in the top 10, exact and fuzzy.
speed: 100,000 synthetic images' text written as 100 Parquet parts of `rosetta batch` (cached under
``--cache``), indexed by ``Index.add_parts`` (what `rosetta index` runs) in one process, then 400 queries timed
one by one (single words, misspelt words, two words, phrases), fuzzy matching on. Times are wall clock and
CPU (this process's, plus the PostgreSQL backend's read from /proc): on a shared host the CPU time is the
figure that says what one core does. PostgreSQL: a throwaway local server (fsync off).
tagging: labelled synthetic texts of shop signs, pharmacies, restaurants, menus, receipts, posters, pet shops
and others (with OCR-like character errors), tagged with the shipped example lexicon; entities on texts with
known phones, URLs, prices and distractor numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from rosetta.data.splits import data_root
from rosetta.search import Index, Lexicon, SearchConfig, tag
from rosetta.search.entities import find
from rosetta.search.records import ImageDoc, WordDoc

log = logging.getLogger("bench.search")


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores (host shared with other jobs)"


# ----------------------------------------------------------------------------- synthetic text
class TextSource:
    """Words for synthetic images: real scene-text labels and the synthetic-data corpus's strings."""

    def __init__(self, seed: int = 0):
        from rosetta.synth.corpus import Corpus

        root = data_root()
        self.real = [t for d in ("icdar2015_wordrec_train", "iiit5k_train", "svt_train")
                     if (root / d / "labels.jsonl").exists()
                     for ln in (root / d / "labels.jsonl").read_text().splitlines()
                     for t in json.loads(ln)["text"].split() if t.strip("[]()#")]
        self.corpus = Corpus.load(("latin", "cyrillic", "arabic"))
        self.rng = random.Random(seed)

    def words(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            r = self.rng.random()
            if r < 0.5 and self.real:
                out.append(self.rng.choice(self.real))
            else:
                script = "latin" if r < 0.85 else "cyrillic" if r < 0.93 else "arabic"
                out += self.corpus.sample(self.rng, script, difficulty=0.5).split()
        return out

    def doc(self, key: str, confidences: list[float], lengths: list[int] | None = None) -> ImageDoc:
        """A synthetic image's words: as many as a real read's (drawn from ``lengths``), else 2..14."""
        ws = self.words(self.rng.choice(lengths) if lengths else self.rng.randint(2, 14))
        return ImageDoc(key, None, 1280, 720, tuple(
            WordDoc.make(w, self.rng.choice(confidences), (60 + 120 * (i % 8), 40 + 50 * (i // 8), 100, 30, 0))
            for i, w in enumerate(ws)))


# ----------------------------------------------------------------------------- retrieval
def gt_queries(first: int = 201, last: int = 250) -> list[tuple[str, str]]:
    """(image key, ground-truth word) for the words of 4+ letters of img_first..last."""
    out = []
    for ln in (data_root() / "icdar2015_dev" / "gt.jsonl").read_text().splitlines():
        d = json.loads(ln)
        key = Path(d["image"]).stem
        if first <= int(key.split("_")[1]) <= last:
            out += [(key, w["text"]) for w in d["words"] if not w["ignore"] and sum(c.isalpha() for c in w["text"]) >= 4]
    return out


def retrieval(read: Path, distractors: int, seed: int = 0) -> dict:
    from rosetta.result import Result

    results = [Result.from_dict(json.loads(ln)) for ln in read.read_text().splitlines() if ln.strip()]
    docs = [ImageDoc.from_result(r, key=Path(r.image).stem) for r in results]
    confs = [w.confidence for d in docs for w in d.words] or [0.9]
    lengths = [len(d.words) for d in docs if d.words] or [5]  # distractors as long as the real reads
    src = TextSource(seed)
    docs += [src.doc(f"distractor_{i}", confs, lengths) for i in range(distractors)]
    random.Random(seed).shuffle(docs)
    db = Path(tempfile.mkdtemp(prefix="rosetta-bench-search-")) / "ret.db"
    with Index(db) as idx:
        for i in range(0, len(docs), 1000):
            idx.add(docs[i:i + 1000])
        counts = idx.counts()
    queries = gt_queries()
    read_terms = {d.key: {t for w in d.words for t in w.terms} for d in docs if not d.key.startswith("distractor")}
    from rosetta.search.normalize import terms

    ceiling = sum(1 for k, q in queries if set(terms(q)) and set(terms(q)) <= read_terms.get(k, set()))
    out = {"task": "retrieval", "read": str(read), "images": counts["images"], "words": counts["words"],
           "distractor_images": distractors, "queries": len(queries), "queries_read_exactly": ceiling}
    for name, fuzzy in (("exact", False), ("fuzzy", True)):
        with Index(db, create=False, config=SearchConfig(fuzzy=fuzzy)) as idx:
            t0 = time.perf_counter()
            found = sum(1 for k, q in queries if k in [h.image for h in idx.search(q, limit=10)])
            out[f"recall@10_{name}"] = round(found / max(1, len(queries)), 4)
            out[f"found_{name}"] = found
            out[f"ms_per_query_{name}"] = round(1000 * (time.perf_counter() - t0) / max(1, len(queries)), 2)
    return out


# ----------------------------------------------------------------------------- speed
def synthetic_parts(folder: Path, images: int, per_part: int = 1000, seed: int = 1) -> Path:
    """``images`` synthetic images' text as `rosetta batch` Parquet parts (made once, then reused)."""
    from rosetta.engine.batch import write_part

    folder = folder / f"synth{images}"
    if len(list(folder.glob("part-*.parquet"))) == -(-images // per_part):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    src = TextSource(seed)
    confs = [0.85 + 0.15 * src.rng.random() for _ in range(1000)]
    for p in range(-(-images // per_part)):
        rows = []
        for i in range(p * per_part, min(images, (p + 1) * per_part)):
            d = src.doc(f"synth/{i:07d}.jpg", confs).to_row()
            d["words"] = [{**w, "score": 0.9, "quad": [[0.0, 0.0]] * 4} for w in d["words"]]
            rows.append({**d, "text": " ".join(w["text"] for w in d["words"]), "error": None, "detect_ms": None,
                         "recognize_ms": None, "model_version": "synthetic"})
        write_part(rows, folder / f"part-{p:05d}.parquet", "parquet")
    return folder


def query_set(idx: Index, n: int, seed: int = 2) -> list[tuple[str, str]]:
    """(kind, query): single words, misspelt words (one edit), two words of one image, phrases."""
    rng = random.Random(seed)
    docs = []
    for d in idx.docs():
        if rng.random() < 0.01:
            docs.append(d)
        if len(docs) >= 2000:
            break
    out = []
    while len(out) < n:
        d = rng.choice(docs)
        ws = [w.text for w in d.words if len(w.terms) == 1 and len(w.terms[0]) >= 3]
        if len(ws) < 2:
            continue
        kind = ("word", "misspelt", "two words", "phrase")[len(out) % 4]
        if kind == "word":
            out.append((kind, rng.choice(ws)))
        elif kind == "misspelt":
            w = max(ws, key=len)
            i = rng.randrange(len(w))
            out.append((kind, w[:i] + rng.choice("aeiorstn") + w[i + 1:]))
        elif kind == "two words":
            out.append((kind, " ".join(rng.sample(ws, 2))))
        else:
            k = rng.randrange(len(d.words) - 1)
            out.append((kind, f'"{d.words[k].text} {d.words[k + 1].text}"'))
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[int(q * (len(xs) - 1))]


def server_cpu(idx: Index):
    """A function giving the CPU seconds spent so far by the PostgreSQL backend serving ``idx`` (0 for
    SQLite, which runs in this process and is counted by ``time.process_time``)."""
    if idx.store.name != "postgres":
        return lambda: 0.0
    pid = idx.store.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    idx.store.release()
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return read


def speed(images: int, backend: str, cache: Path, queries: int = 400) -> dict:
    folder = synthetic_parts(cache, images)
    pg = None
    if backend == "postgres":
        from rosetta.search.pgtemp import TempPostgres

        pg = TempPostgres().start()
        where = pg.dsn
    else:
        where = str(Path(tempfile.mkdtemp(prefix="rosetta-bench-speed-")) / "speed.db")
    try:
        with Index(where) as idx:
            server = server_cpu(idx)
            c0, s0, t0 = time.process_time(), server(), time.perf_counter()
            got = idx.add_parts(folder)
            index_s, index_cpu = time.perf_counter() - t0, time.process_time() - c0 + server() - s0
            counts = idx.counts()
            qs = query_set(idx, queries)
            wall: dict[str, list[float]] = {}
            cpu: list[float] = []
            for kind, q in qs:
                c, sv, t = time.process_time(), server(), time.perf_counter()
                idx.search(q, limit=10)
                wall.setdefault(kind, []).append(1000 * (time.perf_counter() - t))
                cpu.append(1000 * (time.process_time() - c + server() - sv))
            everything = sorted(x for v in wall.values() for x in v)
            size = Path(where).stat().st_size if backend == "sqlite" else None
        return {"task": "speed", "backend": backend, "images": counts["images"], "words": counts["words"],
                "terms": counts["terms"], "parts": got["parts_added"], "index_wall_s": round(index_s, 1),
                "index_cpu_s": round(index_cpu, 1), "images_per_cpu_s": round(counts["images"] / index_cpu),
                "db_mb": round(size / 2**20) if size else None, "queries": len(everything),
                "p50_ms": round(pct(everything, 0.5), 1), "p95_ms": round(pct(everything, 0.95), 1),
                "max_ms": round(everything[-1], 1), "p95_cpu_ms": round(pct(cpu, 0.95), 1),
                **{f"p95_ms_{k.replace(' ', '_')}": round(pct(v, 0.95), 1) for k, v in wall.items()}}
    finally:
        if pg is not None:
            pg.stop()


# ----------------------------------------------------------------------------- tagging
POOLS = {
    "shop": ["SALE", "UP TO 70% OFF", "New Collection", "Shoes & Bags", "Women Men Kids", "Summer Sale", "Clearance",
             "Fashion Store", "Boutique", "Магазин одежды", "СКИДКИ -50%", "تخفيضات", "Soldes", "Rebajas", "Outlet",
             "Everything must go", "Buy one get one free", "Gift cards", "ZARA", "Primark", "Denim & Co"],
    "pharmacy": ["PHARMACY", "Pharmacie", "Farmacia", "Apotheke", "АПТЕКА", "صيدلية", "Chemist", "Drugstore", "Boots",
                 "Prescriptions", "Vitamins & Supplements", "Health & Beauty", "First Aid", "Open 24 hours", "Rx",
                 "Ліки", "Dr. Max", "Medicines", "Flu shots", "Walgreens"],
    "restaurant": ["RESTAURANT", "Bistro", "Trattoria da Mario", "Pizzeria", "Steakhouse", "Grill & Bar", "Sushi",
                   "Ресторан", "Кафе Пушкин", "مطعم", "Fine dining", "Reservations", "Open daily", "Take away",
                   "Book a table", "Brasserie", "Tavern", "Chef's kitchen", "Family restaurant", "Dine in", "Noodle house"],
    "menu": ["MENU", "Starters", "Soups", "Salads", "Main courses", "Desserts", "Drinks", "Beverages", "Sides",
             "Caesar salad 9.50", "Tomato soup 4.90", "Grilled salmon 18", "Beef burger 12.50", "Tiramisu 6",
             "Espresso 2.20", "Lemonade 3", "French fries 3.50", "Борщ 250", "Меню", "حمص 15", "Soup of the day"],
    "receipt": ["SUBTOTAL 23.40", "TAX 1.87", "VAT 20%", "TOTAL 25.27", "CASH 30.00", "CHANGE 4.73", "VISA ****1234",
                "Thank you for shopping", "ИТОГО 1 250,00", "КАССИР Иванова", "المجموع 45", "MILK 1L 1.29",
                "BREAD 2.10", "2 x 1.50", "Receipt No 0042", "Cashier: Anna", "Amount due 12.00", "Card payment"],
    "poster": ["CONCERT", "LIVE", "Festival 2024", "World Tour", "Tickets at the door", "Doors open 7pm", "Exhibition",
               "Free entry", "Концерт", "Фестиваль", "حفل", "Coming soon", "presents", "Live music", "Theatre",
               "Stand-up comedy", "DJ night", "Jazz night", "Premiere", "Open air"],
    "petshop": ["PET SHOP", "Pet food", "Dog food", "Cat food", "Puppies", "Kittens", "Grooming", "Aquarium",
                "Зоомагазин", "Корм для собак", "Pets at Home", "Bird seed", "Leashes & collars", "Veterinary", "Kennel"],
    "none": ["STOP", "ONE WAY", "EXIT", "Main St", "Parking", "No entry", "Bus stop", "Platform 2", "Keep left",
             "Welcome to Springfield", "Police", "Hotel Plaza", "Bank", "Post Office", "Taxi", "Toilets", "Private",
             "Danger", "Улица Ленина", "شارع", "Library", "School zone"],
}
NEUTRAL = ["Open 9:00-21:00", "12 Main Street", "Since 1998", "Mon-Fri", "www.example.com", "Tel 555-0199", "No 14"]
LOOKALIKE = {"o": "0", "O": "0", "l": "1", "I": "1", "e": "c", "S": "5", "B": "8", "a": "o", "m": "rn", "n": "h"}


def ocr_noise(text: str, rng: random.Random, p: float) -> str:
    """OCR-like errors: a character swapped for a look-alike (or a random letter) with probability ``p``."""
    out = []
    for c in text:
        if c.isalnum() and rng.random() < p:
            c = LOOKALIKE.get(c, rng.choice("abcdefghijklmnopqrstuvwxyz"))
        out.append(c)
    return "".join(out)


def tagging(texts: int = 800, noise: float = 0.03, seed: int = 3) -> dict:
    rng = random.Random(seed)
    lex = Lexicon.example()
    matcher = lex.matcher()
    classes = [c for c in POOLS if c != "none"]
    tp = {c: 0 for c in classes}
    fp = dict(tp)
    fn = dict(tp)
    for i in range(texts):
        label = list(POOLS)[i % len(POOLS)]
        lines = rng.sample(POOLS[label], rng.randint(2, 4)) + rng.sample(NEUTRAL, rng.randint(0, 2))
        rng.shuffle(lines)
        got = {t.label for t in tag(ocr_noise("\n".join(lines), rng, noise), lex, _matcher=matcher)
               if t.kind == "class"}
        for c in classes:
            tp[c] += c in got and c == label
            fp[c] += c in got and c != label
            fn[c] += c not in got and c == label
    per = {c: {"precision": round(tp[c] / max(1, tp[c] + fp[c]), 3), "recall": round(tp[c] / max(1, tp[c] + fn[c]), 3)}
           for c in classes}
    T, F, N = sum(tp.values()), sum(fp.values()), sum(fn.values())
    return {"task": "tagging", "texts": texts, "char_noise": noise, "precision": round(T / max(1, T + F), 3),
            "recall": round(T / max(1, T + N), 3), "per_class": per, "entities": entity_bench(seed)}


def entity_bench(seed: int, texts: int = 600) -> dict:
    rng = random.Random(seed)
    d = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    make = {
        "phone": [lambda: f"+1 ({d(3)}) {d(3)}-{d(4)}", lambda: f"{d(3)}-{d(3)}-{d(4)}", lambda: f"+44 20 {d(4)} {d(4)}",
                  lambda: f"8 800 {d(3)} {d(2)} {d(2)}", lambda: f"+7 495 {d(3)}-{d(2)}-{d(2)}",
                  lambda: f"0{rng.randint(1, 9)} {d(2)} {d(2)} {d(2)} {d(2)}", lambda: f"({d(3)}) {d(3)} {d(2)} {d(2)}"],
        "url": [lambda: f"www.{rng.choice(['shop', 'cafe', 'city', 'pets'])}{d(2)}.com",
                lambda: f"https://{rng.choice(['news', 'art', 'go'])}.org/{rng.choice(['tickets', 'menu'])}",
                lambda: f"{rng.choice(['best', 'top'])}deals.co.uk", lambda: f"shop.example.de"],
        "price": [lambda: f"${rng.randint(1, 999)}.{d(2)}", lambda: f"{rng.randint(1, 99)},{d(2)} €",
                  lambda: f"£{rng.randint(1, 99)}", lambda: f"{rng.randint(1, 9)} {d(3)} руб.",
                  lambda: f"{rng.randint(1, 500)} USD", lambda: f"€ {rng.randint(1, 99)}.{d(2)}",
                  lambda: f"{rng.randint(1, 999)}.{d(2)} EUR"],
    }
    noise = [lambda: f"Open {rng.randint(7, 10)}:00-{rng.randint(17, 23)}:00", lambda: f"Since {rng.randint(1900, 2020)}",
             lambda: f"{rng.randint(2, 9)} x", lambda: f"SW{rng.randint(1, 9)}A {rng.randint(1, 9)}AA",
             lambda: f"75{d(3)} Paris", lambda: f"A-{d(4)}", lambda: f"{rng.randint(5, 70)}% off",
             lambda: f"No {rng.randint(1, 300)}", lambda: f"Room {d(3)}", lambda: f"Item {d(6)}"]
    tp = {k: 0 for k in make}
    fp, fn = dict(tp), dict(tp)
    filler = ["Welcome", "Call us", "Order online", "Best prices", "Visit", "Only", "Now", "today"]
    for _ in range(texts):
        truth = []
        parts = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(list(make))
            v = rng.choice(make[kind])()
            truth.append((kind, v))
            parts.append(f"{rng.choice(filler)} {v}")
        parts += [rng.choice(noise)() for _ in range(rng.randint(0, 3))]
        rng.shuffle(parts)
        got = {(k, v) for line in parts for k, v in find(line) if k in make}
        want = set(truth)
        for k in make:
            tp[k] += len({x for x in got & want if x[0] == k})
            fp[k] += len({x for x in got - want if x[0] == k})
            fn[k] += len({x for x in want - got if x[0] == k})
    return {k: {"precision": round(tp[k] / max(1, tp[k] + fp[k]), 3), "recall": round(tp[k] / max(1, tp[k] + fn[k]), 3),
                "count": tp[k] + fn[k]} for k in make}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["retrieval", "speed", "tagging", "all"])
    ap.add_argument("--read", action="append", default=[], help="`rosetta read --format jsonl` output of img_1..250")
    ap.add_argument("--distractors", type=int, default=10_000)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--backend", default="sqlite,postgres")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "rosetta" / "search_bench"))
    ap.add_argument("--out", default=None, help="append the figures (JSON lines) to this file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    stamp = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}
    rows = []
    if args.what in ("retrieval", "all"):
        rows += [retrieval(Path(r), args.distractors) for r in args.read]
    if args.what in ("speed", "all"):
        rows += [speed(args.images, b, Path(args.cache)) for b in args.backend.split(",") if b]
    if args.what in ("tagging", "all"):
        rows.append(tagging())
    for r in rows:
        line = json.dumps({**r, **stamp}, ensure_ascii=False)
        print(line)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")


if __name__ == "__main__":
    main()

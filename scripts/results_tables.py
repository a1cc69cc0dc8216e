"""Print the markdown tables of docs/RESULTS.md from the JSON that scripts/evaluate.sh wrote to docs/results/.

    python scripts/results_tables.py
"""

from __future__ import annotations

import json
from pathlib import Path

R = Path("docs/results")


def load(name: str):
    p = R / name
    if not p.exists():
        return None
    text = p.read_text().strip()
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return json.loads(text)


def f(v, d=3):
    return "-" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))


def main() -> None:
    print("### Recognizer accuracy\n\n| set | n | word acc | case-sensitive acc | 1 - NED | CER |\n|---|---|---|---|---|---|")
    for name, label in (("rec_iiit5k_val.json", "IIIT5K-val"), ("rec_ic15_val.json", "IC15-val"),
                        ("rec_arabic_val.json", "Arabic lines val"), ("rec_cyrillic_synth_val.json", "synthetic Cyrillic val"),
                        ("rec_cyrillic_synth_val_hint.json", "synthetic Cyrillic val, --scripts cyrillic")):
        d = load(name)
        if d:
            print(f"| {label} | {d['n']} | {f(d['word_acc'])} | {f(d['word_acc_cs'])} | {f(d['one_minus_ned'])} | {f(d['cer'])} |")
    print("\n### Detection and end to end (ICDAR 2015 dev img_201..250)\n\n"
          "| stage | precision | recall | hmean | s/image (1 thread) | peak RSS MB |\n|---|---|---|---|---|---|")
    for name, key, label in (("det_ic15_val.json", "det", "detection"), ("ocr_ic15_val.json", "det", "detection (in OCR)"),
                             ("ocr_ic15_val.json", "e2e", "end to end")):
        d = load(name)
        if d:
            r = d[key]
            print(f"| {label} | {f(r['precision'])} | {f(r['recall'])} | {f(r['hmean'])} | {f(d['s_per_image'])} | {f(d['peak_rss_mb'], 0)} |")
    for name in ("bench_recognizer.json", "bench_detector.json"):
        d = load(name)
        if d:
            print(f"\n`{name}`: `{json.dumps(d)}`")
    p = R / "bench_peers.txt"
    if p.exists():
        print("\n### Peers\n\n" + "\n".join(line for line in p.read_text().splitlines() if line.startswith("|")))
    rows = load("bench_int8.jsonl")
    if rows:
        rep = rows[-1]
        print("\n### int8\n\n| variant | threads | IIIT5K acc | IC15 acc | ms/crop (IIIT5K) |\n|---|---|---|---|---|")
        for r in rep.get("recognizer", []):
            print(f"| {r['variant']} | {r['threads']} | {f(r['iiit5k_acc'], 4)} | {f(r['ic15_acc'], 4)} | {f(r['iiit5k_ms_per_crop'])} |")
        if rep.get("detector"):
            print("\n| detector variant | threads | det hmean | ms/image |\n|---|---|---|---|")
            for r in rep["detector"]:
                print(f"| {r['variant']} | {r['threads']} | {f(r['det_hmean'], 4)} | {f(r['ms_per_image'], 1)} |")
        if "e2e_fp32" in rep:
            a, b = rep["e2e_fp32"], rep["e2e_int8"]
            print(f"\nEnd to end: fp32 e2e hmean {f(a['e2e']['hmean'])} at {f(a['s_per_image'])} s/image; int8 "
                  f"{f(b['e2e']['hmean'])} at {f(b['s_per_image'])} s/image; speed-up {rep['e2e_speedup']}x "
                  f"(one sequential run each{', on ' + rep['cpu'] if rep.get('cpu') else ''})")
        speed = load("bench_int8_speed.json")  # `benchmarks/int8.py --speed-only`, when run after the full benchmark
        inter = speed["e2e_speed_interleaved"] if speed else rep.get("e2e_speed_interleaved")
        if speed:
            print(f"\n(`benchmarks/int8.py --speed-only`, {speed['date']}, {speed['cpu']}:)")
        if inter:
            if inter.get("alternation") == "per image":
                print(f"\nEnd to end timed image by image in alternation, {inter['rounds']} passes over {inter['images']} "
                      f"decoded images: fp32 {inter['mean_fp32']:.4f}, int8 {inter['mean_int8']:.4f} s/image; speed-up "
                      f"{inter['speedup']}x (per pass {', '.join(f'{x}x' for x in inter['per_round_speedups'])})")
            else:
                print(f"\nEnd to end timed in {inter['rounds']} alternating rounds over {inter['images']} decoded images: "
                      f"fp32 {inter['median_fp32']:.4f}, int8 {inter['median_int8']:.4f} s/image (medians); speed-up "
                      f"{inter['speedup']}x (per round {', '.join(f'{x}x' for x in inter['per_round_speedups'])})")
        more = load("bench_int8_noise.jsonl")  # `benchmarks/int8.py --noise-only`: more draws, after the full run
        noise = more[-1]["e2e_under_noise"] if more else rep.get("e2e_under_noise")
        if more:
            print(f"\n(`benchmarks/int8.py --noise-only`, {more[-1]['date']}, {more[-1]['cpu']}:)")
        if noise:
            draws = noise["per_seed"]
            step = 1 if len(draws) <= 24 else 24  # one row per draw, or per block of 24 draws
            print(f"\nEnd to end under invisible noise (uniform +-{noise['amplitude']:g} grey levels, paired draws, "
                  f"{noise['images']} images):\n\n| {'draw' if step == 1 else 'draws'} | fp32 e2e hmean | int8 e2e hmean "
                  f"| gap (points) |\n|---|---|---|---|")
            for k in range(0, len(draws), step):
                block = draws[k:k + step]
                label = str(block[0]["seed"]) if step == 1 else f"{block[0]['seed']}-{block[-1]['seed']}"
                mean = {n: sum(r[n] for r in block) / len(block) for n in ("fp32", "int8", "gap")}
                print(f"| {label} | {f(mean['fp32'], 4)} | {f(mean['int8'], 4)} | {100 * mean['gap']:.1f} |")
            se = noise.get("gap_se", noise["gap_sd"] / len(draws) ** 0.5)
            print(f"| mean of {len(draws)} | {f(noise['fp32'], 4)} | {f(noise['int8'], 4)} | {100 * noise['gap_mean']:.2f} "
                  f"(sd {100 * noise['gap_sd']:.1f}, standard error {100 * se:.2f}) |")
            for k in ("int8_detector_only", "int8_recognizer_only"):
                if k in noise:
                    print(f"\n{k.replace('_', ' ')}: mean e2e hmean {f(noise[k], 4)} "
                          f"({100 * (noise['fp32'] - noise[k]):.1f} points under fp32)", end="")
            print()
    rows = load("bench_batch.jsonl")
    if rows:
        print("\n### Batch engine\n\n| run | engine | workers | images | seconds | first shard s | images/s | after first shard |"
              "\n|---|---|---|---|---|---|---|---|")
        for r in rows[:-1]:
            print(f"| {r.get('run', 1)} | {r['engine']} | {r['workers']} | {r['images']} | {r['seconds']} | {r['first_shard_s']} | "
                  f"{r['images_per_s']} | {r.get('after_first_shard_images_per_s', '-')} |")
        print(f"\n`{json.dumps(rows[-1])}`")
    rows = load("bench_serve.jsonl")
    if rows:
        rep = rows[-1]
        print("\n### HTTP service\n\n| max batch | clients | requests | req/s | p50 ms | p99 ms | 503 | other 5xx |\n|---|---|---|---|---|---|---|---|")
        for mb in (8, 1):
            for r in rep.get(f"max_batch_{mb}", []):
                print(f"| {mb} | {r['clients']} | {r['requests']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['status_503']} | {r['other_5xx']} |")
        print(f"\nMicro-batching gain at 16 clients: {rep.get('batching_gain_16_clients')}x; overload (32 clients, queue 4): "
              f"`{json.dumps(rep.get('overload'))}`; RSS: `{json.dumps(rep.get('rss'))}`")


if __name__ == "__main__":
    main()

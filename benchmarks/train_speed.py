"""Recognizer training speed: crops/s of the training step (forward, CTC loss, backward, AdamW) per setting.

    python benchmarks/train_speed.py [--threads 1,2] [--models shipped,rec4] [--steps 4] [-o docs/results/bench_train_speed.jsonl]

Settings: fp32, bf16 autocast, channels_last, channels_last + bf16; batch 64 of 32x128 crops (random pixels and
labels: the step's cost does not depend on them). The CPU's capability and flags are printed first: bf16 only pays
where the CPU has native bf16 (AVX512_BF16 or AMX); on an AVX2 CPU it is emulated and an order of magnitude slower.
Every setting runs in the same process, in turn, so their ratios are comparable even on a shared host.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from rosetta.recognition.model import CTCRecognizer, RecognizerConfig

MODELS = {
    "shipped": {},  # 1.6 M parameters: one block per stage
    "rec4": {"blocks": (2, 2, 2), "context_blocks": 2},  # 3.1 M: two blocks per stage (ResNet-18-like)
    "rec3": {"widths": (96, 160, 256), "head": 320},  # 2.7 M: wider, one block per stage
}
SETTINGS = ("fp32", "bf16", "channels_last", "channels_last+bf16")


def cpu_flags() -> str:
    """The CPU's model name and the flags that decide the fastest setting (Linux; '' elsewhere)."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return ""
    name = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    keep = [f for f in flags if f.startswith(("avx", "amx")) or f in ("fma", "f16c")]
    return f"{name}: {' '.join(sorted(keep))}"


def crops_per_second(model: CTCRecognizer, setting: str, steps: int, batch: int = 64) -> float:
    """Training-step throughput of ``model`` under ``setting`` (one warm-up step first)."""
    cl = setting.startswith("channels_last")
    model = model.to(memory_format=torch.channels_last if cl else torch.contiguous_format).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, 32, 128)  # (B, 1, H, W)
    x = x.contiguous(memory_format=torch.channels_last) if cl else x
    n_chars = 8
    labels = torch.randint(1, model.config.num_classes, (batch * n_chars,))
    lengths, widths = torch.full((batch,), n_chars), torch.full((batch,), 128)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=setting.endswith("bf16")):
            _, loss = model(x, (labels, lengths, widths))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="shipped,rec4")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("-o", "--output", help="append the rows (JSON lines) here")
    a = ap.parse_args()
    print(f"# {cpu_flags()}; torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}")
    rows = []
    for threads in (int(t) for t in a.threads.split(",")):
        torch.set_num_threads(threads)
        for name in a.models.split(","):
            torch.manual_seed(0)
            model = CTCRecognizer(RecognizerConfig(num_classes=413, **MODELS[name]))
            params = sum(p.numel() for p in model.parameters()) / 1e6
            for setting in a.settings.split(","):
                rate = crops_per_second(model, setting, a.steps)
                row = {"date": time.strftime("%Y-%m-%d %H:%M"), "host": platform.node(), "cpu": cpu_flags(),
                       "threads": threads, "model": name, "params_m": round(params, 2), "setting": setting,
                       "crops_per_s": round(rate, 1)}
                rows.append(row)
                print(f"{threads} thread(s)  {name:8s} {params:.2f}M  {setting:20s} {rate:8.1f} crops/s", flush=True)
    if a.output:
        with open(a.output, "a") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()

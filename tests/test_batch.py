"""Batch engine: rows per image, bad files as error rows, kill -9 then resume gives each input once, real Ray."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from rosetta.engine.batch import list_inputs, read_output

SAMPLES = Path(__file__).parents[1] / "src" / "rosetta" / "samples"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Ten small images (the samples at reduced size, in sub-folders) and one corrupted file."""
    d = tmp_path_factory.mktemp("imgs")
    for i, p in enumerate(sorted(SAMPLES.glob("*.jpg")) * 3):
        if i >= 10:
            break
        sub = d / f"s{i % 2}"
        sub.mkdir(exist_ok=True)
        im = Image.open(p)
        im.thumbnail((320, 320))
        im.save(sub / f"img{i:02d}.jpg")
    (d / "s0" / "img99.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF garbage")
    return d


def batch(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "rosetta.cli", "batch", *args, "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@pytest.mark.slow
def test_local_rows_and_error_row(folder, tmp_path):
    p = batch(str(folder), "-o", str(tmp_path / "o"), "--workers", "1", "--batch-size", "4")
    out, err = p.communicate(timeout=600)
    assert p.returncode == 1, err.decode()  # one image failed
    named = [line for line in err.decode().splitlines() if line.startswith("rosetta batch: error:")]
    assert len(named) == 1 and "img99.jpg" in named[0]  # named on stderr, as `read` does
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["done"] == 11 and summary["failed"] == 1
    rows = read_output(tmp_path / "o")
    assert sorted(r["id"] for r in rows) == sorted(list_inputs(str(folder))[0])
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and "img99.jpg" in bad[0]["error"] and bad[0]["words"] == []
    good = [r for r in rows if not r["error"]]
    assert all(r["width"] and r["height"] and r["model_version"] for r in good)
    assert pq.read_schema(next((tmp_path / "o").glob("part-*.parquet"))).field("words").type.value_type.num_fields == 5


@pytest.mark.slow
def test_kill_9_then_rerun_gives_every_input_exactly_once(folder, tmp_path):
    out = tmp_path / "o"
    p = batch(str(folder), "-o", str(out), "--workers", "1", "--batch-size", "1")
    deadline = time.time() + 300
    while time.time() < deadline and len(list(out.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    _, err = p.communicate(timeout=60)  # returns once the orphaned workers have closed the inherited stderr too
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    partial = len(list(out.glob("part-*.parquet")))
    assert 3 <= partial < 11, "the kill came too late to test a resume"
    p = batch(str(folder), "-o", str(out), "--workers", "2", "--batch-size", "1")
    stdout, err = p.communicate(timeout=600)
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    assert summary["skipped"] >= partial and summary["done"] + summary["skipped"] == 11
    ids = [r["id"] for r in read_output(out)]
    assert len(ids) == len(set(ids)) == 11
    assert not list(out.glob("*.tmp-*"))
    # other inputs into the same folder are refused, not mixed in
    other = tmp_path / "other"
    shutil.copytree(folder / "s1", other)
    p = batch(str(other), "-o", str(out))
    _, err = p.communicate(timeout=120)
    assert p.returncode != 0 and b"other inputs" in err


@pytest.mark.slow
def test_table_inputs(folder, tmp_path):
    paths = sorted(str(p) for p in folder.rglob("img0[0-2].jpg"))
    pq.write_table(pa.table({"path": paths}), tmp_path / "t.parquet")
    assert list_inputs(str(tmp_path / "t.parquet"))[1] == paths
    rows = [{"id": f"r{i}", "bytes": base64.b64encode(Path(p).read_bytes()).decode()} for i, p in enumerate(paths)]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    ids, srcs = list_inputs(str(tmp_path / "t.jsonl"))
    assert ids == ["r0", "r1", "r2"] and srcs[0] == Path(paths[0]).read_bytes()
    (tmp_path / "bad.jsonl").write_text(json.dumps({"url": "http://x"}))
    with pytest.raises(ValueError, match="'path' or 'bytes'"):
        list_inputs(str(tmp_path / "bad.jsonl"))


@pytest.mark.slow
def test_ray_engine_matches_local(folder, tmp_path):
    p = batch(str(folder / "s1"), "-o", str(tmp_path / "ray"), "--engine", "ray", "--workers", "1",
              "--batch-size", "2", "--format", "jsonl")
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err.decode()[-2000:]
    q = batch(str(folder / "s1"), "-o", str(tmp_path / "local"), "--workers", "1", "--batch-size", "2",
              "--format", "jsonl")
    q.communicate(timeout=600)
    ray_rows = {r["id"]: (r["text"], r["width"]) for r in read_output(tmp_path / "ray")}
    local_rows = {r["id"]: (r["text"], r["width"]) for r in read_output(tmp_path / "local")}
    assert ray_rows == local_rows and len(ray_rows) == 5


def test_resume_with_other_reading_settings_is_refused(tmp_path):
    """A re-run into the same folder must read as the first run did: rows read with another engine, floor or
    scale would sit beside the first run's as if comparable. The same settings resume; older manifests,
    written before the settings were recorded, still resume."""
    from rosetta.config import ReadConfig
    from rosetta.engine.batch import MANIFEST, BatchConfig, check_manifest

    ids = ["a.jpg", "b.jpg"]
    read = ReadConfig(min_confidence=0.5, scripts=("latin",))
    cfg = BatchConfig(output=str(tmp_path), batch_size=4, read=read)
    check_manifest(tmp_path, ids, cfg)
    check_manifest(tmp_path, ids, cfg)  # the same: resumes (tuples written as lists compare equal)
    check_manifest(tmp_path, ids, replace(cfg, read=replace(read, threads=3)))  # threads do not change words
    for change in ({"int8": True}, {"min_confidence": 0.0}, {"scale": 2.5}, {"reread_margins": ()}):
        with pytest.raises(SystemExit, match="read with other settings"):
            check_manifest(tmp_path, ids, replace(cfg, read=replace(read, **change)))
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["reading"] = {k: manifest["reading"][k] for k in ("int8", "models", "scripts", "min_confidence",
                                                               "scale", "max_side")}  # as older versions wrote it
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    check_manifest(tmp_path, ids, replace(cfg, read=replace(read, reread_margins=())))  # not recorded: not checked
    with pytest.raises(SystemExit, match="read with other settings"):
        check_manifest(tmp_path, ids, replace(cfg, read=replace(read, int8=True)))
    del manifest["reading"]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    check_manifest(tmp_path, ids, replace(cfg, read=replace(read, int8=True)))


def test_each_row_carries_its_own_images_timings(tmp_path):
    """A blank image and a sign in one shard: each row has its own image's recognize time (the blank one has no
    word to read), not the shard's average."""
    from rosetta.engine.batch import BatchConfig, Shard, make_ocr, process_shard

    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 240), (255, 255, 255)).save(blank)
    sign = str(SAMPLES / "sign_latin.jpg")
    shard = Shard(0, ("blank", "sign", "missing"), (str(blank), sign, str(tmp_path / "missing.jpg")))
    summary = process_shard(shard, make_ocr(BatchConfig(output=str(tmp_path))), tmp_path, "jsonl")
    assert summary["failed"] == 1 and summary["errors"] == ["missing: no such file"]
    rows = {r["id"]: r for r in read_output(tmp_path)}
    assert rows["blank"]["words"] == [] and rows["sign"]["words"]
    assert rows["blank"]["recognize_ms"] < rows["sign"]["recognize_ms"]
    assert rows["missing"]["detect_ms"] is None and rows["missing"]["error"]

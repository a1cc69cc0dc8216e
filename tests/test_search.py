"""Search index: normalisation, fuzzy and phrase search (SQLite and a real PostgreSQL server), incremental and
killed indexing (nothing lost, nothing twice), clear errors, tagging, the CLI and the HTTP routes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from rosetta.engine.batch import write_part
from rosetta.result import Result, RotatedBox, Word
from rosetta.search.index import Index
from rosetta.search.pgtemp import PostgresUnavailable, TempPostgres
from rosetta.search.records import ImageDoc
from rosetta.search.store import SearchIndexError
from rosetta.search.tag import Lexicon, tag

SRC = str(Path(__file__).parents[1] / "src")


def result(name: str, *lines: str) -> Result:
    """A Result whose words sit on the given lines (left to right)."""
    words = [Word(t, 0.9, 0.9, RotatedBox(30 + 60 * i, 20 + 40 * k, 50, 16, 0))
             for k, line in enumerate(lines) for i, t in enumerate(line.split())]
    return Result.build(600, 40 * len(lines) + 20, words, image=name)


def row(key: str, text: str, path: str | None = None) -> dict:
    r = result(key, text)
    return {"id": key, "path": path, "width": r.width, "height": r.height, "text": r.text, "error": None,
            "words": [{"text": w.text, "confidence": w.confidence, "score": w.score, "quad": w.box.polygon(),
                       "box": w.box.to_list()} for w in r.words],
            "detect_ms": 1.0, "recognize_ms": 1.0, "model_version": "test"}


def batch_folder(folder: Path, parts: int, per_part: int = 4, start: int = 0) -> list[str]:
    """A `rosetta batch`-shaped output folder with ``parts`` parts; returns the image keys."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for p in range(start, start + parts):
        rows = [row(f"img_{p}_{i}.jpg", f"word{p} item{i} shared") for i in range(per_part)]
        keys += [r["id"] for r in rows]
        write_part(rows, folder / f"part-{p:05d}.parquet", "parquet")
    return keys


# ----------------------------------------------------------------------------- backends
@pytest.fixture(scope="session")
def postgres():
    try:
        pg = TempPostgres().start()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server can be started here: {exc}")
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def where(request, tmp_path) -> str:
    """A fresh, empty index location: an SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "index.db")
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install 'rosetta-ocr[pg]')")
    import psycopg

    pg = request.getfixturevalue("postgres")
    name = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"host={pg.dir} user={pg.user} dbname={name}"


def keys_of(hits) -> list[str]:
    return [h.image for h in hits]


def test_search_case_accents_scripts_fuzzy_and_phrases(where):
    with Index(where) as idx:
        assert idx.add([result("cafe.jpg", "CAFÉ de Flore", "Ouvert tous les jours"),
                        result("pharm.jpg", "АПТЕКА", "Ёлки и подарки"),
                        result("ar.jpg", "صيدلية الأمل"),
                        result("ocr.jpg", "Restaurnat Pizzeria", "open daily"),
                        result("other.jpg", "daily news", "open")]) == 5
        assert keys_of(idx.search("cafe")) == ["cafe.jpg"]  # accents and case
        assert keys_of(idx.search("Café")) == ["cafe.jpg"]
        assert keys_of(idx.search("аптека")) == ["pharm.jpg"]
        assert keys_of(idx.search("елки")) == ["pharm.jpg"]  # ё = е
        assert keys_of(idx.search("صيدليه")) == ["ar.jpg"]  # ة = ه
        assert keys_of(idx.search("الامل")) == ["ar.jpg"]  # أ = ا
        assert keys_of(idx.search("restaurant")) == ["ocr.jpg"]  # 2 edits away but 10 letters
        assert keys_of(idx.search("pizzaria")) == ["ocr.jpg"]  # 1 edit, 8 letters
        assert idx.search("flora") and idx.search("flor") == []  # 4 letters: exact only
        with Index(where, create=False, config=type(idx.config)(fuzzy=False)) as exact:
            assert exact.search("restaurant") == [] and keys_of(exact.search("restaurnat")) == ["ocr.jpg"]
        assert keys_of(idx.search('"open daily"')) == ["ocr.jpg"]  # a phrase across words, in order
        assert keys_of(idx.search('"news open"')) == ["other.jpg"]  # across the line break, reading order
        assert idx.search('"daily open"') == []  # not neighbours
        ranked = idx.search("open daily")  # both images match both words; the phrase order does not matter
        assert sorted(keys_of(ranked)) == ["ocr.jpg", "other.jpg"] and all(h.matched == 2 for h in ranked)
        hit = idx.search("pizzaria")[0]
        assert [(w.text, w.distance) for w in hit.words] == [("Pizzeria", 1)] and len(hit.words[0].box) == 5
        assert idx.search("") == [] and idx.search("zzzzzz") == []


def test_add_replaces_an_image_of_the_same_key(where):
    with Index(where) as idx:
        idx.add([result("a.jpg", "old words")])
        idx.add([result("a.jpg", "new text")])
        assert idx.search("old") == [] and keys_of(idx.search("new")) == ["a.jpg"]
        assert idx.counts()["images"] == 1 and idx.counts()["words"] == 2


def test_incremental_indexing_adds_only_new_parts(where, tmp_path):
    out = tmp_path / "out"
    keys = batch_folder(out, 3)
    with Index(where) as idx:
        assert idx.add_parts(out) == {"parts_added": 3, "parts_skipped": 0, "images_added": 12}
        assert idx.add_parts(out) == {"parts_added": 0, "parts_skipped": 3, "images_added": 0}
        keys += batch_folder(out, 2, start=3)  # the batch run went on
        (out / "part-00009.parquet.tmp-123").write_bytes(b"half a part")  # a killed batch writer's leftover
        assert idx.add_parts(out) == {"parts_added": 2, "parts_skipped": 3, "images_added": 8}
        assert idx.counts() == {"images": 20, "words": 60, "terms": 5 + 4 + 1, "parts": 5}
        assert sorted(h.image for h in idx.search("shared", limit=100)) == sorted(keys)
        assert {h.image for h in idx.search("item2", limit=5)} == {f"img_{p}_2.jpg" for p in range(5)}  # exact first
        assert len(idx.search("item2", limit=100)) == 20  # then 1 edit away: item0, item1, item3


def test_a_part_that_fails_midway_leaves_nothing(where, tmp_path, monkeypatch):
    out = tmp_path / "out"
    batch_folder(out, 3)
    with Index(where) as idx:
        real = type(idx.store).insert_images
        calls = []

        def crash_on_second(self, docs):
            calls.append(1)
            real(self, docs)  # the rows are written inside the transaction ...
            if len(calls) == 2:
                raise KeyboardInterrupt  # ... and the run dies before it commits
        monkeypatch.setattr(type(idx.store), "insert_images", crash_on_second)
        with pytest.raises(KeyboardInterrupt):
            idx.add_parts(out)
        monkeypatch.setattr(type(idx.store), "insert_images", real)
        assert idx.counts() == {"images": 4, "words": 12, "terms": 1 + 4 + 1, "parts": 1}
        assert idx.add_parts(out)["parts_added"] == 2
        assert idx.counts()["images"] == 12 and len(idx.search("shared", limit=50)) == 12


def test_killed_index_run_loses_and_duplicates_nothing(where, tmp_path):
    out = tmp_path / "out"
    keys = batch_folder(out, 60, per_part=40)
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = [sys.executable, "-m", "rosetta", "index", str(out), "--db", where, "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    parts = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            with Index(where, create=False) as idx:
                parts = idx.counts()["parts"]
        except SearchIndexError:
            continue  # not created yet
        if parts >= 2:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Index(where, create=False) as idx:
        c = idx.counts()
        assert 2 <= c["parts"] < 60, f"the kill should land mid-run: {proc.stderr.read().decode()[-2000:]}"
        assert c["images"] == 40 * c["parts"] and c["words"] == 3 * c["images"]  # whole parts only
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["parts_skipped"] == c["parts"] and summary["parts_added"] == 60 - c["parts"]
    with Index(where, create=False) as idx:
        assert idx.counts()["images"] == len(keys) == 2400 and idx.counts()["words"] == 3 * 2400
        assert sorted(d.key for d in idx.docs()) == sorted(keys)
        assert {h.image for h in idx.search("word59", limit=40)} == {f"img_59_{i}.jpg" for i in range(40)}


# ----------------------------------------------------------------------------- errors
def test_bad_index_paths_give_clear_errors(tmp_path):
    with pytest.raises(SearchIndexError, match="no such file.*rosetta index"):
        Index(tmp_path / "missing.db", create=False)
    with pytest.raises(SearchIndexError, match="folder .*nope does not exist"):
        Index(tmp_path / "nope" / "i.db")
    with pytest.raises(SearchIndexError, match="is a folder"):
        Index(tmp_path)
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(SearchIndexError, match="junk.db: not a Rosetta index"):
        Index(tmp_path / "junk.db")
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE x(a)")
    with pytest.raises(SearchIndexError, match="not a Rosetta index"):
        Index(tmp_path / "other.db")
    with Index(tmp_path / "i.db") as idx:
        with pytest.raises(SearchIndexError, match="not a folder"):
            idx.add_parts(tmp_path / "nothing")
        (tmp_path / "empty").mkdir()
        with pytest.raises(SearchIndexError, match="no part files"):
            idx.add_parts(tmp_path / "empty")
        (tmp_path / "broken").mkdir()
        (tmp_path / "broken" / "part-00000.parquet").write_bytes(b"PAR1 garbage")
        with pytest.raises(SearchIndexError, match="part-00000.parquet: cannot read this part"):
            idx.add_parts(tmp_path / "broken")


def test_postgres_that_is_down_gives_a_clear_error(tmp_path):
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install 'rosetta-ocr[pg]')")
    with pytest.raises(SearchIndexError, match=r"cannot connect to PostgreSQL .*is the server running"):
        Index(f"host={tmp_path} user=x dbname=nothing")  # no server listens on this socket folder
    with pytest.raises(SearchIndexError, match=r"postgresql://me:\*\*\*@127.0.0.1:1/db: cannot connect"):
        Index("postgresql://me:secret@127.0.0.1:1/db")  # the password is not echoed


def test_postgres_database_without_an_index(postgres):
    pytest.importorskip("psycopg")
    with pytest.raises(SearchIndexError, match="holds no Rosetta index"):
        Index(postgres.dsn, create=False)


# ----------------------------------------------------------------------------- tagging
def test_tag_classes_words_and_entities():
    lex = Lexicon.example()
    tags = {t.label: t for t in tag(result("p.jpg", "PET SH0P", "puppies kittens", "Call 555-123-4567"), lex)}
    assert tags["petshop"].kind == "class" and {"puppies", "kittens"} <= set(tags["petshop"].words)
    assert tags["phone"].words == ("555-123-4567",) and tags["phone"].kind == "entity"
    assert "pharmacy" not in tags and "receipt" not in tags
    tags = {t.label: t for t in tag("SUBTOTAL 12.50\nTAX 1.03\nTOTAL $13.53\nVISA ****1234\n2024-03-01", lex)}
    assert tags["receipt"].score > 0.9 and tags["price"].words == ("$13.53",) and tags["date"].words == ("2024-03-01",)
    assert [t.label for t in tag("АПТЕКА", lex)] == ["pharmacy"] and [t.label for t in tag("صيدليه", lex)] == ["pharmacy"]
    assert [t.label for t in tag("Pharnacy", lex)] == ["pharmacy"]  # an OCR error, 1 edit
    assert tag("", lex) == [] and tag("the quick brown fox", lex) == []
    assert {t.label for t in tag("visit www.shop.com or mail info@shop.com #sale", lex)} >= {"url", "email", "hashtag"}


def test_lexicon_errors_name_the_file(tmp_path):
    bad = tmp_path / "lex.toml"
    bad.write_text("[shop\nwords = 1")
    with pytest.raises(ValueError, match="lex.toml: not valid TOML"):
        Lexicon.load(bad)
    bad.write_text("[shop]\nwordz = ['a']")
    with pytest.raises(ValueError, match="lex.toml: class 'shop' has unknown keys"):
        Lexicon.load(bad)
    bad.write_text("[shop]\npatterns = ['(']")
    with pytest.raises(ValueError, match="bad pattern"):
        Lexicon.load(bad)
    with pytest.raises(ValueError, match="cannot read the lexicon"):
        Lexicon.load(tmp_path / "none.toml")


def test_tags_written_to_the_index_are_searchable(where):
    with Index(where) as idx:
        idx.add([result("a.jpg", "PHARMACY open"), result("b.jpg", "open bar"), result("c.jpg", "pharmacy")])
        lex = Lexicon.example()
        assert idx.set_tags({d.key: tag(d, lex) for d in idx.docs()}) == 3
        assert sorted(keys_of(idx.search("", label="pharmacy"))) == ["a.jpg", "c.jpg"]
        assert keys_of(idx.search("open", label="pharmacy")) == ["a.jpg"]
        assert keys_of(idx.search("open", label="poster")) == []
        assert [t.label for t in idx.search("bar")[0].tags] == []
        assert [t.label for t in idx.search("open", label="pharmacy")[0].tags] == ["pharmacy"]


# ----------------------------------------------------------------------------- CLI and HTTP
def test_cli_index_search_tag(tmp_path, capsys):
    from PIL import Image

    from rosetta.cli import main

    img = tmp_path / "sign.png"
    Image.new("RGB", (600, 60), "white").save(img)
    out = tmp_path / "out"
    out.mkdir()
    write_part([row("sign", "Farmacia Central", str(img)), row("gone", "farmacia", "/no/such.png")],
               out / "part-00000.jsonl", "jsonl")
    db = str(tmp_path / "i.db")
    assert main(["index", str(out), "--db", db, "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["images_added"] == 2
    assert main(["search", "farmacia", "--db", db, "--format", "json", "--viz", str(tmp_path / "viz")]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert sorted(h["image"] for h in hits) == ["gone", "sign"] and len(hits[0]["words"][0]["points"]) == 4
    assert [p.name for p in (tmp_path / "viz").iterdir()] in (["001_sign.png"], ["002_sign.png"])
    assert main(["tag", "--db", db]) == 0
    assert {json.loads(line)["image"] for line in capsys.readouterr().out.splitlines()} == {"sign", "gone"}
    assert main(["search", "", "--class", "pharmacy", "--db", db]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["search", "x", "--db", str(tmp_path / "none.db")]) == 2
    assert "none.db: no such file" in capsys.readouterr().err
    assert main(["tag", str(tmp_path / "nothing.jsonl")]) == 2
    assert "nothing.jsonl: no such file" in capsys.readouterr().err


def test_http_search_and_tag(tmp_path):
    from fastapi.testclient import TestClient

    from rosetta.engine.serve import ServeConfig, create_app

    db = str(tmp_path / "i.db")
    with Index(db) as idx:
        idx.add([result("a.jpg", "Pet Shop puppies"), result("b.jpg", "Bakery")])
    app = create_app(lambda *a: [], {"name": "rosetta", "version": "t"}, ServeConfig(index=db))
    with TestClient(app) as c:
        r = c.get("/v1/search", params={"q": "puppis", "limit": 5})
        assert r.status_code == 200 and [h["image"] for h in r.json()["hits"]] == ["a.jpg"]
        assert c.get("/v1/search", params={"q": "puppis", "exact": "true"}).json()["hits"] == []
        assert c.get("/v1/search", params={"q": "x", "limit": 0}).status_code == 400
        assert c.get("/v1/search").status_code == 400
        r = c.post("/v1/tag", json=result("a.jpg", "PET SHOP", "dog food 4.99 €").to_dict())
        assert {t["label"] for t in r.json()["tags"]} == {"petshop", "shop", "price"}
        assert [t["label"] for t in c.post("/v1/tag", json={"text": "АПТЕКА"}).json()["tags"]] == ["pharmacy"]
        assert c.post("/v1/tag", content=b"not json").status_code == 400
        assert c.post("/v1/tag", json=[1, 2]).status_code == 400
    with TestClient(create_app(lambda *a: [], {"name": "rosetta", "version": "t"}, ServeConfig())) as c:
        assert c.get("/v1/search", params={"q": "x"}).status_code == 503


def test_records_round_trip_a_batch_row():
    r = row("k", "Hello wörld")
    doc = ImageDoc.from_row(r)
    assert [w.terms for w in doc.words] == [("hello",), ("world",)] and doc.key == "k"
    assert doc.to_result().text == "Hello wörld"


def test_common_terms_are_completed_in_the_images_other_terms_find(where):
    from rosetta.search import SearchConfig

    with Index(where, config=SearchConfig(common_cap=5)) as idx:
        idx.add([result(f"i{k:02d}.jpg", "the shop") for k in range(30)] + [result("last.jpg", "the kiosk")])
        hits = idx.search("the kiosk")  # "the" is common (31 words > 5): read only in kiosk's images
        assert hits[0].image == "last.jpg" and hits[0].matched == 2 and [h.matched for h in hits[1:]] == [1] * 5
        assert len(idx.search("the", limit=50)) == 5  # a clause of common terms only: its first 5 words
        assert keys_of(idx.search('"the kiosk"')) == ["last.jpg"]

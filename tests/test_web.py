"""The web page in real headless Chromium (Debian chromium + chromedriver, driven by Selenium): with the real
service and the shipped models (a sample dropped on the page: its words listed and boxed), and with a stand-in
reader for the page's own logic (word counts, the confidence floor, the messages for 400, 413 and 503).
``python scripts/web_picture.py`` (``make web-picture``) redraws the README's pictures the same way."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

from rosetta.runtime.files import read_meta
from scripts.web_picture import SAMPLE, browser_missing, chromium, drop_file, free_port, real_service, words_shown

pytest.importorskip("fastapi", reason="the HTTP service needs the serve extra: pip install 'rosetta-ocr[serve]'")
uvicorn = pytest.importorskip("uvicorn", reason="the HTTP service needs the serve extra: pip install 'rosetta-ocr[serve]'")
pytestmark = pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "")

from tests.test_serve import FakeReader  # noqa: E402 - after the skips: it imports fastapi


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "profile") as driver:
        yield driver


@contextlib.contextmanager
def stand_in(reader, info: dict | None = None, **config):
    """The app around a stand-in reader, served by uvicorn in a thread; yields its URL."""
    from rosetta.engine.serve import ServeConfig, create_app

    port = free_port()
    app = create_app(reader, {"name": "rosetta", "version": "test", **(info or {})}, ServeConfig(**config))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    while not srv.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        t.join(10)


def text(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def shown_boxes(driver) -> list[dict]:
    """Each box drawn on the page: its polygon's points (in the image's pixels) and its size on screen."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#overlay g.word polygon')].map(p => {"
        "  const r = p.getBoundingClientRect();"
        "  return {points: [...p.points].map(q => [q.x, q.y]), width: r.width, height: r.height,"
        "          stroke: getComputedStyle(p).stroke}; });")


@pytest.mark.slow
def test_real_service_reads_the_latin_sign(browser):
    """The shipped models behind ``rosetta serve``: the sample dropped on the page is read as people read it."""
    import httpx

    with real_service("--threads", "1") as url:
        browser.get(url + "/")
        drop_file(browser, SAMPLE)
        words = words_shown(browser, timeout=120)
        floor = httpx.get(url + "/v1/info").json()["min_confidence"]
        served = httpx.post(url + "/v1/ocr", content=SAMPLE.read_bytes(), timeout=120).json()["words"]
        floor_shown = text(browser, "floor")
        boxes = shown_boxes(browser)
    assert {"COFFEE", "TEA", "OPEN", "24", "HOURS", "EXIT"} <= {w.upper() for w in words}, words
    assert text(browser, "status").startswith(f"{len(words)} words in "), text(browser, "status")
    card = read_meta("recognizer")["min_confidence"]
    assert floor == card and floor_shown == f"{card:.2f}"  # the recognizer card's floor, the page says which
    # one box drawn per word listed, where the service put it, visible on screen
    assert len(boxes) == len(words) == len(served)
    for box, word in zip(boxes, served):
        assert sum(box["points"], []) == pytest.approx(sum(word["points"], []), abs=0.01)
        assert box["width"] > 10 and box["height"] > 10 and box["stroke"] == "rgb(224, 36, 94)"


def test_stand_in_upload_shows_boxes_words_and_floor(browser):
    """The page's own logic: one word is '1 word', its box drawn in the image's pixels; the floor the server
    reports is shown."""
    from selenium.webdriver.common.by import By

    with stand_in(FakeReader(), {"min_confidence": 0.5}) as url:
        browser.get(url + "/")
        browser.find_element(By.ID, "file").send_keys(str(SAMPLE))  # the "choose a file" path, not a drop
        assert words_shown(browser) == ["w1024"]
        assert text(browser, "status").startswith("1 word in ")
        assert text(browser, "floor") == "0.50" and "20 MB" in text(browser, "info")
        (box,) = shown_boxes(browser)
        # FakeReader's box: centre (10, 10), 8 x 4, 15 degrees: its corners lie within 5 px of the centre
        assert all(abs(x - 10) < 5 and abs(y - 10) < 5 for x, y in box["points"]) and box["width"] > 0
        assert browser.execute_script("return document.querySelector('#overlay').viewBox.baseVal.width") == 1024


def test_error_messages(browser, tmp_path):
    """400 (not an image), 413 (over the body limit) and 503 (queue full) each get a message naming the cause."""
    from selenium.webdriver.common.by import By

    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    with stand_in(FakeReader(), max_bytes=50_000) as url:
        browser.get(url + "/")
        drop_file(browser, bad)
        assert words_shown(browser) == []
        assert text(browser, "status").startswith("The server could not read notes.jpg: notes.jpg: not a readable image")
        drop_file(browser, SAMPLE)  # 259 kB
        words_shown(browser)
        assert text(browser, "status") == "sign_latin.jpg is too large for the server (253 kB; the limit is 49 kB)"
        assert browser.find_element(By.ID, "status").get_attribute("class") == "error"

    import httpx

    class Hanging(FakeReader):
        """A model that hangs until released, and says when a batch has reached it."""

        def __init__(self):
            super().__init__()
            self.entered = threading.Event()
            self.gate.clear()

        def __call__(self, *args):
            self.entered.set()
            return super().__call__(*args)

    reader = Hanging()
    post = lambda: httpx.post(url + "/v1/ocr", content=SAMPLE.read_bytes(), timeout=60)  # noqa: E731
    with stand_in(reader, max_batch=1, max_queue=1, timeout_s=30) as url:
        browser.get(url + "/")
        waiting = [threading.Thread(target=post)]
        try:
            waiting[0].start()  # one request in the model, then one in the queue: the queue is full
            assert reader.entered.wait(30)
            waiting.append(threading.Thread(target=post))
            waiting[1].start()
            deadline = time.monotonic() + 30
            while "rosetta_queue_depth 1.0" not in httpx.get(url + "/metrics").text and time.monotonic() < deadline:
                time.sleep(0.1)
            drop_file(browser, SAMPLE)
            words_shown(browser)
            assert text(browser, "status") == "The server is busy: try again in 1 s."
        finally:
            reader.gate.set()
            for t in waiting:
                t.join(60)


@pytest.mark.slow
def test_search_box_finds_images_by_their_text(browser, tmp_path):
    """With an index (rosetta serve --db), the page shows a search box; a misread word still finds its image."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from rosetta.result import Result, RotatedBox, Word
    from rosetta.search.index import Index

    def result(name: str, words: list[str]) -> Result:
        return Result.build(400, 100, [Word(t, 0.9, 0.9, RotatedBox(40 + 80 * k, 50, 70, 20, 0.0))
                                       for k, t in enumerate(words)], image=name)

    db = tmp_path / "index.sqlite"
    with Index(str(db)) as idx:
        idx.add([result("shop.jpg", ["COFFEE", "SHOP"]), result("station.jpg", ["TRAIN", "STATION"])])
    with stand_in(FakeReader(), index=str(db)) as url:
        browser.get(url + "/")
        WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "search").is_displayed())
        browser.find_element(By.ID, "q").send_keys("cofee")  # one letter short: found by the fuzzy search
        browser.find_element(By.CSS_SELECTOR, "#search button").click()
        WebDriverWait(browser, 10).until(lambda d: "for" in text(d, "searchstatus"))
        assert text(browser, "searchstatus").startswith("1 image for")
        assert "shop.jpg" in text(browser, "hits") and "COFFEE" in text(browser, "hits")
    with stand_in(FakeReader()) as url:  # no index: no search box
        browser.get(url + "/")
        WebDriverWait(browser, 10).until(lambda d: "floor" in text(d, "info") or "MB" in text(d, "info"))
        assert not browser.find_element(By.ID, "search").is_displayed()

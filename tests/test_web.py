"""The web page in real headless Chromium (Debian chromium + chromedriver, driven by Selenium): upload an
image, see boxes and words. ``ROSETTA_SCREENSHOT=docs/web_page.png`` refreshes the screenshot in docs/."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from tests.test_serve import FakeReader

ROOT = Path(__file__).parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    from rosetta.engine.serve import create_app

    port = _free_port()
    app = create_app(FakeReader(), {"name": "rosetta", "version": "test"})
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


def test_upload_shows_boxes_and_words(server, tmp_path):
    assert shutil.which("chromium") and shutil.which("chromedriver"), "make test installs chromium + chromium-driver"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,1000"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        driver.get(server + "/")
        sample = ROOT / "src" / "rosetta" / "samples" / "sign_latin.jpg"
        driver.find_element(By.ID, "file").send_keys(str(sample))
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#words tbody tr"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#words tbody tr")
        assert rows[0].find_elements(By.TAG_NAME, "td")[1].text == "w1024"
        assert "1 word in" in driver.find_element(By.ID, "status").text
        width = driver.execute_script("return document.getElementById('canvas').width")
        # the canvas shows the image with a red quad drawn on it
        red = driver.execute_script(
            "const c=document.getElementById('canvas').getContext('2d');"
            "const d=c.getImageData(0,0,40,40).data; let n=0;"
            "for(let i=0;i<d.length;i+=4){ if(d[i]>200&&d[i+1]<80&&d[i+2]<140) n++; } return n;")
        assert width == 1024 and red > 0
        shot = os.environ.get("ROSETTA_SCREENSHOT")  # e.g. docs/web_page.png to refresh the picture in docs/
        driver.save_screenshot(shot or str(tmp_path / "web_page.png"))
    finally:
        driver.quit()

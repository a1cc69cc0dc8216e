"""The README's pictures, from the real service and the real models, so that they cannot drift from what users get.

    python scripts/web_picture.py            # or: make web-picture
    python scripts/web_picture.py --sample src/rosetta/samples/sign_latin.jpg --page docs/web_page.png \
        --overlay docs/overlay.jpg

``docs/web_page.png``: ``rosetta serve`` started on a free port with the shipped models, the page loaded in
headless Chromium (Debian's chromium + chromedriver, driven by Selenium), the sample dropped on it, a screenshot
once the words are listed. ``docs/overlay.jpg``: ``rosetta read SAMPLE --viz``. The helpers here (the service,
the browser, a drop) are the ones tests/test_web.py drives the page with.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Iterator

from rosetta.engine.service_process import free_port, running_service

log = logging.getLogger("web_picture")
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "rosetta" / "samples" / "sign_latin.jpg"
WINDOW = (1280, 800)  # the screenshot's size in CSS pixels


def browser_missing() -> str | None:
    """Why the page cannot be driven here (no chromium, chromedriver or selenium), or None when it can."""
    for tool in ("chromium", "chromedriver"):
        if not shutil.which(tool):
            return f"{tool} is not installed (Debian: apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'rosetta-ocr[dev]')"
    return None


@contextlib.contextmanager
def real_service(*args: str, ready_s: float = 300.0) -> Iterator[str]:
    """``rosetta serve ARGS...`` with the shipped models in a subprocess (rosetta.engine.service_process); yields
    its URL once ready and stops it on exit."""
    with running_service(*args, ready_s=ready_s) as service:
        log.info("rosetta serve ready at %s", service.url)
        yield service.url


@contextlib.contextmanager
def chromium(profile: Path, window: tuple[int, int] = WINDOW):
    """Headless Debian Chromium driven by Selenium, with its profile in ``profile`` and no network of its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={profile}",
                 f"--window-size={window[0]},{window[1]}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:  # the viewport itself at that size (--window-size counts the window's frame too)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()


def drop_file(driver, path: Path, target: str = "drop") -> None:
    """Drop the file at ``path`` on the element with id ``target``, as a user dragging it from a file manager does
    (WebDriver cannot drag from outside the page: the file goes through a scratch input, then a drop event)."""
    from selenium.webdriver.common.by import By

    driver.execute_script("const i = document.createElement('input'); i.type = 'file'; i.id = 'scratch-file';"
                          "i.hidden = true; document.body.appendChild(i);")
    driver.find_element(By.ID, "scratch-file").send_keys(str(Path(path).resolve()))
    driver.execute_script(
        "const i = document.getElementById('scratch-file'), dt = new DataTransfer(); dt.items.add(i.files[0]);"
        "const t = document.getElementById(arguments[0]);"
        "for (const kind of ['dragenter', 'dragover', 'drop'])"
        "  t.dispatchEvent(new DragEvent(kind, {dataTransfer: dt, bubbles: true, cancelable: true}));"
        "i.remove();", target)


def words_shown(driver, timeout: float = 60.0) -> list[str]:
    """The words listed on the page once it shows a result (or an error: then []); the status line is logged."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.find_element(By.ID, "status").text and not d.find_element(By.ID, "status").text.startswith("reading"))
    log.info("page: %s", driver.find_element(By.ID, "status").text)
    return [row.find_elements(By.TAG_NAME, "td")[1].text for row in driver.find_elements(By.CSS_SELECTOR, "#words tbody tr")]


def page_picture(sample: Path, out: Path) -> list[str]:
    """Screenshot of the page with ``sample`` dropped on it, served by the real service; returns the words shown."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp, real_service("--threads", "1") as url, \
            chromium(Path(tmp) / "profile") as driver:
        driver.get(url + "/")
        drop_file(driver, sample)  # the first read pays the models' one-time set-up: the picture shows the second
        words_shown(driver)
        drop_file(driver, sample)
        words = words_shown(driver)
        if not words:
            raise RuntimeError(f"the page shows no words for {sample}")
        driver.execute_script("document.activeElement.blur()")
        shot = Path(tmp) / "page.png"
        driver.save_screenshot(str(shot))
        # 256 colours: a third of the size of the full-colour screenshot, and no visible loss at this size
        Image.open(shot).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return words


def overlay_picture(sample: Path, out: Path) -> None:
    """``rosetta read SAMPLE --viz`` (the shipped models), saved as a JPEG at ``out``."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "rosetta", "read", str(sample), "--format", "text", "--viz", tmp],
                       check=True, stdout=subprocess.DEVNULL)
        Image.open(Path(tmp) / (sample.stem + ".png")).convert("RGB").save(out, quality=88, optimize=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sample", type=Path, default=SAMPLE)
    p.add_argument("--page", type=Path, default=ROOT / "docs" / "web_page.png", help="the page's screenshot")
    p.add_argument("--overlay", type=Path, default=ROOT / "docs" / "overlay.jpg", help="the --viz overlay")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    missing = browser_missing()
    if missing:
        raise SystemExit(f"web_picture: error: {missing}")
    if not args.sample.is_file():
        raise SystemExit(f"web_picture: error: no such sample {args.sample}")
    words = page_picture(args.sample, args.page)
    log.info("wrote %s (%d bytes): %s", args.page, args.page.stat().st_size, " ".join(words))
    overlay_picture(args.sample, args.overlay)
    log.info("wrote %s (%d bytes)", args.overlay, args.overlay.stat().st_size)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()

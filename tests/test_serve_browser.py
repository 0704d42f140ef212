"""The web page in a real headless Chromium (Debian's, driven by Playwright): upload the bundled
example, move the strength slider, download the result, compare it with the CLI's bytes.

Set FACEBLUR_SCREENSHOT=path to keep the screenshot (the README's comes from here)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
uvicorn = pytest.importorskip("uvicorn")

from helpers import free_port  # noqa: E402

from faceblur_cli.cli.app import main_argv  # noqa: E402
from faceblur_cli.serve.app import create_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXAMPLE = Path(__file__).resolve().parents[1] / "faceblur_cli" / "assets" / "examples" / "astronaut_blurry.jpg"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/run installs Debian's)")


@pytest.fixture(scope="module")
def served():
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app("faceblur-lite", "torch"), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def test_page_upload_slider_download(served, tmp_path):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760}, accept_downloads=True)
            errors: list = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(served + "/")
            page.wait_for_selector("#model option", state="attached")
            page.set_input_files("#files", str(EXAMPLE))
            card = page.locator(".card").first
            sync_api.expect(card).to_have_attribute("data-state", "done", timeout=60_000)
            slider = page.locator("#strength")
            slider.focus()
            for _ in range(10):  # 1.00 -> 0.50 in steps of 0.05, as a keyboard user would
                page.keyboard.press("ArrowLeft")
            sync_api.expect(page.locator("#strength-value")).to_have_text("0.50")
            sync_api.expect(card).to_have_attribute("data-strength", "0.5", timeout=60_000)
            page.locator(".card .split").first.fill("30")
            with page.expect_download() as download:
                card.locator(".download").click()
            got = tmp_path / "downloaded.jpg"
            download.value.save_as(got)
            suggested = download.value.suggested_filename
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            if os.environ.get("FACEBLUR_SCREENSHOT"):
                shutil.copy(tmp_path / "page.png", os.environ["FACEBLUR_SCREENSHOT"])
            assert not errors, errors
        finally:
            browser.close()
    want = tmp_path / "cli.jpg"
    assert main_argv(["deblur", str(EXAMPLE), "-o", str(want), "--model", "faceblur-lite", "--strength", "0.5"]) == 0
    assert got.read_bytes() == want.read_bytes()
    assert suggested == "astronaut_blurry_sharp.jpg"

"""A headless Chromium for browser tests: Debian's chromium + chromedriver, driven by Selenium.

The driver and the browser are given to Selenium by path, so Selenium Manager never
runs; :func:`tests.debian.ensure_programs` installs them with ``apt-get`` when missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.debian import ensure_programs, unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ("chromium", "chromium-driver")
WINDOW = (1280, 900)


def ensure_chromium() -> tuple[Path, Path]:
    """Return (browser, driver) paths, installing Debian's packages when missing."""
    ensure_programs((CHROMIUM, CHROMEDRIVER), APT_PACKAGES)
    return CHROMIUM, CHROMEDRIVER


def chrome_driver() -> Any:
    """A headless Chromium WebDriver (1280x900); the caller quits it."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        unavailable(f"selenium is not installed: {exc}")
    browser, driver = ensure_chromium()
    options = Options()
    options.binary_location = str(browser)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--lang=en-US"):
        options.add_argument(arg)
    # the browser console, for failure reports
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        wd = webdriver.Chrome(service=Service(executable_path=str(driver)), options=options)
    except WebDriverException as exc:
        unavailable(f"headless chromium did not start: {exc.msg or exc}")
    wd.set_window_size(*WINDOW)
    wd.set_page_load_timeout(60)
    return wd


def console_log(wd: Any) -> str:
    """The browser console so far, one entry a line (empty when unavailable)."""
    try:
        return "\n".join(f"{e.get('level')} {e.get('message')}" for e in wd.get_log("browser"))
    except Exception:
        return ""


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """A fresh headless Chromium, quit on the way out (``with headless_chromium() as wd``)."""
    wd = chrome_driver()
    try:
        yield wd
    finally:
        wd.quit()

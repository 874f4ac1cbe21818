"""A headless Chromium for browser tests: Debian's chromium + chromedriver, driven by Selenium.

Nothing is downloaded from outside the OS package manager: the driver and the browser
are given to Selenium by path, so Selenium Manager never runs. When they are missing,
``apt-get`` installs them (as root); when that cannot be done the test is skipped, or
fails when ``RAYMAS_REQUIRE_SERVICES=1`` (CI), like the other real-service tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ("chromium", "chromium-driver")
WINDOW = (1280, 900)

_install_lock = threading.Lock()
_apt_updated = False


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("RAYMAS_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _present() -> bool:
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


def _apt(*args: str, timeout: float) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", *args], check=True, env=env, timeout=timeout,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def ensure_chromium() -> tuple[Path, Path]:
    """Return (browser, driver) paths, installing Debian's packages when missing."""
    global _apt_updated
    with _install_lock:
        if _present():
            return CHROMIUM, CHROMEDRIVER
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            _unavailable("chromium/chromedriver are missing and apt-get cannot install them "
                         "(not root or no apt-get)")
        try:
            if not _apt_updated:
                _apt("update", timeout=300)
                _apt_updated = True
            _apt("install", "-y", "--no-install-recommends", *APT_PACKAGES, timeout=900)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            output = getattr(exc, "output", b"") or b""
            tail = output.decode(errors="replace")[-800:]
            _unavailable(f"could not install {' '.join(APT_PACKAGES)}: {exc}\n{tail}")
        if not _present():
            _unavailable(f"{CHROMIUM} or {CHROMEDRIVER} still missing after apt-get install")
        return CHROMIUM, CHROMEDRIVER


def chrome_driver() -> Any:
    """A headless Chromium WebDriver (1280x900); the caller quits it."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        _unavailable(f"selenium is not installed: {exc}")
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
        _unavailable(f"headless chromium did not start: {exc.msg or exc}")
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

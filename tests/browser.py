"""A real headless browser for the tests: Debian's chromium through selenium.

:func:`headless_chromium` starts ``/usr/bin/chromium`` with ``chromedriver`` (the
``chromium`` and ``chromium-driver`` packages; ``.ci/run`` installs them when
missing) and yields a selenium WebDriver; :func:`wait_until` waits on a
condition with selenium's explicit wait, never a fixed sleep. Selenium is told
where both binaries are, so it never looks for a browser on the network.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

_T = TypeVar("_T")


def _binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.fail(
        f"{names[0]} is not on the PATH: apt-get install -y chromium chromium-driver "
        "(.ci/run installs them when missing)"
    )


@contextmanager
def headless_chromium() -> Iterator[webdriver.Chrome]:
    """A headless chromium session, closed at the end of the block."""
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    service = Service(executable_path=_binary("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(
    driver: webdriver.Chrome,
    condition: Callable[[webdriver.Chrome], _T],
    *,
    timeout: float = 20.0,
    message: str = "",
) -> _T:
    """``condition(driver)`` once truthy, polled by selenium; fails after ``timeout``.

    An element missing or replaced while the condition reads it (the page
    re-renders) counts as not yet.
    """
    wait = WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.05,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )
    return wait.until(condition, message)

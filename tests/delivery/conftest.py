"""Fixtures of the delivery tests: a scriptable collector, the library's log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.collector import Collector, LogWatch


@pytest.fixture(name="collector")
def _collector() -> Iterator[Collector]:
    collector = Collector()
    yield collector
    collector.close()


@pytest.fixture(name="logs")
def _logs() -> Iterator[LogWatch]:
    """Every record of the ``snowplow_logging`` logger during the test."""
    watch = LogWatch()
    logger = logging.getLogger("snowplow_logging")
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)
    yield watch
    logger.removeHandler(watch)

"""Fixtures of the delivery tests: a scriptable collector."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.collector import Collector


@pytest.fixture(name="collector")
def _collector() -> Iterator[Collector]:
    collector = Collector()
    yield collector
    collector.close()

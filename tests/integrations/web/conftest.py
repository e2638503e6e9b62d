"""One collector per test module; the servers of a test class share it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snowplow_logging.micro import MicroCollector

pytest.register_assert_rewrite(
    "tests.integrations.web.checks", "tests.integrations.web.servers"
)


@pytest.fixture(name="micro", scope="module")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro

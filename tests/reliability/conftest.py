"""Sizes (quick by default, full with ``SNOWPLOW_RELIABILITY_FULL=1``) and results.

Every scenario reports its figures through the ``report`` fixture; when
``SNOWPLOW_RELIABILITY_RESULTS`` names a directory, each is written there as
``<scenario>.json`` for ``scripts/reliability_report.py`` to render.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from snowplow_logging import Retry

FULL = os.environ.get("SNOWPLOW_RELIABILITY_FULL") == "1"
"""Run the sizes issue #8 names instead of the quick ones CI uses."""

FAST_RETRY = Retry(initial_delay=0.01, max_delay=0.1, jitter=0.01)
"""Back-off short enough that a fault scenario is about counting, not waiting."""

Report = Callable[..., None]


def size(quick: int, full: int) -> int:
    """``full`` with ``SNOWPLOW_RELIABILITY_FULL=1``, else ``quick``."""
    return full if FULL else quick


def seconds(quick: float, full: float) -> float:
    """``full`` seconds with ``SNOWPLOW_RELIABILITY_FULL=1``, else ``quick``."""
    return full if FULL else quick


def check_identity(stats: Mapping[str, int]) -> None:
    """Assert the emitter's accounting: inputs == sent + failed + dropped + queued."""
    assert stats["inputs"] == (
        stats["sent"] + stats["failed"] + stats["dropped"] + stats["queued"]
    ), stats
    assert stats["dropped"] == (
        stats["dropped_queue_full"] + stats["dropped_closed"] + stats["dropped_unsent"]
    ), stats


@pytest.fixture(name="report")
def _report(request: pytest.FixtureRequest) -> Report:
    """A function recording one scenario's figures, written out when asked for."""
    directory = os.environ.get("SNOWPLOW_RELIABILITY_RESULTS")

    def report(
        scenario: str,
        *,
        tracked: int,
        delivered: int,
        dropped: int,
        failed: int,
        duplicates: int,
        exit_time: float | None = None,
        note: str = "",
        **extra: object,
    ) -> None:
        assert tracked == delivered + dropped + failed, (
            scenario,
            tracked,
            delivered,
            dropped,
            failed,
        )
        if directory is None:
            return
        result = {
            "scenario": scenario,
            "test": request.node.nodeid,
            "full": FULL,
            "tracked": tracked,
            "delivered": delivered,
            "dropped": dropped,
            "failed": failed,
            "duplicates": duplicates,
            "exit_time": exit_time,
            "note": note,
            **extra,
        }
        # The node id, not its name: two classes may hold tests of one name.
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.rpartition("/")[2])
        path = Path(directory) / f"{name}.json"
        path.write_text(json.dumps(result, indent=2), encoding="utf-8")

    return report

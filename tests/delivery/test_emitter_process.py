"""Emitter across process boundaries: interpreter exit and fork, in subprocesses."""

from __future__ import annotations

import json
import time
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from tests.collector import Collector, blackhole, free_port
from tests.processes import run_script

SCRIPTS = Path(__file__).parent / "scripts"


def _run(script: str, *args: str, timeout: float = 30.0) -> tuple[float, str, str]:
    started = time.monotonic()
    result = run_script(SCRIPTS / script, *args, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - started, result.stdout, result.stderr


class TestInterpreterExit:
    """At exit every live emitter is flushed within one deadline."""

    @pytest.mark.parametrize(("method", "count"), [("post", 1_000), ("get", 20)])
    def test_exit_without_flush_delivers_everything(
        self, collector: Collector, method: str, count: int
    ) -> None:
        """A script that tracks and just exits still delivers every event."""
        _, _, stderr = _run(
            "exit_without_flush.py", collector.url, str(count), "5", method
        )

        actions = [e["se_ac"] for e in collector.accepted_events()]
        assert sorted(actions) == sorted(f"step-{n}" for n in range(count))
        assert stderr == ""

    def test_events_after_the_exit_flush_are_reported(
        self, collector: Collector
    ) -> None:
        """An atexit function that runs after ours: its events are named, once."""
        _, _, stderr = _run("late_atexit.py", collector.url)

        actions = [e["se_ac"] for e in collector.accepted_events()]
        assert actions == ["in-time"]
        assert stderr.count("was tracked after this process's final flush") == 1

    @pytest.mark.parametrize("down", ["refused", "hanging"])
    def test_exit_with_collector_down_is_bounded(self, down: str) -> None:
        """With the collector down the process exits by the deadline and says so."""
        target: AbstractContextManager[str] = (
            nullcontext(f"http://127.0.0.1:{free_port()}")
            if down == "refused"
            else blackhole()
        )
        with target as url:
            elapsed, _, stderr = _run("exit_without_flush.py", url, "300", "1", "post")

        assert elapsed < 1.0 + 3.0  # the exit deadline plus interpreter start-up
        assert "300 events could not be delivered" in stderr

    def test_one_deadline_for_all_emitters(self) -> None:
        """Three emitters to a hanging collector share one exit deadline."""
        with blackhole() as url:
            elapsed, _, stderr = _run(
                "exit_without_flush.py", url, "10", "1", "post", "3"
            )

        assert elapsed < 3 * 1.0  # not one deadline each
        assert stderr.count("10 events could not be delivered") == 3


class TestFork:
    """After fork each process sends its own events, once."""

    def test_fork(self, collector: Collector) -> None:
        """The child's events arrive; the parent's pending ones arrive once."""
        _, stdout, _ = _run("fork_child.py", collector.url)

        result = json.loads(stdout)
        assert result["child_exit"] == 0
        assert result["parent_delivered"] is True
        assert result["parent_stats"]["sent"] == 5
        events = collector.accepted_events()
        assert Counter(e["se_ca"] for e in events) == {"parent": 5, "child": 3}
        assert len({e["eid"] for e in events}) == 8

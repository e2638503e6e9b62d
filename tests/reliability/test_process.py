"""Reliability across a process's life: exit, signals, fork, memory, in subprocesses.

Each scenario runs ``scripts/job.py`` against a
:class:`~tests.reliability.faults.FaultCollector` and reads the emitter's final
``stats`` from the script's last line, taken after the library's exit hook ran.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import start_python
from tests.reliability.conftest import Report, check_identity, size
from tests.reliability.faults import Fault, FaultCollector, Tally, always

JOB = Path(__file__).parent / "scripts" / "job.py"
SLACK = 1.5
"""Seconds allowed beyond a deadline for interpreter teardown on a busy machine."""


def _start(
    mode: str, url: str, count: int, exit_timeout: float
) -> subprocess.Popen[str]:
    return start_python(
        str(JOB), mode, url, str(count), str(exit_timeout), stderr=subprocess.PIPE
    )


def _finish(process: subprocess.Popen[str]) -> tuple[dict[str, object], str, float]:
    """Wait for the script; its result, its stderr and when it ended (monotonic)."""
    stdout, stderr = process.communicate(timeout=120)
    ended = time.monotonic()
    assert process.returncode == 0, stderr
    return json.loads(stdout.splitlines()[-1]), stderr, ended


def _stats(result: dict[str, object]) -> dict[str, int]:
    stats = result["stats"]
    assert isinstance(stats, dict)
    return {k.removeprefix("emitter_"): v for k, v in stats.items()}


def _sigterm_during_flush(
    mode: str, count: int, exit_timeout: float
) -> tuple[subprocess.Popen[str], str, str, float]:
    """Send SIGTERM while the job's flush retries against a 503 collector.

    Returns the process, its remaining stdout and stderr, and the seconds from
    the signal to the process's exit.
    """
    with FaultCollector(always(Fault(status=503))) as failing:
        process = _start(mode, failing.url, count, exit_timeout=exit_timeout)
        assert process.stdout is not None
        assert process.stdout.readline() == "flushing\n"
        assert failing.wait_for(requests=2)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
        return process, stdout, stderr, time.monotonic() - signalled


def _delivering_job(
    report: Report, scenario: str, mode: str, collector: FaultCollector, count: int
) -> tuple[dict[str, int], Tally, str]:
    """Run the job against a working collector and report it; exit deadline 10 s."""
    result, stderr, ended = _finish(_start(mode, collector.url, count, 10.0))
    stats = _stats(result)
    tally = collector.tally()
    report(
        scenario,
        tracked=count,
        delivered=tally.delivered,
        dropped=stats["dropped"],
        failed=stats["failed"],
        duplicates=tally.duplicates,
        exit_time=ended - float(result["done"]),  # type: ignore[arg-type]
    )
    return stats, tally, stderr


@pytest.fixture(name="collector")
def _collector() -> Iterator[FaultCollector]:
    collector = FaultCollector()
    yield collector
    collector.close()


class TestExit:
    """A job that just exits delivers what it can and never hangs."""

    def test_collector_down_for_the_whole_run(self, report: Report) -> None:
        """Refused connections: the job exits by the deadline and reports every event."""
        count = size(4_000, 50_000)
        with FaultCollector(listening=False) as down:
            process = _start("exit", down.url, count, exit_timeout=1.0)
            result, stderr, ended = _finish(process)
        stats = _stats(result)
        exit_time = ended - float(result["done"])  # type: ignore[arg-type]
        report(
            "collector down for the whole run, process exits",
            tracked=count,
            delivered=0,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=0,
            exit_time=exit_time,
            note="exit deadline 1 s; the undelivered count is logged",
        )

        check_identity(stats)
        assert (stats["inputs"], stats["dropped_unsent"], stats["queued"]) == (
            count,
            count,
            0,
        )
        assert exit_time < 1.0 + SLACK
        assert f"{count} events could not be delivered" in stderr

    def test_collector_up_exit_without_flush(
        self, collector: FaultCollector, report: Report
    ) -> None:
        """With the collector up, a job that never flushes loses nothing at exit."""
        count = size(4_000, 50_000)
        stats, tally, stderr = _delivering_job(
            report,
            "collector up, process exits without flush",
            "exit",
            collector,
            count,
        )

        check_identity(stats)
        assert (tally.delivered, tally.duplicates, stats["sent"]) == (count, 0, count)
        assert stderr == ""

    @pytest.mark.parametrize("mode", ["shutdown-finally", "shutdown-atexit"])
    def test_logging_shutdown(
        self, collector: FaultCollector, report: Report, mode: str
    ) -> None:
        """logging.shutdown() from a finally block or an atexit function delivers all."""
        count = size(2_000, 20_000)
        where = (
            "a finally block" if mode == "shutdown-finally" else "an atexit function"
        )
        stats, tally, stderr = _delivering_job(
            report, f"logging.shutdown() from {where}", mode, collector, count
        )

        check_identity(stats)
        assert (stats["events"], stats["sent"], stats["dropped"]) == (count, count, 0)
        assert (tally.delivered, tally.duplicates) == (count, 0)
        assert stderr == ""


class TestSigterm:
    """SIGTERM while a flush waits on a failing collector never hangs the process."""

    def test_default_action_kills_at_once(self, report: Report) -> None:
        """With SIGTERM's default action the process dies at once, mid-flush."""
        count = size(2_000, 20_000)
        process, _, _, exit_time = _sigterm_during_flush("sigterm", count, 5.0)
        report(
            "SIGTERM during a flush, default action",
            tracked=count,
            delivered=0,
            dropped=count,
            failed=0,
            duplicates=0,
            exit_time=exit_time,
            note="killed by the signal: queued events are lost and nothing reports them",
        )

        assert process.returncode == -signal.SIGTERM
        assert exit_time < SLACK

    def test_handler_calling_sys_exit_runs_the_exit_flush(self, report: Report) -> None:
        """A SIGTERM handler calling sys.exit: the exit flush runs within its deadline."""
        count = size(2_000, 20_000)
        process, stdout, stderr, exit_time = _sigterm_during_flush(
            "sigterm-exit", count, 1.0
        )
        result = json.loads(stdout.splitlines()[-1])
        stats = _stats(result)
        report(
            "SIGTERM during a flush, handler calls sys.exit",
            tracked=count,
            delivered=stats["sent"],
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=0,
            exit_time=exit_time,
            note="exit deadline 1 s; the undelivered count is logged",
        )

        assert process.returncode == 128 + signal.SIGTERM
        check_identity(stats)
        assert (stats["inputs"], stats["dropped_unsent"]) == (count, count)
        assert exit_time < 1.0 + SLACK
        assert f"{count} events could not be delivered" in stderr


class TestMemory:
    """A burst far beyond max_queue is dropped and counted; memory stays bounded."""

    def test_burst_with_the_collector_down(self, report: Report) -> None:
        """Past 10,000 queued events every new one is dropped; RSS does not grow."""
        count = size(40_000, 200_000)
        started = time.monotonic()
        with FaultCollector(listening=False) as down:
            process = _start("burst", down.url, count, exit_timeout=0.5)
            result, _, _ = _finish(process)
        before = result["stats_before_exit"]
        assert isinstance(before, dict)
        stats = _stats(result)
        growth_kib = int(result["rss_end_kib"]) - int(result["rss_full_queue_kib"])  # type: ignore[call-overload]
        report(
            f"burst of {count:,} events, max_queue=10,000, collector down",
            tracked=count,
            delivered=0,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=0,
            exit_time=None,
            note=(
                f"{before['dropped_queue_full']:,} dropped as queue full; RSS "
                f"{int(result['rss_full_queue_kib']) // 1024} MiB at 10,000 queued, "  # type: ignore[call-overload]
                f"{int(result['rss_end_kib']) // 1024} MiB after the burst; "  # type: ignore[call-overload]
                f"run {time.monotonic() - started:.1f} s"
            ),
            rss_growth_kib=growth_kib,
        )

        assert before["dropped_queue_full"] == count - 10_000
        assert before["queued"] == 10_000
        check_identity(stats)
        assert (stats["dropped"], stats["sent"]) == (count, 0)
        assert growth_kib < 8 * 1024


class TestFork:
    """A fork while events wait in back-off: each process sends only its own."""

    def test_fork_with_events_pending(self, report: Report) -> None:
        """Parent and child events each arrive exactly once."""
        count = size(200, 2_000)
        release = threading.Event()

        def plan(_: FaultCollector, events: list[dict[str, str]]) -> Fault:
            parent = any(event.get("se_ca") == "parent" for event in events)
            return Fault(status=503) if parent and not release.is_set() else Fault()

        with FaultCollector(plan) as collector:
            process = _start("fork", collector.url, count, exit_timeout=5.0)
            assert collector.wait_for(unique=count, timeout=60)  # the child's
            release.set()
            result, stderr, _ = _finish(process)
            tally = collector.tally()
        stats = _stats(result)
        report(
            "fork while events wait in back-off",
            tracked=2 * count,
            delivered=tally.delivered,
            dropped=stats["dropped"],
            failed=stats["failed"],
            duplicates=tally.duplicates,
            note="parent and child each track the count; the child flushes and exits",
        )

        assert result["child_exit"] == 0
        assert result["parent_delivered"] is True
        check_identity(stats)
        assert (stats["inputs"], stats["sent"]) == (count, count)
        assert (tally.delivered, tally.duplicates) == (2 * count, 0)
        assert "Traceback" not in stderr

"""Instructions at the call site of SnowplowHandler, by what the call carries.

The caller's-thread cost of one ``logger.info`` call, counted by callgrind as
in ``bench_instructions.py`` (two call counts differenced, so start-up cancels;
``--separate-threads=yes``, thread 1 is the caller), in these configurations:

- ``untagged``: ``logger.info("paid")``, a record without an event;
- ``tagged``: ``logger.info("paid", extra={"snowplow": <a new event>})``;
- ``tagged, bound``: the same inside ``bind(subject=..., context=[one entity])``;
- ``tagged, otel imported``: ``opentelemetry.trace`` imported, no span active
  (what the trace-context probe costs when there is nothing to read);
- ``tagged, span``: inside a recording span of an SDK ``TracerProvider``;
- ``tagged, hook``: a tracker with an identity ``before_send`` hook (payloads
  are then built on the caller's thread);
- ``probe`` and ``probe, otel imported``: the trace-context probe alone
  (``snowplow_logging._trace.current_ids()``), without logging around it,
  before and after ``opentelemetry.trace`` is imported, no span active.

Every configuration sends to a local HTTP server answering ``200`` (its own
process) and flushes before it exits. Prints instructions per call and the
ratios the context work is held to: ``tagged, bound`` / ``tagged`` (at most
1.20) and ``tagged, otel imported`` - ``tagged`` (a few hundred ns: printed
with the nanoseconds the same difference takes, timed in this process).

A configuration the measured package does not support (an older tree, for a
before/after comparison: ``PYTHONPATH=<its copy> python benchmarks/...``) is
skipped with a note. Needs valgrind.

Run: python benchmarks/bench_call_site.py [--small N] [--large N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

SCRIPT = "bench_call_site.py"
CONFIGS = (
    "untagged",
    "tagged",
    "tagged, bound",
    "tagged, otel imported",
    "tagged, span",
    "tagged, hook",
    "probe",
    "probe, otel imported",
)
_TOTAL = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.MULTILINE)
_UNSUPPORTED = 3  # a child's exit status: this package lacks the feature


# --- the child (runs under valgrind) ---------------------------------------------


def _handler(config: str, port: int) -> logging.Handler:
    from snowplow_logging import SnowplowHandler

    options: dict[str, Any] = {}
    if config == "tagged, hook":
        options["before_send"] = lambda payload: payload
    try:
        return SnowplowHandler(
            endpoint=f"http://127.0.0.1:{port}",
            app_id="bench",
            namespace="bench",
            flush_timeout=600,  # valgrind on a shared machine: slow, not lost
            **options,
        )
    except TypeError:  # an older package: no such setting
        sys.exit(_UNSUPPORTED)


def _around(config: str) -> AbstractContextManager[object]:
    """What the calls run inside: a binding, a span, or nothing."""
    if config == "tagged, bound":
        from snowplow_logging import SelfDescribingJson, Subject, bind

        entity = SelfDescribingJson(
            schema="iglu:com.acme/request/jsonschema/1-0-0", data={"p": 1}
        )
        return bind(subject=Subject(user_id="u-42"), context=[entity])
    if config in {"tagged, otel imported", "tagged, span"}:
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
        except ImportError:
            sys.exit(_UNSUPPORTED)
        if config == "tagged, span":
            tracer = TracerProvider().get_tracer("bench")
            return tracer.start_as_current_span("request")
        trace.get_current_span()
    return nullcontext()


def probe(config: str, calls: int) -> None:
    """Call the trace probe ``calls`` times, OpenTelemetry imported or not."""
    try:
        from snowplow_logging._trace import current_ids
    except ImportError:  # an older package: no probe
        sys.exit(_UNSUPPORTED)
    if config == "probe, otel imported":
        from opentelemetry import trace

        trace.get_current_span()
    current_ids()
    gc.collect()
    gc.freeze()
    for _ in range(calls):
        current_ids()


def child(config: str, calls: int, port: int) -> None:
    """Make ``calls`` log calls in ``config``, then flush and check delivery."""
    if config.startswith("probe"):
        probe(config, calls)
        return
    handler = _handler(config, port)
    logger = logging.getLogger("bench")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    info = logger.info
    from snowplow_logging import StructuredEvent

    with ExitStack() as stack:
        stack.enter_context(_around(config))
        gc.collect()
        gc.freeze()
        if config == "untagged":
            for _ in range(calls):
                info("paid")
        else:
            for _ in range(calls):
                info(
                    "paid",
                    extra={"snowplow": StructuredEvent(category="c", action="a")},
                )
    handler.flush()
    handler.close()
    stats = cast("Any", handler).stats
    expected = 0 if config == "untagged" else calls
    if stats["emitter_sent"] != expected:
        msg = f"{config}: delivered {stats['emitter_sent']} of {expected}"
        raise RuntimeError(msg)


# --- the parent ------------------------------------------------------------------


class Count(NamedTuple):
    """Instructions of one child run: its main thread and all its threads."""

    main: int
    total: int


def snapshot(workdir: Path) -> None:
    """Copy this script and the package measured, so edits during the run count not."""
    spec = importlib.util.find_spec("snowplow_logging")
    if spec is None or spec.origin is None:
        sys.exit("snowplow_logging is not importable")
    source = workdir / "src"
    shutil.copytree(
        Path(spec.origin).parent,
        source / "snowplow_logging",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy2(__file__, source / SCRIPT)


def _command(config: str, calls: int, port: int, workdir: Path) -> list[str]:
    script = str(workdir / "src" / SCRIPT)
    python = os.path.realpath(sys.executable)
    return [python, "-S", script, "--child", config, str(calls), str(port)]


def _run(command: list[str], cwd: Path, workdir: Path) -> bool:
    """Run a child; False if the package lacks the configuration's feature."""
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": os.pathsep.join(
            [str(workdir / "src"), *(p for p in sys.path if p)]
        ),
        "PYTHONPYCACHEPREFIX": str(workdir / "pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    if done.returncode == _UNSUPPORTED:
        return False
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-3000:]
        msg = f"{' '.join(command[-4:])} failed:\n{tail}"
        raise RuntimeError(msg)
    return True


def run_child(config: str, calls: int, port: int, workdir: Path) -> Count:
    """One child under callgrind, its per-thread totals summed."""
    out = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        f"--callgrind-out-file={out}/callgrind.out.%p",
    ]
    _run([*valgrind, *_command(config, calls, port, workdir)], out, workdir)
    threads: dict[int, int] = {}
    for path in out.glob("callgrind.out.*-*"):
        found = _TOTAL.findall(path.read_bytes())
        if found:
            threads[int(path.name.rsplit("-", 1)[1])] = int(found[-1])
    return Count(main=threads[1], total=sum(threads.values()))


def measure(
    configs: list[str], small: int, large: int, workdir: Path, port: int
) -> dict[str, float]:
    """Caller's-thread instructions per call of each supported configuration."""
    snapshot(workdir)
    supported = [
        c for c in configs if _run(_command(c, 20, port, workdir), workdir, workdir)
    ]
    for config in configs:
        if config not in supported:
            print(f"  ({config}: not supported by this package, skipped)")
    jobs = [(config, calls) for config in supported for calls in (large, small)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {job: pool.submit(run_child, *job, port, workdir) for job in jobs}
        counts = {job: future.result() for job, future in futures.items()}
    return {
        c: (counts[c, large].main - counts[c, small].main) / (large - small)
        for c in supported
    }


def _probe_ns() -> float | None:
    """Nanoseconds the trace probe takes with otel imported and no span, timed."""
    try:
        from opentelemetry import trace  # noqa: F401 - imported: the probe reads it

        from snowplow_logging import _trace
    except ImportError:
        return None
    ids = _trace.current_ids
    ids()
    runs = timeit.repeat(ids, number=100_000, repeat=7)
    return min(runs) / 100_000 * 1e9


def report(results: dict[str, float]) -> None:
    """Print the table and the ratios."""
    print("caller-thread instructions per call (callgrind): logger.info, or the probe")
    for config, value in results.items():
        print(f"  {config:<24} {value:>10,.0f}")
    tagged = results.get("tagged")
    if tagged is None:
        return
    for config in ("tagged, bound", "tagged, span", "tagged, hook"):
        if config in results:
            print(f"  {config} / tagged: {results[config] / tagged:.3f}")
    if "tagged, otel imported" in results:
        extra = results["tagged, otel imported"] - tagged
        print(f"  otel imported, no span - tagged: {extra:,.0f} instructions")
    ns = _probe_ns()
    if ns is not None:
        print(f"  the trace probe alone, no span: {ns:,.0f} ns (timed, min of 7)")


def _iter_only(values: list[str] | None) -> Iterator[str]:
    yield from (c for c in CONFIGS if values is None or c in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=4_000)
    parser.add_argument("--only", action="append", choices=CONFIGS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        # The collector stand-in is bench_instructions.py's (this directory is
        # sys.path[0]); only this process imports it, not the children.
        from bench_instructions import serve

        serve()
        return
    if args.child:
        config, calls, port = args.child
        child(config, int(calls), int(port))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    start: Callable[[], int] = lambda: int(cast("IO[str]", server.stdout).readline())  # noqa: E731
    try:
        port = start()
        with tempfile.TemporaryDirectory(prefix="bench-call-site-") as tmp:
            results = measure(
                list(_iter_only(args.only)), args.small, args.large, Path(tmp), port
            )
    finally:
        server.kill()
        server.wait()
    report(results)


if __name__ == "__main__":
    main()

"""Fresh Python interpreters for the tests: one way to start them.

Every test that needs a clean interpreter (exit hooks, fork, hidden extras,
the examples, the worker command) goes through :func:`run_python`,
:func:`run_script` or :func:`start_python`: ``sys.executable``, text output,
the repository root as working directory, ``env`` laid over ``os.environ``
and, for the blocking runs, a bounded timeout and ``check=False`` so that the
caller asserts the return code with the child's stderr in the message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def _environment(env: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if env is None else {**os.environ, **env}


def run_interpreter(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """``python *args`` to completion, output captured; the caller checks the code."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=_environment(env),
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def run_python(
    code: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """``python -c code *args`` to completion (see :func:`run_interpreter`)."""
    return run_interpreter("-c", code, *args, env=env, timeout=timeout, cwd=cwd)


def run_script(
    script: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """``python script *args`` to completion (see :func:`run_interpreter`)."""
    return run_interpreter(str(script), *args, env=env, timeout=timeout, cwd=cwd)


def start_python(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path = REPO,
    stdin: int | IO[str] | None = None,
    stdout: int | IO[str] | None = subprocess.PIPE,
    stderr: int | IO[str] | None = None,
) -> subprocess.Popen[str]:
    """``python *args`` left running, text pipes; the caller waits or kills it."""
    return subprocess.Popen(
        [sys.executable, *args],
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=True,
        env=_environment(env),
        cwd=cwd,
    )

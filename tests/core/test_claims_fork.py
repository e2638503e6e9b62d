"""The claims registry's lock in a forked child and under a signal handler (#14.4, #14.3)."""

from __future__ import annotations

from tests.processes import run_python

FORK_SCRIPT = """
import logging, os, sys, threading
from snowplow_logging._tags import CLAIMS, activate_claims, claim

activate_claims()
held, release = threading.Event(), threading.Event()

def hold():
    with CLAIMS._lock:
        held.set()
        release.wait()

threading.Thread(target=hold, daemon=True).start()
held.wait()
pid = os.fork()
if pid == 0:
    import signal
    signal.alarm(5)  # a hung child dies by SIGALRM instead of hanging the test
    record = logging.LogRecord("x", logging.INFO, "job.py", 1, "m", None, None)
    first, again = claim(record, "owner", "tag"), claim(record, "owner", "tag")
    os._exit(0 if (first, again) == (True, False) else 3)
release.set()
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
"""


def test_a_child_forked_while_another_thread_claims_can_claim() -> None:
    """Before: the child's copy of the held lock blocked its first claim for good."""
    result = run_python(FORK_SCRIPT, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "child 0"


SIGNAL_SCRIPT = """
import logging, os, signal
from snowplow_logging._tags import CLAIMS

record = logging.LogRecord("x", logging.INFO, "job.py", 1, "m", None, None)
claimed = []
signal.signal(signal.SIGUSR1, lambda *_: claimed.append(CLAIMS.first(record, "o", "t")))
with CLAIMS._lock:
    os.kill(os.getpid(), signal.SIGUSR1)
    for _ in range(1000):  # the handler runs at one of these bytecode boundaries
        if claimed:
            break
print(claimed)
"""


def test_a_signal_handler_can_claim_while_the_main_thread_holds_the_lock() -> None:
    """A handler running inside the lock (between two bytecodes) does not deadlock.

    Before: the process hung for good (the test's timeout ends it).
    """
    result = run_python(SIGNAL_SCRIPT, timeout=30)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[True]"

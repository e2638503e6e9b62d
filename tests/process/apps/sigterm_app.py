"""Log events, say "ready", then wait until SIGTERM; what happens then is the mode's.

Usage: sigterm_app.py MODE. The collector is $SNOWPLOW_URL; with
$SNOWPLOW_SIGTERM=1 the app calls ``install_sigterm_handler()`` (twice, to show
it is idempotent). The emitter's flush interval is 60 s, so nothing is sent
before the signal unless something flushes. MODE:

* ``default``: SIGTERM at its default action.
* ``graceful``: like uvicorn, the app replaces the SIGTERM handler while it
  serves; on SIGTERM it shuts down gracefully (logging two more events),
  puts the previous handler back and raises SIGTERM again.
* ``ignore``: SIGTERM ignored (``SIG_IGN``); the app goes on until its stdin
  closes, then exits normally.
* ``callable``: the app's own handler leaves at once through ``os._exit(3)``.

Prints ``ready`` (and for ``ignore`` later ``bye``) on stdout.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from types import FrameType

from snowplow_logging import (
    SnowplowHandler,
    StructuredEvent,
    install_sigterm_handler,
    set_exit_timeout,
)

EVENTS = 5

if "SNOWPLOW_EXIT_TIMEOUT" in os.environ:
    set_exit_timeout(float(os.environ["SNOWPLOW_EXIT_TIMEOUT"]))
log = logging.getLogger("sigterm_app")
log.addHandler(
    SnowplowHandler(
        endpoint=os.environ["SNOWPLOW_URL"], app_id="sigterm", flush_interval=60.0
    )
)
log.setLevel(logging.INFO)
log.propagate = False


def event(action: str) -> None:
    log.info(action, extra={"snowplow": StructuredEvent(category="app", action=action)})


def main(mode: str) -> int:
    if mode == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif mode == "callable":

        def leave(signum: int, frame: FrameType | None) -> None:
            os._exit(3)

        signal.signal(signal.SIGTERM, leave)
    if os.environ.get("SNOWPLOW_SIGTERM") == "1":
        install_sigterm_handler()
        installed = signal.getsignal(signal.SIGTERM)
        install_sigterm_handler(timeout=float(os.environ.get("SIGTERM_TIMEOUT", "5")))
        assert signal.getsignal(signal.SIGTERM) is installed
    for n in range(EVENTS):
        event(f"work-{n}")
    if mode == "graceful":
        return serve_gracefully()
    print("ready", flush=True)
    if mode == "ignore":
        sys.stdin.read()  # until the test closes it
        print("bye", flush=True)
        return 0
    while True:  # the app's own loop, woken by the signal
        time.sleep(0.1)


def serve_gracefully() -> int:
    captured: list[int] = []
    original = signal.signal(
        signal.SIGTERM, lambda signum, frame: captured.append(signum)
    )
    print("ready", flush=True)
    while not captured:
        time.sleep(0.1)
    event("shutdown-started")
    event("shutdown-complete")
    signal.signal(signal.SIGTERM, original)
    signal.raise_signal(signal.SIGTERM)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

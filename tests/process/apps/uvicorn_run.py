"""Start uvicorn from Python after ``install_sigterm_handler()``.

uvicorn.run() installs its own SIGTERM handler over this one, shuts down
gracefully on SIGTERM, puts this one back and raises SIGTERM again: the
library's handler then closes every emitter and ends the process by SIGTERM.
Usage: uvicorn_run.py PORT (the app is asgi_app's, unwrapped).
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from snowplow_logging import install_sigterm_handler

install_sigterm_handler()

from asgi_app import api  # type: ignore[import-not-found]  # noqa: E402

# log_config=None: uvicorn's default logging set-up is a dictConfig, which closes
# every handler that already exists, the app's SnowplowHandler included. Its own
# lines go to stderr through a handler of the app's instead.
server_log = logging.getLogger("uvicorn")
server_log.addHandler(logging.StreamHandler())
server_log.setLevel(logging.INFO)
uvicorn.run(api, host="127.0.0.1", port=int(sys.argv[1]), log_config=None)

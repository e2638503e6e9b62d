"""``python -m snowplow_logging``: the ``snowplow-logging`` command (``micro``, ``demo``)."""

from __future__ import annotations

from snowplow_logging._cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())

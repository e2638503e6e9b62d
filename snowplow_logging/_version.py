"""The package version, read by hatchling and sent as the tracker version (``tv``)."""

from __future__ import annotations

__all__ = ["TRACKER_VERSION", "__version__"]

__version__ = "0.1.0.dev0"

TRACKER_VERSION = f"py-snowplow-logging-{__version__}"
"""The ``tv`` field of every payload: the library's name and version."""

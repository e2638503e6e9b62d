"""The package's public face: exports pinned, import has no side effects."""

from __future__ import annotations
import __future__

import json
import sys

import snowplow_logging
from snowplow_logging import testing
from tests.processes import run_python


def _run(code: str) -> str:
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    return result.stdout


class TestExports:
    """__all__ lists exactly the public API, sorted."""

    def test_all_is_sorted_and_importable(self) -> None:
        """Every name in __all__ exists; the list is sorted."""
        assert snowplow_logging.__all__ == sorted(snowplow_logging.__all__)
        assert all(hasattr(snowplow_logging, name) for name in snowplow_logging.__all__)

    def test_public_names_are_exported(self) -> None:
        """No public attribute of the package is missing from __all__."""
        public = {
            name
            for name, value in vars(snowplow_logging).items()
            if not name.startswith("_")
            and not isinstance(value, type(sys) | __future__._Feature)
        }

        assert public <= set(snowplow_logging.__all__)

    def test_testing_module(self) -> None:
        """snowplow_logging.testing exports its helpers."""
        assert testing.__all__ == sorted(testing.__all__)
        assert all(hasattr(testing, name) for name in testing.__all__)

    def test_version_is_tracker_version(self) -> None:
        """The payload's tv field carries the package version."""
        from snowplow_logging._version import TRACKER_VERSION

        assert f"py-snowplow-logging-{snowplow_logging.__version__}" == TRACKER_VERSION


class TestImportSideEffects:
    """import snowplow_logging neither imports structlog nor configures logging."""

    def test_no_structlog_no_logging_configuration(self) -> None:
        """A fresh interpreter: no structlog module, root logger untouched, no output."""
        out = _run(
            "import logging, sys, json\n"
            "before = (logging.getLogger().level, list(logging.getLogger().handlers))\n"
            "import snowplow_logging, snowplow_logging.testing\n"
            "root = logging.getLogger()\n"
            "lib = logging.getLogger('snowplow_logging')\n"
            "print(json.dumps({'structlog': 'structlog' in sys.modules,\n"
            "  'jsonschema': 'jsonschema' in sys.modules,\n"
            "  'root_level': root.level, 'root_handlers': len(root.handlers),\n"
            "  'lib_handlers': len(lib.handlers), 'lib_level': lib.level,\n"
            "  'unchanged': before == (root.level, list(root.handlers))}))\n"
        )

        assert json.loads(out) == {
            "structlog": False,
            "jsonschema": False,
            "root_level": 30,
            "root_handlers": 0,
            "lib_handlers": 0,
            "lib_level": 0,
            "unchanged": True,
        }

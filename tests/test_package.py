"""The package's public face: exports pinned, import has no side effects, extras optional."""

from __future__ import annotations
import __future__

import json
import sys

import pytest

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
        """A fresh interpreter: no structlog or requests, root logger untouched, no output."""
        out = _run(
            "import logging, sys, json\n"
            f"WEB = {WEB_MODULES!r}\n"
            "before = (logging.getLogger().level, list(logging.getLogger().handlers))\n"
            "import snowplow_logging, snowplow_logging.testing\n"
            "root = logging.getLogger()\n"
            "lib = logging.getLogger('snowplow_logging')\n"
            "print(json.dumps({'structlog': 'structlog' in sys.modules,\n"
            "  'jsonschema': 'jsonschema' in sys.modules,\n"
            "  'http': sorted(m for m in ('requests', 'urllib3') if m in sys.modules),\n"
            "  'web': sorted(m for m in WEB if m in sys.modules),\n"
            "  'root_level': root.level, 'root_handlers': len(root.handlers),\n"
            "  'lib_handlers': len(lib.handlers), 'lib_level': lib.level,\n"
            "  'unchanged': before == (root.level, list(root.handlers))}))\n"
        )

        assert json.loads(out) == {
            "structlog": False,
            "jsonschema": False,
            "http": [],  # requests loads with the first emitter
            "web": [],
            "root_level": 30,
            "root_handlers": 0,
            "lib_handlers": 0,
            "lib_level": 0,
            "unchanged": True,
        }

    def test_web_middlewares_import_no_framework(self) -> None:
        """The WSGI and ASGI middlewares need no framework; only .django imports one."""
        out = _run(
            f"import sys, json\nWEB = {WEB_MODULES!r}\n"
            "import snowplow_logging.wsgi, snowplow_logging.asgi\n"
            "print(json.dumps(sorted(m for m in WEB if m in sys.modules)))\n"
        )

        assert json.loads(out) == ["snowplow_logging.asgi", "snowplow_logging.wsgi"]


WEB_MODULES = (
    *("snowplow_logging.wsgi", "snowplow_logging.asgi", "snowplow_logging.django"),
    *("django", "flask", "werkzeug", "starlette", "fastapi", "asgiref"),
)
"""Modules ``import snowplow_logging`` must not import: the web integrations and
their frameworks."""


HIDDEN_EXTRA = """
import json, sys
sys.modules[sys.argv[1]] = None  # as if the extra were not installed
import snowplow_logging
try:
    exec(sys.argv[2])
except ImportError as exc:
    cause = getattr(exc.__cause__, "name", None)
    print(json.dumps({"kind": type(exc).__name__, "name": exc.name, "cause": cause, "message": str(exc)}))
else:
    print("null")
"""


class TestMissingExtras:
    """Each optional part says which pip extra to install when its dependency is missing."""

    @pytest.mark.parametrize(
        ("module", "statement", "extra", "name"),
        [
            pytest.param(
                "redis", "import snowplow_logging.redis", "redis", None, id="redis"
            ),
            pytest.param(
                "celery", "import snowplow_logging.celery", "celery", None, id="celery"
            ),
            pytest.param(
                "django", "import snowplow_logging.django", "django", None, id="django"
            ),
            pytest.param(
                "structlog",
                "import snowplow_logging.structlog",
                "structlog",
                "structlog",
                id="structlog",
            ),
            pytest.param(
                "jsonschema",
                "from snowplow_logging.micro import IgluResolver\nIgluResolver()",
                "micro",
                None,
                id="micro",
            ),
        ],
    )
    def test_import_error_names_the_extra(
        self, module: str, statement: str, extra: str, name: str | None
    ) -> None:
        """``module`` hidden: snowplow_logging still imports; ``statement`` raises an
        ImportError (``.name`` = ``name``) chained from ``module``'s, whose message
        names the pip extra."""
        result = run_python(HIDDEN_EXTRA, module, statement)

        assert result.returncode == 0, result.stderr
        error = json.loads(result.stdout)
        assert error is not None, f"{statement!r} ran without {module}"
        assert (error["kind"], error["name"], error["cause"]) == (
            "ImportError",
            name,
            module,
        )
        assert f"pip install 'snowplow-logging[{extra}]'" in error["message"]


def test_requests_loads_with_the_first_emitter() -> None:
    """Building an Emitter imports the transport (and requests) it needs."""
    out = _run(
        "import sys, snowplow_logging\n"
        "before = 'requests' in sys.modules\n"
        "emitter = snowplow_logging.Emitter('http://127.0.0.1:9')\n"
        "print(before, 'requests' in sys.modules)\n"
        "emitter.close(timeout=0)\n"
    )

    assert out.split() == ["False", "True"]

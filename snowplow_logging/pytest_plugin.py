"""The pytest plugin: a ``snowplow_micro`` fixture, a local validating collector per test.

Installed with the package (the ``pytest11`` entry point ``snowplow_logging``), so
any test can ask for it::

    from snowplow_logging.pytest_plugin import MicroFixture

    def test_checkout_sends_valid_events(snowplow_micro: MicroFixture) -> None:
        app = make_app(snowplow_endpoint=snowplow_micro.endpoint)
        app.checkout()
        snowplow_micro.wait_for(2, timeout=5)
        assert snowplow_micro.bad() == []
        assert snowplow_micro.good()[0]["eventType"] == "unstruct"

Each test gets its own collector on a free ``127.0.0.1`` port; schemas are loaded
once per session. Your own Iglu schemas come from the ``snowplow_micro_schemas``
ini option (directories in static-registry layout, relative to the rootdir)::

    [tool.pytest.ini_options]
    snowplow_micro_schemas = ["iglu"]

Those schemas are checked when the session's resolver is built: a file that is
not JSON or not a valid JSON Schema fails every test using the fixture with the
file's name and the reason, instead of making each of its events bad.

The fixture needs ``jsonschema`` (``pip install 'snowplow-logging[micro]'``); the
plugin itself loads without it, and only a test asking for the fixture fails. The
plugin imports the collector only when a test uses the fixture (or imports
``MicroFixture``): a run that never does loads no server code.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import pytest

if TYPE_CHECKING:
    from snowplow_logging.micro import IgluResolver, MicroCollector

    MicroFixture: TypeAlias = MicroCollector
    """The type of the ``snowplow_micro`` fixture, for annotations."""

__all__ = ["MicroFixture", "pytest_addoption", "snowplow_micro"]

_SCHEMAS_OPTION = "snowplow_micro_schemas"


def __getattr__(name: str) -> object:
    """``MicroFixture``, the fixture's type, imported when a test module asks for it.

    pytest loads this plugin in every run of every project that installed us,
    so it imports no collector code (``snowplow_logging.micro``, ``http.server``,
    ``jsonschema``) until a test uses the fixture or names its type (#13).
    """
    if name == "MicroFixture":
        micro = importlib.import_module("snowplow_logging.micro")
        return micro.MicroCollector
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``snowplow_micro_schemas`` ini option."""
    help_text = "Iglu static-registry directories for the snowplow_micro fixture."
    try:
        parser.addini(_SCHEMAS_OPTION, type="paths", default=[], help=help_text)
    except ValueError:  # pytest < 7 knows only "pathlist"; never break a session
        parser.addini(_SCHEMAS_OPTION, type="pathlist", default=[], help=help_text)


@pytest.fixture(name="_snowplow_micro_resolver", scope="session")
def _resolver(pytestconfig: pytest.Config) -> IgluResolver:
    """One schema resolver per session: compiled validators are reused."""
    from snowplow_logging._exceptions import ConfigurationError  # noqa: PLC0415
    from snowplow_logging.micro import IgluResolver  # noqa: PLC0415 - lazy: see above

    directories: list[Path] = [Path(d) for d in pytestconfig.getini(_SCHEMAS_OPTION)]
    try:
        return IgluResolver(directories)
    except ImportError as exc:
        problem = str(exc)
    except ConfigurationError as exc:  # a broken schema: name it, fail every user
        problem = f"{_SCHEMAS_OPTION}: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the except: no chained traceback


@pytest.fixture
def snowplow_micro(_snowplow_micro_resolver: IgluResolver) -> Iterator[MicroFixture]:
    """A running local collector: ``.endpoint``, ``.good()``, ``.bad()``, ``.wait_for()``."""
    from snowplow_logging.micro import MicroCollector  # noqa: PLC0415 - lazy: see above

    with MicroCollector(resolver=_snowplow_micro_resolver) as micro:
        yield micro

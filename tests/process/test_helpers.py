"""close_all() before os._exit, and the helpers' argument checks."""

from __future__ import annotations

import pytest

from snowplow_logging import ConfigurationError, ConfigurationTypeError, close_all
from snowplow_logging.micro import MicroCollector
from snowplow_logging.shutdown import SnowplowLifespan
from tests.process.conftest import app_env, delivered, run_app


@pytest.mark.parametrize(("how", "arrived"), [("close", 5), ("plain", 0)])
def test_os_exit_needs_close_all_first(
    micro: MicroCollector, how: str, arrived: int
) -> None:
    """A process that leaves through os._exit itself loses its queue (nothing can
    run after it) unless it calls close_all() just before."""
    result = run_app("os_exit_app.py", how, env=app_env(micro.endpoint))

    assert (result.returncode, result.stderr) == (0, "")
    assert delivered(micro) == (arrived, arrived)


def test_bad_arguments_name_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="'timeout'"):
        close_all(-1)
    with pytest.raises(ConfigurationError, match="'timeout'"):
        SnowplowLifespan(lambda scope, receive, send: None, timeout=float("nan"))  # type: ignore[arg-type, return-value]
    with pytest.raises(ConfigurationTypeError, match="'app' must be an ASGI"):
        SnowplowLifespan("app")  # type: ignore[arg-type]

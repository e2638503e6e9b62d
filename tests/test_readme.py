"""Every ```python block in README.md runs as printed, against a real local collector.

Each block runs in a fresh interpreter (a ``dictConfig`` in this process would
close pytest's own handlers), with the placeholder collector URL pointed at the
``snowplow_micro`` fixture; whatever it sends must arrive and be valid.
"""

from __future__ import annotations

import re

import pytest

from snowplow_logging.pytest_plugin import MicroFixture
from tests.processes import REPO, run_python

README = REPO / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", TEXT, re.MULTILINE | re.DOTALL)
PLACEHOLDER = "https://collector.example.com"


def _commands(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```sh\n(.+)\n```", TEXT)
    assert match is not None, marker
    return match.group(1)


class TestReadme:
    """The README's snippets and commands are real."""

    def test_has_snippets(self) -> None:
        """The README shows code."""
        assert len(BLOCKS) >= 5

    @pytest.mark.parametrize(
        "code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))]
    )
    def test_snippet_runs(self, code: str, snowplow_micro: MicroFixture) -> None:
        """Each snippet exits 0 without writing to stderr; its events arrive valid."""
        expected = code.count('extra={"snowplow"') if PLACEHOLDER in code else 0
        result = run_python(code.replace(PLACEHOLDER, snowplow_micro.endpoint))

        assert (result.returncode, result.stderr) == (0, "")
        snowplow_micro.wait_for(expected, timeout=10)
        assert snowplow_micro.summary()["good"] == expected
        assert snowplow_micro.bad() == []

    def test_two_commands(self) -> None:
        """The main job runs the demo; the test command is what CI runs."""
        assert _commands("main-command").endswith("snowplow-logging demo")
        assert _commands("test-command").endswith("python -m pytest")
        assert "extract test-command" in (README.parent / ".ci" / "run").read_text()

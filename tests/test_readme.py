"""Every ```python block of README.md and docs/ runs as printed, against a real collector.

Each block runs in a fresh interpreter (a ``dictConfig`` in this process would
close pytest's own handlers), with the collector URLs it names (the placeholder
``https://collector.example.com`` and the local collector's default
``http://127.0.0.1:9090``) pointed at the ``snowplow_micro`` fixture; whatever it
sends must arrive and be valid. A block defining ``test_`` functions is a test
module: it runs under pytest, with the plugin the package installs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

from snowplow_logging.pytest_plugin import MicroFixture
from tests.processes import REPO, run_interpreter, run_python

README = REPO / "README.md"
TEXT = README.read_text(encoding="utf-8")
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
COLLECTOR_URLS = ("https://collector.example.com", "http://127.0.0.1:9090")
SENDS = re.compile(r'extra=\{"snowplow"|\btracker\.track\(')
"""What sends one event in a block: a tagged record, a ``tracker.track`` call."""


class Block(NamedTuple):
    """One ```python block of a page."""

    page: Path
    number: int
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.number}"

    @property
    def sends(self) -> int:
        """Events the block sends to a collector it names."""
        if not any(url in self.code for url in COLLECTOR_URLS):
            return 0
        return len(SENDS.findall(self.code))


def _blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    return [Block(page, number, code) for number, code in enumerate(found)]


BLOCKS = [block for page in PAGES for block in _blocks(page)]


def _pointed_at(code: str, endpoint: str) -> str:
    for url in COLLECTOR_URLS:
        code = code.replace(url, endpoint)
    return code


def _commands(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```sh\n(.+)\n```", TEXT)
    assert match is not None, marker
    return match.group(1)


class TestReadme:
    """The README's and the documentation's snippets and commands are real."""

    def test_has_snippets(self) -> None:
        """The README and every guide show code."""
        assert len([b for b in BLOCKS if b.page == README]) >= 5
        pages = {block.page.name for block in BLOCKS}
        assert {"getting-started.md", "logging.md", "collector.md"} <= pages

    @pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
    def test_snippet_runs(
        self, block: Block, snowplow_micro: MicroFixture, tmp_path: Path
    ) -> None:
        """Each snippet exits 0 without writing to stderr; its events arrive valid."""
        code = _pointed_at(block.code, snowplow_micro.endpoint)
        if re.search(r"^def test_", code, re.MULTILINE):
            module = tmp_path / "test_snippet.py"
            module.write_text(code, encoding="utf-8")
            result = run_interpreter(
                *("-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)),
                cwd=tmp_path,
                timeout=180,  # a whole pytest start-up, on a loaded machine too
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert " passed" in result.stdout
        else:
            result = run_python(code)
            assert (result.returncode, result.stderr) == (0, "")

        snowplow_micro.wait_for(block.sends, timeout=10)
        assert snowplow_micro.summary()["good"] == block.sends
        assert snowplow_micro.bad() == []

    def test_two_commands(self) -> None:
        """The main job runs the demo; the test command is what CI runs."""
        assert _commands("main-command").endswith("snowplow-logging demo")
        assert re.search(r"\.venv/bin/python -m pytest\b", _commands("test-command"))
        assert "extract test-command" in (README.parent / ".ci" / "run").read_text()

    def test_quick_start_uses_the_local_collector(self) -> None:
        """The README's first python block is the quick start against the collector."""
        first = next(block for block in BLOCKS if block.page == README)
        assert "http://127.0.0.1:9090" in first.code
        assert first.sends == 1
        assert len(first.code.strip().splitlines()) <= 10

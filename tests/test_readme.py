"""Every ```python block in README.md runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(
    r"^```python\n(.*?)^```",
    README.read_text(encoding="utf-8"),
    re.MULTILINE | re.DOTALL,
)


class TestReadme:
    """The README's Python snippets are runnable code, not prose."""

    def test_has_snippets(self) -> None:
        """The README shows code."""
        assert BLOCKS

    @pytest.mark.parametrize(
        "code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))]
    )
    def test_snippet_runs(self, code: str, capsys: pytest.CaptureFixture[str]) -> None:
        """Each snippet executes without error."""
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})  # noqa: S102

        assert capsys.readouterr().err == ""

"""Every script in examples/ runs and does what it says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from snowplow_logging.micro import IgluResolver, check_payload

EXAMPLES = Path(__file__).parent.parent / "examples"


def _run(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


class TestQuickstart:
    """examples/quickstart.py prints one valid payload per event part."""

    def test_prints_valid_payloads(self, resolver: IgluResolver) -> None:
        """Seven payloads, every event type, each one valid for the pipeline."""
        out = _run("quickstart.py")
        payloads = [
            json.loads(line) for line in out.splitlines() if line.startswith("{")
        ]

        assert [p["e"] for p in payloads] == ["pv", "pp", "ue", "se", "ue", "tr", "ti"]
        assert out.rstrip().endswith("7 payloads built")
        for payload in payloads:
            assert check_payload(payload, resolver).errors == []

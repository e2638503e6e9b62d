"""Every script in examples/ runs and does what it says."""

from __future__ import annotations

import json

from snowplow_logging.micro import IgluResolver, check_payload
from tests.processes import EXAMPLES, run_script


def _run(name: str) -> str:
    result = run_script(EXAMPLES / name)
    assert result.returncode == 0, result.stderr
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

"""Check the built sdist and wheel hold what they must, and the wheel nothing else.

Usage: ``python .ci/check_dist.py dist/*.tar.gz dist/*.whl`` (``.ci/run`` does).
Exits 1 naming every file that is missing or should not be there.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "snowplow_logging"

WHEEL_MUST_HOLD = [
    f"{PACKAGE}/__init__.py",
    f"{PACKAGE}/py.typed",
    f"{PACKAGE}/pytest_plugin.py",
    f"{PACKAGE}/micro/__init__.py",
    f"{PACKAGE}/iglu/LICENSE",
    f"{PACKAGE}/schemas/io.github.snowplow-logging/page/jsonschema/1-0-0",
    f"{PACKAGE}/schemas/io.github.snowplow-logging/log_record/jsonschema/1-0-0",
    f"{PACKAGE}/iglu/schemas/com.snowplowanalytics.snowplow/application_error/jsonschema/1-0-2",
    f"{PACKAGE}/iglu/schemas/com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
    f"{PACKAGE}/iglu/schemas/com.snowplowanalytics.snowplow/browser_context/jsonschema/2-0-0",
]
WHEEL_LICENCES = ["licenses/LICENSE", f"licenses/{PACKAGE}/iglu/LICENSE"]
WHEEL_ENTRY_POINTS = [
    "snowplow-logging = ",
    "snowplow_logging = snowplow_logging.pytest_plugin",
]

SDIST_MUST_HOLD = [
    "README.md",
    "CHANGELOG",
    "CONTRIBUTING.md",
    "LICENSE",
    "RELIABILITY.md",
    "pyproject.toml",
    "mkdocs.yml",
    "docs/index.md",
    "docs/protocol.md",
    "benchmarks/bench_instructions.py",
    "examples/quickstart.py",
    "tests/test_readme.py",
    f"{PACKAGE}/py.typed",
]


def check_wheel(path: Path) -> list[str]:
    """What is wrong with the wheel at ``path``."""
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        dist_info = next(n.split("/")[0] for n in names if ".dist-info/" in n)
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    problems = [f"wheel lacks {name}" for name in WHEEL_MUST_HOLD if name not in names]
    problems += [
        f"wheel lacks {dist_info}/{name}"
        for name in WHEEL_LICENCES
        if f"{dist_info}/{name}" not in names
    ]
    problems += [
        f"wheel's entry_points.txt lacks {entry!r}"
        for entry in WHEEL_ENTRY_POINTS
        if entry not in entry_points
    ]
    problems += [
        f"wheel holds {name}, outside the package"
        for name in names
        if not name.startswith((f"{PACKAGE}/", f"{dist_info}/"))
    ]
    problems += [
        f"wheel holds {name}"
        for name in names
        if "/tests/" in f"/{name}" or name.endswith((".pyc", ".orig", ".rej"))
    ]
    return problems


def check_sdist(path: Path) -> list[str]:
    """What is missing from the sdist at ``path``."""
    with tarfile.open(path) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    return [f"sdist lacks {name}" for name in SDIST_MUST_HOLD if name not in names]


def main(arguments: list[str]) -> int:
    """Check each archive named; 0 when all are right."""
    paths = [Path(argument) for argument in arguments]
    wheels = [p for p in paths if p.suffix == ".whl"]
    sdists = [p for p in paths if p.name.endswith(".tar.gz")]
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist, got {arguments}", file=sys.stderr)
        return 1
    problems = check_wheel(wheels[0]) + check_sdist(sdists[0])
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{wheels[0].name} and {sdists[0].name}: every expected file, no tests")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

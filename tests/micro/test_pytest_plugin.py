"""The snowplow_micro fixture, used from a test in a temporary project (pytester)."""

from __future__ import annotations

import json

import pytest

# requests loads with the first emitter; an in-process pytester run drops the
# modules it imported, and a second run's fresh http.cookiejar then no longer
# matches the first run's cookie jar classes. Imported here, it stays loaded.
import snowplow_logging._delivery.transport  # noqa: F401
from snowplow_logging.pytest_plugin import MicroFixture

pytest_plugins = ["pytester"]

FAST = ("-p", "no:hypothesispytest")
"""Inner runs skip hypothesis' plugin: its session summary costs seconds here."""

USER_TEST = """
import requests
from snowplow_logging import Emitter, StructuredEvent, Tracker
from snowplow_logging.pytest_plugin import MicroFixture


def test_app_sends_valid_events(snowplow_micro: MicroFixture) -> None:
    with Emitter(snowplow_micro.endpoint) as emitter:
        tracker = Tracker(emitters=emitter, app_id="shop")
        tracker.track(StructuredEvent(category="checkout", action="paid"))
        tracker.flush(timeout=10)

    snowplow_micro.wait_for(1, timeout=10)
    assert snowplow_micro.bad() == []
    (event,) = snowplow_micro.good()
    assert event["eventType"] == "struct"
    assert event["event"]["app_id"] == "shop"


def test_each_test_has_its_own_collector(snowplow_micro: MicroFixture) -> None:
    assert snowplow_micro.summary() == {"total": 0, "good": 0, "bad": 0}
    assert requests.get(snowplow_micro.endpoint + "/health", timeout=5).text == "OK"
"""

BAD_EVENT_TEST = """
import requests


def test_bad_event_is_caught(snowplow_micro):
    requests.get(snowplow_micro.endpoint + "/i", params={"e": "se", "tv": "t", "p": "srv", "se_va": "abc"}, timeout=5)
    snowplow_micro.wait_for(1, timeout=5)
    assert snowplow_micro.bad() == []
"""


class TestFixture:
    """Users assert in their own suites that their application sends valid events."""

    def test_in_a_user_project(self, pytester: pytest.Pytester) -> None:
        """The fixture is available without configuration and each test gets a fresh one."""
        pytester.makepyfile(test_user=USER_TEST)

        result = pytester.runpytest(*FAST)

        result.assert_outcomes(passed=2)

    def test_bad_event_fails_the_user_test(self, pytester: pytest.Pytester) -> None:
        """A test asserting no bad events fails, and the failure shows the reason."""
        pytester.makepyfile(test_user=BAD_EVENT_TEST)

        result = pytester.runpytest(*FAST)

        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*se_va: must be a decimal number*"])

    def test_user_schemas_from_ini(self, pytester: pytest.Pytester) -> None:
        """snowplow_micro_schemas adds the project's own Iglu registry."""
        schema = pytester.mkdir("iglu") / "schemas" / "com.shop" / "paid" / "jsonschema"
        schema.mkdir(parents=True)
        (schema / "1-0-0").write_text(
            json.dumps({"type": "object", "properties": {"amount": {"type": "number"}}})
        )
        pytester.makeini("[pytest]\nsnowplow_micro_schemas = iglu\n")
        pytester.makepyfile(
            test_user="""
            from snowplow_logging import Emitter, SelfDescribing, SelfDescribingJson, Tracker

            def test_custom_schema(snowplow_micro):
                with Emitter(snowplow_micro.endpoint) as emitter:
                    tracker = Tracker(emitters=emitter)
                    tracker.track(SelfDescribing(event_json=SelfDescribingJson(
                        schema="iglu:com.shop/paid/jsonschema/1-0-0", data={"amount": 5})))
                    tracker.flush(timeout=10)
                snowplow_micro.wait_for(1, timeout=10)
                assert snowplow_micro.bad() == []
                assert snowplow_micro.good(schema="iglu:com.shop/paid/jsonschema/1-0-0")
            """
        )

        result = pytester.runpytest(*FAST)

        result.assert_outcomes(passed=1)

    def test_without_jsonschema(self, pytester: pytest.Pytester) -> None:
        """The plugin loads without jsonschema; only the fixture fails, saying what to install."""
        pytester.makeconftest("import sys\nsys.modules['jsonschema'] = None\n")
        pytester.makepyfile(
            test_user="""
            def test_other():
                pass

            def test_uses_fixture(snowplow_micro):
                pass
            """
        )

        result = pytester.runpytest_subprocess(*FAST)

        result.assert_outcomes(passed=1, errors=1)
        assert "pip install 'snowplow-logging[micro]'" in result.stdout.str()
        assert "During handling" not in result.stdout.str()

    def test_plugin_loads_no_server_code(self, pytester: pytest.Pytester) -> None:
        """A run whose tests never use the fixture imports no collector code."""
        pytester.makepyfile(
            test_user="""
            import sys

            def test_unrelated():
                assert "snowplow_logging.pytest_plugin" in sys.modules
                heavy = {"snowplow_logging.micro", "jsonschema", "http.server"}
                assert heavy & set(sys.modules) == set()
            """
        )

        # pytest-httpserver (one of our dev dependencies) imports http.server.
        result = pytester.runpytest_subprocess(*FAST, "-p", "no:pytest_httpserver")

        result.assert_outcomes(passed=1)

    def test_fixture_type_imported_on_demand(self) -> None:
        """MicroFixture is the collector class, imported when asked for."""
        from snowplow_logging import pytest_plugin
        from snowplow_logging.micro import MicroCollector

        assert pytest_plugin.MicroFixture is MicroCollector
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            pytest_plugin.Nope  # noqa: B018 - the attribute access is the test

    def test_fixture_in_this_suite(self, snowplow_micro: MicroFixture) -> None:
        """The fixture works here too: a running collector on a loopback port."""
        assert snowplow_micro.endpoint.startswith("http://127.0.0.1:")
        assert snowplow_micro.port > 0

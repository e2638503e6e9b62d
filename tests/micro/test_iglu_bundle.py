"""The bundled Iglu Central schemas, and user registries checked when they load."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import jsonschema
import pytest
import requests

from snowplow_logging import ConfigurationError
from snowplow_logging.micro import IgluResolver, MicroCollector
from snowplow_logging.micro.iglu import BUNDLED_SCHEMAS

pytest_plugins = ["pytester"]

IGLU = BUNDLED_SCHEMAS[1]
SNOWPLOW = "iglu:com.snowplowanalytics.snowplow"
TRACKER_ENTITIES = [
    f"{SNOWPLOW}/web_page/jsonschema/1-0-0",
    f"{SNOWPLOW}/browser_context/jsonschema/1-0-0",
    f"{SNOWPLOW}/browser_context/jsonschema/2-0-0",
    f"{SNOWPLOW}/client_session/jsonschema/1-0-1",
    f"{SNOWPLOW}/mobile_context/jsonschema/1-0-3",
    f"{SNOWPLOW}/geolocation_context/jsonschema/1-1-0",
    f"{SNOWPLOW}/desktop_context/jsonschema/1-0-0",
    f"{SNOWPLOW}/consent_preferences/jsonschema/1-0-0",
    f"{SNOWPLOW}/web_vitals/jsonschema/1-0-0",
    "iglu:com.snowplowanalytics.mobile/screen/jsonschema/1-0-0",
    "iglu:com.snowplowanalytics.mobile/application_lifecycle/jsonschema/1-0-0",
    "iglu:com.snowplowanalytics.snowplow.ecommerce/product/jsonschema/1-0-0",
    "iglu:com.snowplowanalytics.snowplow.media/session/jsonschema/1-0-0",
]


BROWSER = {
    "viewport": "1280x720", "documentSize": "1280x2000", "resolution": "1920x1080",
    "colorDepth": 24, "devicePixelRatio": 1, "cookiesEnabled": True, "online": True,
    "hardwareConcurrency": 8, "tabId": str(uuid.uuid4()),
}  # fmt: skip
"""The browser tracker's browser_context 1-0-0 data, as it sends it."""
SELF = {
    "vendor": "com.example", "name": "thing", "format": "jsonschema", "version": "1-0-0"
}  # fmt: skip


BROWSER = {
    "viewport": "1280x720", "documentSize": "1280x2000", "resolution": "1920x1080",
    "colorDepth": 24, "devicePixelRatio": 1, "cookiesEnabled": True, "online": True,
    "hardwareConcurrency": 8, "tabId": str(uuid.uuid4()),
}  # fmt: skip
"""The browser tracker's browser_context 1-0-0 data, as it sends it."""
SELF = {
    "vendor": "com.example",
    "name": "thing",
    "format": "jsonschema",
    "version": "1-0-0",
}


def _files() -> list[Path]:
    return sorted(p for p in IGLU.rglob("*") if p.is_file())


class TestBundle:
    """Every com.snowplowanalytics.* JSON Schema of Iglu Central R183 ships."""

    def test_every_vendor_version_present(self) -> None:
        """298 files, all com.snowplowanalytics.*, all JSON Schemas, licence beside."""
        files = _files()

        assert len(files) == 298
        assert {p.relative_to(IGLU).parts[0].split(".")[1] for p in files} == {
            "snowplowanalytics"
        }
        assert {p.relative_to(IGLU).parts[2] for p in files} == {"jsonschema"}
        assert "Apache License" in (IGLU.parent / "LICENSE").read_text()

    def test_each_is_a_valid_schema_named_by_its_self(self) -> None:
        """Each file passes the Draft 4 metaschema and its 'self' is its path."""
        for path in _files():
            schema = json.loads(path.read_text(encoding="utf-8"))
            described = schema.pop("self")
            schema.pop("$schema")
            jsonschema.Draft4Validator.check_schema(schema)
            assert [
                described["vendor"], described["name"],
                described["format"], described["version"],
            ] == list(path.relative_to(IGLU).parts), path  # fmt: skip

    @pytest.mark.parametrize("uri", TRACKER_ENTITIES)
    def test_tracker_entities_resolve(self, uri: str) -> None:
        """The official trackers' built-in entities are known schemas."""
        resolver = IgluResolver()

        assert resolver.validator(uri) is not None
        assert resolver.errors(uri, {}) != [f"schema not found: {uri}"]

    def test_browser_tracker_default_event_is_good(
        self, resolver: IgluResolver
    ) -> None:
        """A page view with the browser tracker's web_page entity is good over HTTP."""
        entities = {
            "schema": f"{SNOWPLOW}/contexts/jsonschema/1-0-0",
            "data": [
                {
                    "schema": TRACKER_ENTITIES[0],
                    "data": {"id": str(uuid.uuid4())},
                },
                {
                    "schema": TRACKER_ENTITIES[1],
                    "data": BROWSER,
                },
            ],
        }
        cx = base64.urlsafe_b64encode(json.dumps(entities).encode()).decode()
        params = {
            "e": "pv", "url": "https://shop.test/", "p": "web", "tv": "js-4.0.0",
            "eid": str(uuid.uuid4()), "cx": cx.rstrip("="),
        }  # fmt: skip

        with MicroCollector(resolver=resolver) as micro:
            requests.get(f"{micro.endpoint}/i", params=params, timeout=10)

            assert [e.errors for e in micro.bad()] == []
            assert micro.good()[0].contexts == TRACKER_ENTITIES[:2]


def _registry(tmp_path: Path, text: str, version: str = "1-0-0") -> Path:
    folder = tmp_path / "schemas" / "com.example" / "thing" / "jsonschema"
    folder.mkdir(parents=True)
    (folder / version).write_text(text, encoding="utf-8")
    return folder / version


class TestUserRegistry:
    """A broken user schema stops the collector at start, naming the file."""

    @pytest.mark.parametrize(
        ("text", "version", "reason"),
        [
            ('{"type": "object",', "1-0-0", "not JSON: Expecting"),
            ('{"minimum": NaN}', "1-0-0", "not JSON: NaN is not JSON"),
            ("[1, 2]", "1-0-0", "must be a JSON object (got list)"),
            ('{"type": "thing"}', "1-0-0", "not a valid JSON Schema: type: 'thing'"),
            (
                '{"properties": {"a": {"maxLength": -1}}}',
                "1-0-0",
                "not a valid JSON Schema: properties/a/maxLength: -1",
            ),
            ('{"type": "object"}', "1-0", "is not MODEL-REVISION-ADDITION"),
        ],
    )
    def test_refused_at_start(
        self, tmp_path: Path, text: str, version: str, reason: str
    ) -> None:
        """MicroCollector(schemas=...) raises ConfigurationError with file and reason."""
        path = _registry(tmp_path, text, version)

        with pytest.raises(ConfigurationError) as caught:
            MicroCollector(schemas=[tmp_path])

        assert str(path) in str(caught.value)
        assert reason in str(caught.value)

    def test_not_utf8(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are named as such."""
        path = _registry(tmp_path, "")
        path.write_bytes(b'{"description": "\xff"}')

        with pytest.raises(ConfigurationError, match="not UTF-8"):
            IgluResolver([tmp_path])

    def test_valid_registry_loads(self, tmp_path: Path) -> None:
        """A good schema (with Iglu's $schema and self) loads and validates."""
        _registry(
            tmp_path,
            json.dumps(
                {
                    "$schema": "http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#",
                    "self": SELF,
                    "type": "object",
                    "required": ["a"],
                }
            ),
        )
        (tmp_path / "schemas" / "README.md").write_text("not a schema")

        resolver = IgluResolver([tmp_path])

        assert resolver.errors("iglu:com.example/thing/jsonschema/1-0-0", {}) == [
            "iglu:com.example/thing/jsonschema/1-0-0: (root): 'a' is a required property"
        ]

    def test_pytest_setting_fails_with_the_reason(
        self, pytester: pytest.Pytester
    ) -> None:
        """snowplow_micro_schemas with a broken schema: the test fails naming the file."""
        folder = pytester.mkdir("iglu") / "com.shop" / "paid" / "jsonschema"
        folder.mkdir(parents=True)
        (folder / "1-0-0").write_text('{"type": 7}')
        pytester.makeini("[pytest]\nsnowplow_micro_schemas = iglu\n")
        pytester.makepyfile(
            test_user="def test_it(snowplow_micro):\n    assert False, 'never run'\n"
        )

        result = pytester.runpytest("-p", "no:hypothesispytest")

        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            ["*snowplow_micro_schemas: Iglu schema *com.shop/paid/jsonschema/1-0-0*"]
        )
        result.stdout.fnmatch_lines(["*not a valid JSON Schema: type: 7*"])
        assert "never run" not in result.stdout.str()

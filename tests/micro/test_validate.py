"""The pipeline-rules validator: hand-made bad events are caught with the right reason."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from snowplow_logging.micro import IgluResolver, check_payload
from snowplow_logging.micro.validate import read_json

GOOD = {
    "e": "se",
    "eid": "9a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a",
    "tv": "py-x",
    "p": "srv",
    "dtm": "1795420800123",
    "se_ca": "c",
    "se_ac": "a",
}


def _b64(value: object) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _ue(schema: str, data: object) -> dict[str, str]:
    wrapper = {
        "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
        "data": {"schema": schema, "data": data},
    }
    return {**GOOD, "e": "ue", "ue_px": _b64(wrapper)}


class TestCheckPayload:
    """check_payload flags what Enrich would refuse."""

    def test_good(self, resolver: IgluResolver) -> None:
        """A well-formed structured event has no errors."""
        assert check_payload(GOOD, resolver).errors == []

    def test_bundled_resolver_by_default(self) -> None:
        """Without a resolver, the bundled schemas validate; the resolver is shared."""
        good = check_payload(GOOD)
        bad = check_payload({**GOOD, "eid": "abc"})

        assert (good.good, good.errors) == (True, [])
        assert bad.errors == ["eid: must be a UUID (got 'abc')"]

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"eid": "abc"}, "eid: must be a UUID"),
            ({"se_va": "True"}, "se_va: must be a decimal number"),
            ({"se_va": "nan"}, "se_va: must be a decimal number"),
            ({"e": "pp", "url": "u", "pp_mix": "1.5"}, "pp_mix: must be an integer"),
            ({"vid": "2147483648"}, "vid: must be an integer"),
            ({"stm": "253402300800000"}, "stm: must be milliseconds"),  # year 10000
            ({"dtm": "1700000000123.5"}, "dtm: must be milliseconds"),
            ({"sid": "59ed13b1a5724dae"}, "sid: must be a UUID"),
            ({"res": "1920X1080"}, "res: must be WIDTHxHEIGHT"),
            ({"p": "desktop"}, "p: must be a platform code"),
            ({"e": "xx"}, "e: must be an event type"),
            ({"tr_cu": "EURO"}, "tr_cu: longer than 3"),
            ({"ti_na": "x", "zz": "1"}, "zz: not a field of payload_data 1-0-4"),
            ({"se_va": 1.5}, "se_va: must be a string (got 1.5)"),
            ({"aid": None}, "aid: must be a string (got null)"),
            ({"cx": "!!!"}, "cx: not base64 JSON"),
            (
                {"co": '{"schema":"iglu:a/b/jsonschema/1-0-0","data":[]}'},
                "co: the envelope must name",
            ),
            ({"co": "[]", "cx": "W10"}, "co: the envelope must be an object"),
            ({"ue_pr": "{}"}, "ue_pr: the envelope must be an object"),
            ({"e": "ad"}, "e: must be an event type"),
            ({"f_pdf": "true"}, "f_pdf: must be 1 or 0"),
            ({"cookie": "2"}, "cookie: must be 1 or 0"),
            ({"tid": "1.5"}, "tid: must be an integer"),
            ({"ds": "1x"}, "ds: must be WIDTHxHEIGHT"),
            ({"fp": "f" * 129}, "fp: longer than 128"),
            ({"cs": "c" * 129}, "cs: longer than 128"),
            ({"se_ca": "\U0001f600" * 501}, "se_ca: longer than 1000 UTF-16 units"),
            ({"tr_cu": "EU\t"}, "tr_cu: longer than 3"),
            ({"ip": "1" * 129}, "ip: longer than 128"),
            ({"url": "http://a.b/" + "p" * 3000}, "url: its path is longer than 3000"),
            (
                {"url": "http://a.b/?" + "q" * 6001},
                "url: its query is longer than 6000",
            ),
            ({"url": "http://a.b/#" + "f" * 3001}, "url: its fragment is longer"),
            (
                {"url": "/" + " " * 1400},
                "url: longer than 4096 UTF-16 units with spaces",
            ),
            (
                {"refr": "http://a.b/" + "p" * 6000},
                "refr: its path is longer than 6000",
            ),
            ({"url": "http://[::1/"}, "url: not a URI Enrich can parse"),
        ],
    )
    def test_field_rules(
        self, resolver: IgluResolver, change: dict[str, object], reason: str
    ) -> None:
        """Each broken field is reported with its name and the rule."""
        errors = check_payload({**GOOD, **change}, resolver).errors

        assert any(reason in error for error in errors), errors

    def test_missing_required(self, resolver: IgluResolver) -> None:
        """payload_data requires tv, p and e of a POSTed event; Enrich only e."""
        posted = check_payload({"eid": GOOD["eid"]}, resolver).errors
        got = check_payload({"eid": GOOD["eid"]}, resolver, post=False).errors

        assert set(posted) == {
            "tv: required by payload_data",
            "p: required by payload_data",
            "e: required by payload_data",
        }
        assert got == ["e: required (Enrich finds no event type)"]

    @pytest.mark.parametrize(
        "payload",
        [
            {"e": "pp", "p": "web", "tv": "lol"},  # Snowplow Micro's own test request
            {"e": "pv"},  # no url
            {"e": "se"},  # no category, no action
            {"e": "tr"},
            {"e": "ti"},
            {"e": "ue"},  # no ue_*: good, with no schema
            {"e": "ev", "ev_ca": "c", "ev_va": "1"},  # the legacy structured event
            {
                "e": "pv",
                "ue_pr": json.dumps(
                    {
                        "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                        "data": {
                            "schema": "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
                            "data": {"version": "1"},
                        },
                    }
                ),
            },  # ue_* on any event type
            {
                "e": "pv",
                "zz": "1",
                "cv": "x",
            },  # keys Enrich ignores, or reads from a GET
            {"e": "se", "se_ca": "a\tb", "tr_cu": "E\nU\rR"},  # controls removed
            {"e": "se", "se_ca": "\U0001f600" * 500},  # 1000 UTF-16 units
            {"e": "pv", "url": "http://a.b/" + "p" * 2989 + "?" + "q" * 1000},
            {"e": "pv", "ip": "1.2.3.4," + "5" * 200},  # Enrich keeps the first address
        ],
    )
    def test_what_enrich_accepts(
        self, resolver: IgluResolver, payload: dict[str, str]
    ) -> None:
        """Rules our collector had and Enrich has not: these GET events are good."""
        assert check_payload(payload, resolver, post=False).errors == []

    def test_never_raises(self, resolver: IgluResolver) -> None:
        """An internal error is the event's error, never an exception out."""

        class Hostile(dict[str, object]):
            def items(self) -> object:  # type: ignore[override]
                raise RuntimeError("boom")

        checked = check_payload(Hostile(e="pv"), resolver)

        assert checked.errors == ["internal error while validating: RuntimeError: boom"]

    @pytest.mark.parametrize(("depth", "good"), [(40, True), (41, False)])
    def test_json_depth(self, resolver: IgluResolver, depth: int, good: bool) -> None:
        """Enrich refuses a ue_*/co/cx whose JSON is nested deeper than 40."""
        # The wrapper (1), the event (2), its data (3), then nested objects.
        data: object = 1
        for _ in range(depth - 3):
            data = {"a": data}
        payload = _ue("iglu:com.acme/anything/jsonschema/1-0-0", data)

        errors = check_payload(payload, resolver).errors

        deep = [e for e in errors if "maximum JSON depth" in e]
        assert (deep == []) is good, errors

    def test_unknown_schema(self, resolver: IgluResolver) -> None:
        """An event whose schema is not known is bad with "schema not found"."""
        errors = check_payload(
            _ue("iglu:com.nowhere/x/jsonschema/1-0-0", {}), resolver
        ).errors

        assert errors == [
            "ue_px: schema not found: iglu:com.nowhere/x/jsonschema/1-0-0"
        ]

    def test_data_breaking_its_schema(self, resolver: IgluResolver) -> None:
        """Event data that breaks its schema is reported with the JSON path."""
        payload = _ue(
            "iglu:com.acme/checkout/jsonschema/1-0-0", {"orderId": 5, "total": 1}
        )

        checked = check_payload(payload, resolver)

        assert checked.errors == [
            "ue_px: iglu:com.acme/checkout/jsonschema/1-0-0: orderId: 5 is not of type 'string'"
        ]
        assert checked.schema == "iglu:com.acme/checkout/jsonschema/1-0-0"

    def test_screen_view_id_format(self, resolver: IgluResolver) -> None:
        """The screen_view schema's uuid format is enforced (PROTOCOL pitfall 18)."""
        payload = _ue(
            "iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0",
            {"name": "home", "id": "534"},
        )

        errors = check_payload(payload, resolver).errors

        assert any("'534' is not a 'uuid'" in error for error in errors), errors

    def test_entities_decoded_and_checked(self, resolver: IgluResolver) -> None:
        """Entities are decoded; one breaking its schema is reported by index."""
        contexts = {
            "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
            "data": [
                {"schema": "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
                 "data": {"version": "1"}},
                {"schema": "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
                 "data": {"build": "1"}},
            ],
        }  # fmt: skip

        checked = check_payload({**GOOD, "cx": _b64(contexts)}, resolver)

        assert len(checked.entities) == 2
        assert len(checked.errors) == 2
        assert all(error.startswith("cx[1]: ") for error in checked.errors)


class TestNumberEdges:
    """The quick answers for plain ASCII numbers agree with the full Java rules."""

    @pytest.mark.parametrize(
        ("field", "value", "good"),
        [
            ("vid", "999999999", True),
            ("vid", "2147483647", True),
            ("vid", "0000000002147483647", True),
            ("vid", "2147483648", False),
            ("vid", "-2147483648", True),
            ("vid", "\u0661\u0662", True),  # Arabic-Indic digits, as Java reads them
            ("vid", "\u00b2", False),
            ("vid", "", False),
            ("stm", "99999999999999", True),
            ("stm", "253402300799999", True),
            ("stm", "253402300800000", False),
            ("stm", "000000000000000001", True),
            ("stm", "1700000000000\u00b2", False),
            ("stm", "", False),
            ("se_va", "5.", True),
            ("se_va", ".5", True),
            ("se_va", "30.00", True),
            ("se_va", ".", False),
            ("se_va", "1.2.3", False),
            ("se_va", "1..2", False),
            ("se_va", "\u0661.\u0665", True),
            ("se_va", "1.\u00b2", False),
            ("se_va", "", False),
            ("eid", "C0FFEE00-0000-4000-8000-000000000000", True),
            ("eid", "c0ffee00-0000-4000-8000-00000000000", False),
        ],
    )
    def test_agrees(
        self, resolver: IgluResolver, field: str, value: str, *, good: bool
    ) -> None:
        """Each value is judged as Enrich judges it, fast path or not."""
        errors = check_payload({**GOOD, field: value}, resolver).errors

        assert (errors == []) is good, errors


class TestReadJson:
    """read_json reads what json.loads reads, errors included, refusing NaN and inf."""

    @pytest.mark.parametrize(
        "text",
        ['{"a": [1, 2.5]}', ' {"a": 1}', '{"a": 1}\n', "\t[]\r\n", '"x"', "3"],
    )
    def test_as_json_loads(self, text: str) -> None:
        """Whitespace around the value is JSON's to skip."""
        assert read_json(text) == json.loads(text)

    @pytest.mark.parametrize(
        "text", ["", " ", '{"a": 1} x', "[1] [2]", '{"a": }', "\ufeff{}", "\u00a0{}"]
    )
    def test_errors_as_json_loads(self, text: str) -> None:
        """Not JSON: the same error, word for word."""
        with pytest.raises(json.JSONDecodeError) as expected:
            json.loads(text)
        with pytest.raises(json.JSONDecodeError) as got:
            read_json(text)

        assert str(got.value) == str(expected.value)

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("[NaN]", "NaN is not a JSON number"),
            ('{"a": -Infinity}', "-Infinity is not a JSON number"),
            ("1e999", "1e999 is past a double's range"),
        ],
    )
    def test_not_numbers(self, text: str, reason: str) -> None:
        """What JSON cannot write is an error."""
        with pytest.raises(ValueError, match=reason):
            read_json(text)


class TestResolver:
    """Schemas come from user directories first, then the bundled copies."""

    def test_user_directory(self, tmp_path: Path) -> None:
        """A static-registry directory adds schemas; without it they are not found."""
        folder = tmp_path / "schemas" / "com.example" / "thing" / "jsonschema"
        folder.mkdir(parents=True)
        (folder / "1-0-0").write_text(
            json.dumps({"self": {}, "type": "object", "required": ["a"]}),
            encoding="utf-8",
        )
        uri = "iglu:com.example/thing/jsonschema/1-0-0"

        assert IgluResolver([tmp_path]).errors(uri, {"a": 1}) == []
        assert IgluResolver([tmp_path]).errors(uri, {}) == [
            f"{uri}: (root): 'a' is a required property"
        ]
        assert IgluResolver().errors(uri, {"a": 1}) == [f"schema not found: {uri}"]

    @pytest.mark.parametrize(
        ("fmt", "good", "bad"),
        [
            ("date-time", "2026-11-23T08:00:00.123Z", "2026-11-23 08:00"),
            ("date-time", "2026-11-23T08:00:00+01:00", "yesterday"),
            ("uri", "https://shop.test/p?q=1", "not a uri"),
            ("hostname", "shop.test", "-shop-.test"),
            ("ipv4", "192.0.2.1", "192.0.2.300"),
            ("ipv6", "2001:db8::1", "2001:db8:::1"),
            ("email", "a@shop.test", "shop.test"),
            ("uuid", "9a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a", "534"),
        ],
    )
    def test_formats_checked_as_iglu_does(
        self, tmp_path: Path, fmt: str, good: str, bad: str
    ) -> None:
        """Each format Iglu checks is checked, by the quick test and the validator alike."""
        folder = tmp_path / "schemas" / "com.example" / "formatted" / "jsonschema"
        folder.mkdir(parents=True)
        schema = {
            "type": "object",
            "properties": {"v": {"type": "string", "format": fmt, "maxLength": 64}},
            "additionalProperties": False,
        }
        (folder / "1-0-0").write_text(json.dumps(schema), encoding="utf-8")
        uri = "iglu:com.example/formatted/jsonschema/1-0-0"
        resolver = IgluResolver([tmp_path])

        assert resolver.errors(uri, {"v": good}) == []
        (error,) = resolver.errors(uri, {"v": bad})
        assert error == f"{uri}: v: {bad!r} is not a {fmt!r}"
        payload = _ue(uri, {"v": bad})
        assert check_payload(payload, resolver).errors == [f"ue_px: {error}"]

    def test_missing_format_packages_warned_once(self) -> None:
        """Without the format packages, the resolver says which formats go unchecked."""
        code = (
            "import logging, sys\n"
            "sys.modules['rfc3339_validator'] = None\n"
            "sys.modules['fqdn'] = None\n"
            "records = []\n"
            "logging.getLogger('snowplow_logging').addHandler(\n"
            "    type('H', (logging.Handler,), {'emit': lambda s, r: records.append(r)})()\n"
            ")\n"
            "from snowplow_logging.micro import IgluResolver\n"
            "print(IgluResolver().unchecked_formats, IgluResolver().unchecked_formats)\n"
            "print(len(records), records[0].getMessage())\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )

        formats, warning = result.stdout.splitlines()
        assert formats == "('date-time', 'hostname') ('date-time', 'hostname')"
        assert warning == (
            "1 The local collector cannot check the JSON Schema formats date-time, "
            "hostname without rfc3339-validator, fqdn: such values pass here and "
            "fail in a Snowplow pipeline: pip install 'snowplow-logging[micro]'"
        )
        assert IgluResolver().unchecked_formats == ()  # the micro extra has them

    def test_missing_jsonschema_names_the_extra(self) -> None:
        """Without jsonschema, the error says what to install."""
        code = (
            "import sys; sys.modules['jsonschema'] = None\n"
            "from snowplow_logging.micro import IgluResolver\n"
            "try:\n    IgluResolver()\nexcept ImportError as exc:\n    print(exc)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )

        assert "pip install 'snowplow-logging[micro]'" in result.stdout

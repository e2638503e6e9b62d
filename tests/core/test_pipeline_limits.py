"""The tracker never builds what the pipeline refuses: lengths, URL parts, JSON depth.

Whatever text an event is built from, either construction raises (naming the
field) or the payload passes the local collector's Enrich rules. The same table
(``_protocol``) and measures (``_limits``) drive both, so they are checked
against each other here, at the limits and with generated text.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snowplow_logging import (
    InvalidEventError,
    PagePing,
    PageView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Subject,
    Tracker,
)
from snowplow_logging._protocol import ENTITY_DATA_DEPTH, MAX_JSON_DEPTH
from snowplow_logging.micro import IgluResolver, check_payload
from snowplow_logging.testing import CapturingEmitter
from tests.conftest import TEST_SCHEMAS

ANYTHING = "iglu:com.acme/anything/jsonschema/1-0-0"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Text the pipeline counts differently from Python: emoji (2 UTF-16 units), tabs (4),
# newlines (0), combining marks, CJK; long enough to cross the limits.
tricky = st.text(
    st.sampled_from(
        ["a", "é", "\t", "\n", "😀", "字", "\u0301", " ", "%", "/", "?", "#"]
    ),
    min_size=1,
    max_size=5000,
)


@pytest.fixture(name="resolver", scope="module")
def _resolver(tmp_path_factory: pytest.TempPathFactory) -> IgluResolver:
    """The test schemas and com.acme/anything, an object schema allowing anything."""
    root = tmp_path_factory.mktemp("iglu")
    folder = root / "schemas" / "com.acme" / "anything" / "jsonschema"
    folder.mkdir(parents=True)
    (folder / "1-0-0").write_text('{"type": "object"}', encoding="utf-8")
    return IgluResolver([root, TEST_SCHEMAS])


def _payload(event: object, *, subject: Subject | None = None) -> dict[str, str]:
    emitter = CapturingEmitter()
    Tracker(emitters=emitter, subject=subject, encode_base64=True).track(event)  # type: ignore[arg-type]
    (payload,) = emitter.payloads
    return payload


def _nested(depth: int) -> dict[str, object]:
    """A data object with ``depth`` levels of objects below it, a string at the bottom."""
    data: object = "x"
    for _ in range(depth):
        data = {"a": data}
    return {"a": data}


class TestBuiltOrRefused:
    @FUZZ
    @given(category=tricky, label=tricky)
    def test_structured_event(
        self, resolver: IgluResolver, category: str, label: str
    ) -> None:
        """A structured event with any text is refused or passes Enrich's rules."""
        try:
            event = StructuredEvent(category=category, action="a", label=label)
        except InvalidEventError as exc:
            refused = str(exc)
        else:
            refused = ""
        if refused:
            assert refused.startswith(("'category'", "'label'")), refused
            return
        assert check_payload(_payload(event), resolver).errors == []

    @FUZZ
    @given(path=tricky, query=tricky)
    def test_page_view_url(self, resolver: IgluResolver, path: str, query: str) -> None:
        """A page URL of any path and query is refused or passes the URL part limits."""
        url = f"https://shop.test/{path}?{query}"
        try:
            event = PageView(page_url=url, referrer=url)
        except InvalidEventError as exc:
            refused = str(exc)
        else:
            refused = ""
        if refused:
            assert refused.startswith(("'page_url'", "'referrer'")), refused
            return
        assert check_payload(_payload(event), resolver).errors == []

    @FUZZ
    @given(useragent=tricky, user_id=tricky)
    def test_untrusted_subject_always_fits(
        self, resolver: IgluResolver, useragent: str, user_id: str
    ) -> None:
        """from_untrusted clips as the pipeline counts: its fields always pass."""
        subject = Subject.from_untrusted(useragent=useragent, user_id=user_id)

        payload = _payload(PagePing(page_url="https://shop.test/"), subject=subject)

        assert check_payload(payload, resolver).errors == []


class TestAtTheLimits:
    @pytest.mark.parametrize(
        ("url", "fits"),
        [
            ("https://shop.test/" + "p" * 2999, True),  # path 3000
            ("https://shop.test/" + "p" * 3000, False),
            ("https://shop.test/?" + "q" * 4000, True),
            ("https://shop.test/#" + "f" * 3000, True),
            ("https://shop.test/#" + "f" * 3001, False),
            ("https://shop.test/" + "😀" * 1500, False),  # 3001 UTF-16 units of path
            ("https://shop.test/a b" + " " * 1400, False),  # spaces stored as %20
            ("https://" + "h" * 256 + "/", False),
            ("abcdefghijklmnopq://x/", False),  # a 17-letter scheme
            ("http://[::1/", False),  # Enrich cannot parse it
        ],
    )
    def test_page_url_parts(
        self, resolver: IgluResolver, url: str, *, fits: bool
    ) -> None:
        """Construction refuses exactly the URLs the collector calls bad."""
        if fits:
            payload = _payload(PageView(page_url=url))
            assert check_payload(payload, resolver).errors == []
            return
        with pytest.raises(InvalidEventError, match="'page_url'"):
            PageView(page_url=url)
        collector = check_payload({"e": "pv", "url": url}, resolver, post=False)
        assert [e for e in collector.errors if e.startswith("url: ")], collector.errors

    def test_referrer_path_may_be_longer(self, resolver: IgluResolver) -> None:
        """A referrer's path column holds 6000 (the page's 3000)."""
        referrer = "https://other.test/" + "r" * 4000
        payload = _payload(PageView(page_url="https://shop.test/", referrer=referrer))

        assert check_payload(payload, resolver).errors == []

    def test_entity_depth(self, resolver: IgluResolver) -> None:
        """An entity nesting 35 objects below its data passes; 36 is refused when built."""
        entity = SelfDescribingJson(
            schema=ANYTHING, data=_nested(ENTITY_DATA_DEPTH - 1)
        )
        payload = _payload(StructuredEvent(category="c", action="a", context=[entity]))

        assert check_payload(payload, resolver).errors == []
        with pytest.raises(InvalidEventError, match="nested deeper than 35"):
            SelfDescribingJson(schema=ANYTHING, data=_nested(ENTITY_DATA_DEPTH + 1))

    def test_one_more_level_is_what_the_pipeline_refuses(
        self, resolver: IgluResolver
    ) -> None:
        """The limit is the pipeline's: one level more fails its depth of 40."""
        too_deep = _nested(ENTITY_DATA_DEPTH + 1)
        entity = {"schema": ANYTHING, "data": too_deep}
        event = SelfDescribing(
            event_json=SelfDescribingJson(schema=ANYTHING, data={"k": "v"})
        )
        payload = _payload(event)
        payload.pop("cx", None)
        payload["co"] = json.dumps(
            {
                "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
                "data": [entity],
            }
        )

        errors = check_payload(payload, resolver).errors

        assert any(f"maximum JSON depth, {MAX_JSON_DEPTH}" in e for e in errors), errors

"""Subject.from_untrusted: request data is clipped, repaired or dropped, never raised.

Each hostile value is checked for what is kept and for the one counter it moves;
programmer mistakes (unknown keywords, values of a wrong type) still raise; and,
for any text in any field, the subject is one the strict constructor accepts and
every event it is on passes the pipeline's checks (issue #15 item 6).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import threading
import uuid
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snowplow_logging import (
    InvalidEventError,
    InvalidEventTypeError,
    PageView,
    Subject,
    Tracker,
)
from snowplow_logging import _subject as subject_module
from snowplow_logging._limits import clip
from snowplow_logging.micro import check_payload
from snowplow_logging.testing import CapturingEmitter

SID = "123e4567-e89b-12d3-a456-426614174000"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
KEYWORDS = [f.name for f in dataclasses.fields(Subject) if f.init]
TEXT_FIELDS = ["user_id", "timezone", "useragent", "domain_user_id", "network_user_id"]
LIMITS = {
    "user_id": 255,
    "timezone": 255,
    "useragent": 1000,
    "domain_user_id": 128,
    "network_user_id": 128,
    "color_depth": 12,
}
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Counts = dict[tuple[str, str], int]


def _counts() -> Counts:
    return {
        (name, outcome): count
        for name, outcomes in Subject.untrusted_stats().items()
        for outcome, count in outcomes.items()
    }


def _moved(before: Counts) -> Counts:
    after = _counts()
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def _attrs(subject: Subject) -> dict[str, object]:
    return {name: getattr(subject, name) for name in KEYWORDS}


def _assert_strict_valid(subject: Subject) -> None:
    """The strict constructor accepts the subject's values and makes the same wire."""
    rebuilt = Subject(**_attrs(subject))  # type: ignore[arg-type]
    assert rebuilt == subject
    assert rebuilt.fields == subject.fields


def _repaired(text: str) -> str:
    """What the documentation says text becomes: pairs joined, lone surrogates
    U+FFFD, tabs spaces, the other ASCII control characters gone."""
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return "".join(
        " " if c == "\t" else c
        for c in text
        if c == "\t" or not (c < " " or c == "\x7f")
    )


def _assert_payload_valid(subject: Subject) -> dict[str, str]:
    emitter = CapturingEmitter()
    Tracker(emitters=emitter, subject=subject).track(
        PageView(page_url="https://x.test", event_subject=subject)
    )
    (payload,) = emitter.payloads
    assert check_payload(payload).errors == [], payload
    for value in payload.values():
        value.encode("utf-8")  # no lone surrogate
        assert not any(ord(c) < 0x20 or c == "\x7f" for c in value), value
    return payload


# (id, keyword, value given, value kept (None: not sent), the counters moved by one)
HOSTILE: list[tuple[str, str, object, object, str]] = [
    ("2000-char ua", "useragent", "a" * 2000, "a" * 1000, "clipped"),
    # The pipeline counts UTF-16 units: each é😀 is 3, so 333 of them fit in 1000,
    # and the next é (1000th unit) too, but not the emoji after it.
    ("2000-char non-ASCII ua", "useragent", "é😀" * 1000, "é😀" * 333 + "é", "clipped"),
    ("lone surrogate", "user_id", "u\ud800-1", "u\ufffd-1", "repaired"),
    ("lone low surrogate", "useragent", "\udc80curl", "\ufffdcurl", "repaired"),
    ("split surrogate pair", "user_id", "\ud83d\ude00", "😀", "repaired"),
    ("NUL", "user_id", "u\x00-1", "u-1", "repaired"),
    ("control chars", "useragent", "curl\r\n/8\x1b\x7f", "curl/8", "repaired"),
    ("tab", "timezone", "Europe/\tBerlin", "Europe/ Berlin", "repaired"),
    ("only controls", "timezone", "\x00\x01", None, "dropped"),
    ("long and NUL", "useragent", "\x00" + "a" * 2000, "a" * 1000, "clipped repaired"),
    ("invalid UTF-8", "useragent", b"curl/8 \xff", "curl/8 \ufffd", "repaired"),
    ("300-char language", "lang", "en-" + "x" * 297, None, "dropped"),
    ("300-char tag shape", "lang", "en" + "-ab" * 100, None, "dropped"),
    ("Accept-Language", "lang", "en-GB,en;q=0.9", None, "dropped"),
    ("garbage language", "lang", "<script>", None, "dropped"),
    ("padded language", "lang", " en-GB\n", "en-GB", "repaired"),
    ("not an IP", "ip_address", "not-an-ip", None, "dropped"),
    ("X-Forwarded-For list", "ip_address", "1.2.3.4, 5.6.7.8", None, "dropped"),
    ("IPv4 leading zero", "ip_address", "01.2.3.4", None, "dropped"),
    ("IPv4 octet 256", "ip_address", "256.1.1.1", None, "dropped"),
    ("IPv6 zone", "ip_address", "fe80::1%eth0", None, "dropped"),
    ("bracketed IPv6", "ip_address", "[::1]", None, "dropped"),
    ("IP and newline", "ip_address", "1.2.3.4\n", "1.2.3.4", "repaired"),
    ("non-numeric size", "screen_resolution", "abc", None, "dropped"),
    ("size of words", "screen_resolution", ("wide", "1080"), None, "dropped"),
    ("size missing side", "viewport", (None, 1080), None, "dropped"),
    ("size of three", "viewport", (1, 2, 3), None, "dropped"),
    ("negative size", "viewport", (-1, 5), None, "dropped"),
    ("fractional size", "viewport", (1.5, 5), None, "dropped"),
    ("huge size", "viewport", "99999999999x1", None, "dropped"),
    ("padded size", "viewport", " 800x600 ", (800, 600), "repaired"),
    ("sid not a UUID", "domain_session_id", "59ed13b1a5724dae", None, "dropped"),
    ("sid and newline", "domain_session_id", SID + "\n", SID, "repaired"),
    ("index negative", "domain_session_index", "-1", None, "dropped"),
    ("index too big", "domain_session_index", 2**31, None, "dropped"),
    ("index not digits", "domain_session_index", "three", None, "dropped"),
    ("index nan", "domain_session_index", float("nan"), None, "dropped"),
    ("index Arabic digit", "domain_session_index", "\u0663", None, "dropped"),
    ("unknown platform", "platform", "desktop", None, "dropped"),
    ("long colour depth", "color_depth", "x" * 13, "x" * 12, "clipped"),
    ("negative colour depth", "color_depth", -1, None, "dropped"),
    ("long network user id", "network_user_id", "n" * 129, "n" * 128, "clipped"),
    ("blank user id", "user_id", "   ", "   ", ""),
]


class TestHostileValues:
    """Each bad value is fixed or dropped as documented and counted once."""

    @pytest.mark.parametrize(
        ("name", "given", "kept", "outcomes"),
        [case[1:] for case in HOSTILE],
        ids=[case[0] for case in HOSTILE],
    )
    def test_fixed_and_counted(
        self, name: str, given: object, kept: object, outcomes: str
    ) -> None:
        """Never raises; the field holds what is documented; its counters move by one."""
        before = _counts()

        subject = Subject.from_untrusted(**{name: given})  # type: ignore[arg-type]

        assert getattr(subject, name) == kept
        assert _moved(before) == {(name, outcome): 1 for outcome in outcomes.split()}
        _assert_strict_valid(subject)
        _assert_payload_valid(subject)

    def test_clipped_text_is_valid_utf8(self) -> None:
        """A user agent clipped after a repair keeps whole code points."""
        subject = Subject.from_untrusted(useragent="\ud83d\ude00" * 1500)

        assert subject.useragent == "😀" * 500  # 2 UTF-16 units each, as Enrich counts
        assert len(subject.fields["ua"].encode("utf-8")) == 2000

    def test_several_fields_each_counted(self) -> None:
        """Fixes in different fields move each field's counter; good fields none."""
        before = _counts()

        subject = Subject.from_untrusted(
            user_id="u-1",
            ip_address="not-an-ip",
            useragent="a" * 1001,
            lang="en-GB",
            timezone="Europe/Berlin",
        )

        assert subject.fields == {
            "uid": "u-1",
            "ua": "a" * 1000,
            "lang": "en-GB",
            "tz": "Europe/Berlin",
        }
        assert _moved(before) == {
            ("ip_address", "dropped"): 1,
            ("useragent", "clipped"): 1,
        }


GOOD: dict[str, object] = {
    "platform": "web",
    "user_id": "josé-1",
    "screen_resolution": (1920, 1080),
    "viewport": (1280, 720),
    "color_depth": 24,
    "timezone": "Europe/Berlin",
    "lang": "zh_Hant_TW",
    "ip_address": "2001:db8::8a2e:370:7334",
    "useragent": UA,
    "domain_user_id": "d-1",
    "domain_session_id": SID,
    "domain_session_index": 0,
    "network_user_id": "n-1",
}


class TestGoodValues:
    """Good values are kept as given, as the strict constructor keeps them."""

    def test_same_subject_as_the_constructor(self) -> None:
        """Every field good: the same subject and wire fields, no counter moved."""
        before = _counts()

        subject = Subject.from_untrusted(**GOOD)  # type: ignore[arg-type]

        assert subject == Subject(**GOOD)  # type: ignore[arg-type]
        assert subject.fields == Subject(**GOOD).fields  # type: ignore[arg-type]
        assert _moved(before) == {}

    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            ({"user_id": 42}, {"uid": "42"}),
            ({"user_id": b"u-1", "lang": b"de"}, {"uid": "u-1", "lang": "de"}),
            ({"user_id": "", "useragent": b"", "lang": None}, {}),
            ({"ip_address": ipaddress.ip_address("::1")}, {"ip": "::1"}),
            ({"ip_address": "203.0.113.7"}, {"ip": "203.0.113.7"}),
            ({"ip_address": "::ffff:192.0.2.1"}, {"ip": "::ffff:192.0.2.1"}),
            ({"domain_session_id": uuid.UUID(SID)}, {"sid": SID}),
            ({"domain_session_index": "7"}, {"vid": "7"}),
            ({"domain_session_index": 7.0}, {"vid": "7"}),
            ({"screen_resolution": "1920x1080"}, {"res": "1920x1080"}),
            ({"screen_resolution": ["1920", 1080.0]}, {"res": "1920x1080"}),
            ({"color_depth": "24"}, {"cd": "24"}),
            (
                {"useragent": "Mozilla/5.0 (Linux; Android 14) é\u00a0ü"},
                {"ua": "Mozilla/5.0 (Linux; Android 14) é\u00a0ü"},
            ),
        ],
    )
    def test_conversions_are_not_fixes(
        self, values: dict[str, object], expected: dict[str, str]
    ) -> None:
        """Text-ish and numeric conversions are documented, not counted."""
        before = _counts()

        subject = Subject.from_untrusted(**values)  # type: ignore[arg-type]

        assert subject.fields == expected
        assert _moved(before) == {}
        _assert_strict_valid(subject)

    def test_an_untrusted_subject_is_an_ordinary_subject(self) -> None:
        """Setters, replace, hashing and equality work as on any subject."""
        subject = Subject.from_untrusted(user_id="u-1", useragent="a" * 2000)

        changed = subject.set_lang("de")

        assert changed.fields == {"uid": "u-1", "ua": "a" * 1000, "lang": "de"}
        assert subject.fields == {"uid": "u-1", "ua": "a" * 1000}
        assert hash(subject) == hash(Subject(user_id="u-1", useragent="a" * 1000))
        assert dataclasses.replace(subject, user_id="u-2").user_id == "u-2"


class TestProgrammerMistakes:
    """Unknown keywords and values of a wrong type raise, as in the constructor."""

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            ({"user": "u"}, "unexpected keyword argument 'user'"),
            (
                {"user_id": {"id": 1}},
                "'user_id' must be text (str or bytes), an int or None (got dict",
            ),
            ({"user_id": 1.5}, "'user_id' must be text"),
            ({"user_id": True}, "'user_id' must be text"),
            (
                {"useragent": 5},
                "'useragent' must be text (str or bytes) or None (got int 5)",
            ),
            ({"lang": ["en"]}, "'lang' must be text"),
            ({"ip_address": 16909060}, "'ip_address' must be text"),
            ({"platform": object()}, "'platform' must be text"),
            ({"domain_session_id": 5}, "'domain_session_id' must be text"),
            (
                {"domain_session_index": True},
                "'domain_session_index' must be a whole number",
            ),
            (
                {"domain_session_index": [1]},
                "'domain_session_index' must be a whole number",
            ),
            (
                {"screen_resolution": {"w": 1}},
                "'screen_resolution' must be a (width, height) pair",
            ),
            (
                {"screen_resolution": 1920},
                "'screen_resolution' must be a (width, height) pair",
            ),
            ({"viewport": (True, 5)}, "'viewport' must be a whole number"),
            ({"color_depth": 24.0}, "'color_depth' must be text"),
            ({"color_depth": False}, "'color_depth' must be text"),
        ],
    )
    def test_raises(self, values: dict[str, object], message: str) -> None:
        """InvalidEventTypeError (a TypeError) naming the field; no counter moves."""
        before = _counts()

        with pytest.raises(InvalidEventTypeError, match=re.escape(message)):
            Subject.from_untrusted(**values)  # type: ignore[arg-type]

        assert _moved(before) == {}

    def test_strict_constructor_still_raises(self) -> None:
        """The constructor keeps refusing what from_untrusted fixes."""
        with pytest.raises(InvalidEventError, match="'useragent' must be at most 1000"):
            Subject(useragent="a" * 2000)
        with pytest.raises(InvalidEventError, match="'user_id' must be text encodable"):
            Subject(user_id="u\ud800")
        with pytest.raises(TypeError, match="unexpected keyword"):
            Subject(user="u")  # type: ignore[call-arg]


class TestKeywordsAndStats:
    """The keywords follow the constructor; the counters are complete and thread-safe."""

    def test_keywords_are_the_constructors(self) -> None:
        """from_untrusted takes exactly the constructor's keywords."""
        assert list(subject_module._UntrustedFields.__annotations__) == KEYWORDS
        assert list(subject_module._UNTRUSTED) == KEYWORDS
        assert list(Subject.untrusted_stats()) == KEYWORDS

    def test_stats_shape(self) -> None:
        """Every field has the three counts; the dict returned is a copy."""
        stats = Subject.untrusted_stats()
        stats["useragent"]["clipped"] = -1

        assert all(
            list(counts) == ["clipped", "repaired", "dropped"]
            for counts in Subject.untrusted_stats().values()
        )
        assert Subject.untrusted_stats()["useragent"]["clipped"] >= 0

    def test_counts_from_many_threads(self) -> None:
        """Counts made concurrently are all kept."""
        threads, calls = 8, 500
        before = _counts()
        start = threading.Barrier(threads)

        def work() -> None:
            start.wait()
            for _ in range(calls):
                Subject.from_untrusted(useragent="a" * 1001, ip_address="x")

        pool = [threading.Thread(target=work) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()

        assert _moved(before) == {
            ("useragent", "clipped"): threads * calls,
            ("ip_address", "dropped"): threads * calls,
        }


any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
long_text = st.builds(
    lambda text, times: text * times,
    st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=8),
    st.integers(1, 1100),
)
texty = st.one_of(any_text, long_text, st.binary(max_size=40))
hexish = st.text(st.sampled_from("0123456789abcdefABCDEF:.%"), max_size=45)


class TestAnyText:
    """Whatever text comes in, nothing raises and everything sent is valid."""

    @FUZZ
    @given(
        values=st.fixed_dictionaries(
            {},
            optional={
                **dict.fromkeys(KEYWORDS, texty),
                "ip_address": st.one_of(texty, hexish, st.ip_addresses().map(str)),
                "lang": st.one_of(
                    texty, st.from_regex(r"[a-z]{2}(-[A-Z]{2})?", fullmatch=True)
                ),
                "domain_session_id": st.one_of(texty, st.uuids().map(str)),
            },
        )
    )
    def test_never_raises_and_passes_the_strict_checks(
        self, values: Mapping[str, object]
    ) -> None:
        """The subject is one the constructor accepts; its events pass check_payload."""
        subject = Subject.from_untrusted(**values)  # type: ignore[arg-type]

        _assert_strict_valid(subject)
        payload = _assert_payload_valid(subject)

        assert payload.items() >= subject.fields.items()
        for name in TEXT_FIELDS:
            value = values.get(name)
            if isinstance(value, str):
                assert getattr(subject, name) == (
                    clip(_repaired(value), LIMITS[name]) or None
                )

    @FUZZ
    @given(text=st.one_of(hexish, st.ip_addresses().map(str)))
    def test_ip_check_agrees_with_ipaddress(self, text: str) -> None:
        """An address is kept exactly when ipaddress reads it (without a zone)."""
        try:
            ipaddress.ip_address(text)
            valid = "%" not in text
        except ValueError:
            valid = False

        subject = Subject.from_untrusted(ip_address=text)

        assert (subject.ip_address == text) is valid
        assert subject.ip_address in (None, text)

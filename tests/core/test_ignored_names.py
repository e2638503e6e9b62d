"""The handler's remembered ignored-logger names agree with is_ignored()."""

from __future__ import annotations

import logging

from snowplow_logging import SnowplowHandler, StructuredEvent, Tracker
from snowplow_logging._tags import _NAMES_KEPT, IGNORED_NAMES, is_ignored, learn_ignored
from snowplow_logging.testing import CapturingEmitter


def test_learned_names_match_is_ignored_and_stay_bounded() -> None:
    names = ["urllib3", "urllib3.connectionpool", "urllib3x", "app", None, 7]
    assert [learn_ignored(n) for n in names] == [is_ignored(n) for n in names]
    assert [learn_ignored(n) for n in names] == [True, True, False, False, False, False]
    for n in range(_NAMES_KEPT + 10):
        learn_ignored(f"app.{n}")
    assert len(IGNORED_NAMES) <= _NAMES_KEPT


def test_records_of_the_send_path_are_never_sent_even_when_remembered() -> None:
    emitter = CapturingEmitter()
    handler = SnowplowHandler(tracker=Tracker(emitters=emitter))
    event = StructuredEvent(category="c", action="a")
    for name in ("requests.sessions", "app.orders") * 2:  # second time: remembered
        handler.handle(logging.makeLogRecord({"name": name, "snowplow": event}))
    handler.handle(logging.makeLogRecord({"name": None, "snowplow": event}))

    assert len(emitter.payloads) == 3  # app.orders twice, the unnamed record once

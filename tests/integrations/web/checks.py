"""The checks every framework and server passes, at a real collector.

A test module subclasses :class:`ServerChecks` and provides the ``server``
fixture (one server for the module) and ``category`` (its events' category).
Every app trusts 127.0.0.1 as its proxy, takes the user id from ``X-User``
(``raise`` makes the callback raise), attaches the page entity, and serves
``/event/<label>``, ``/overlap/<label>`` (two requests wait for each other
before logging), ``/stream/<label>`` (logs while its body is streamed),
``/flush`` and ``/health``.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from snowplow_logging._web import PAGE_SCHEMA
from snowplow_logging.micro import MicroCollector
from tests.integrations.web.servers import (
    HOSTILE,
    TRUSTED,
    UNTRUSTED,
    Server,
    browser,
    by_action,
    concurrently,
    subject,
)


class ServerChecks:
    """uid, ip (direct, through a trusted proxy, not through an untrusted one), ua
    and lang at the collector; concurrent requests unmixed; hostile headers served."""

    overlapping: ClassVar[bool] = True
    """Whether two requests can be in the app at once (not with one sync worker)."""
    streams_bound: ClassVar[bool] = True
    """Whether a streamed body's events are bound (not with Django under ASGI)."""

    @pytest.fixture(autouse=True)
    def _fresh(self, micro: MicroCollector) -> None:
        micro.reset()

    def test_direct_client(self, server: Server, micro: MicroCollector) -> None:
        """No proxy: the peer's address, the browser's agent, language and user."""
        assert server.get("/event/direct", browser("alice"), source=UNTRUSTED)[0] == 200
        assert server.get("/event/local", browser("bob", lang="de"))[0] == 200
        server.flush(micro, 2)

        events = by_action(micro)
        assert subject(events["direct"]) == {
            "uid": "alice",
            "ip": UNTRUSTED,
            "ua": "agent-of-alice",
            "lang": "en-GB",
        }
        assert subject(events["local"]) == {
            "uid": "bob",
            "ip": TRUSTED,  # a trusted proxy without a proxy header: the peer
            "ua": "agent-of-bob",
            "lang": "de",
        }

    def test_page_entity(self, server: Server, micro: MicroCollector) -> None:
        """The request's URL and Referer, in the page entity the package ships."""
        headers = browser("carol", Referer="https://shop.test/cart?x=1")
        assert server.get("/event/page?q=mug%20cups", headers)[0] == 200
        server.flush(micro, 1)

        (event,) = micro.good(contexts=[PAGE_SCHEMA])
        (page,) = [e["data"] for e in event.entities if e["schema"] == PAGE_SCHEMA]
        assert page == {
            "url": f"http://127.0.0.1:{server.port}/event/page?q=mug%20cups",
            "referrer": "https://shop.test/cart?x=1",
        }

    def test_forwarded_through_trusted_proxy(
        self, server: Server, micro: MicroCollector
    ) -> None:
        """From the trusted proxy: the header, right to left, past trusted hops."""
        one_hop = browser("dave", **{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
        two_hops = browser("erin", **{"X-Forwarded-For": "203.0.113.8, 127.0.0.1"})
        assert server.get("/event/one-hop", one_hop)[0] == 200
        assert server.get("/event/two-hops", two_hops)[0] == 200
        server.flush(micro, 2)

        events = by_action(micro)
        assert (
            events["one-hop"].payload["ip"] == "203.0.113.7"
        )  # not the forgeable left
        assert events["two-hops"].payload["ip"] == "203.0.113.8"
        assert events["two-hops"].payload["uid"] == "erin"

    def test_forwarded_from_untrusted_peer_is_ignored(
        self, server: Server, micro: MicroCollector
    ) -> None:
        """A client that is not a trusted proxy cannot choose its address."""
        forged = browser("mallory", **{"X-Forwarded-For": "203.0.113.66"})
        assert server.get("/event/forged", forged, source=UNTRUSTED)[0] == 200
        server.flush(micro, 1)

        assert by_action(micro)["forged"].payload["ip"] == UNTRUSTED

    def test_concurrent_requests_keep_their_subjects(
        self, server: Server, micro: MicroCollector
    ) -> None:
        """Requests in the app at the same time: each event carries its own subject."""
        path = "/overlap/{}" if self.overlapping else "/event/{}"
        users = ["ann", "ben", "cat", "dan"]
        requests = [
            (
                path.format(user),
                browser(user, **{"X-Forwarded-For": f"203.0.113.{n}"}),
                TRUSTED,
            )
            for n, user in enumerate(users, start=10)
        ]
        assert concurrently(server, requests) == [200] * len(users)
        server.flush(micro, len(users))

        events = by_action(micro)
        assert {user: subject(events[user]) for user in users} == {
            user: {
                "uid": user,
                "ip": f"203.0.113.{n}",
                "ua": f"agent-of-{user}",
                "lang": "en-GB",
            }
            for n, user in enumerate(users, start=10)
        }

    def test_binding_ends_with_the_request(
        self, server: Server, micro: MicroCollector
    ) -> None:
        """The next request on the same worker starts from nothing."""
        assert server.get("/event/with-user", browser("amy"))[0] == 200
        assert server.get("/event/anonymous", source=UNTRUSTED)[0] == 200
        server.flush(micro, 2)

        assert subject(by_action(micro)["anonymous"]) == {
            "uid": None,
            "ip": UNTRUSTED,
            "ua": None,
            "lang": None,
        }

    def test_streamed_body_is_bound(
        self, server: Server, micro: MicroCollector
    ) -> None:
        """An event logged while the body streams carries the request's subject."""
        status, body = server.get("/stream/streamed", browser("sue"))
        assert (status, body) == (200, b"ab")
        server.flush(micro, 1)

        uid = by_action(micro)["streamed"].payload.get("uid")
        assert uid == ("sue" if self.streams_bound else None)

    def test_hostile_headers_are_served(
        self, server: Server, micro: MicroCollector
    ) -> None:
        """5,000-character agents, garbage proxy headers: 200, and the events are good."""
        assert server.get("/event/hostile-proxied", HOSTILE)[0] == 200
        assert server.get("/event/hostile-direct", HOSTILE, source=UNTRUSTED)[0] == 200
        server.flush(micro, 2)

        events = by_action(micro)
        for label, ip in (("hostile-proxied", None), ("hostile-direct", UNTRUSTED)):
            fields = subject(events[label])
            assert fields["ip"] == ip, label  # garbage is no address: none sent
            assert fields["uid"] == "u" * 255  # clipped
            ua = fields["ua"]
            assert ua is not None
            assert ua.startswith("Mozilla/5.0 \u00e9")
            assert len(ua) == 1000  # clipped
            assert fields["lang"] is None  # "*" is not a language tag
            (page,) = [
                e["data"] for e in events[label].entities if e["schema"] == PAGE_SCHEMA
            ]
            assert isinstance(page, dict)
            referrer = page["referrer"]
            assert isinstance(referrer, str)
            assert referrer.startswith("http://\ufffd\ufffd/rrr")  # invalid UTF-8
            assert len(referrer) == 4096  # clipped

    def test_user_id_callback_errors_are_contained(
        self, server: Server, micro: MicroCollector
    ) -> None:
        """A raising user_id callback: the request is served, its events have no uid."""
        before = server.flush(micro, 0)
        assert server.get("/event/no-user", browser("raise"))[0] == 200
        after = server.flush(micro, 1)

        fields = subject(by_action(micro)["no-user"])
        assert (fields["uid"], fields["ua"]) == (None, "agent-of-raise")
        assert after["user_id_errors"] == before["user_id_errors"] + 1
        assert after["errors"] == before["errors"] == 0

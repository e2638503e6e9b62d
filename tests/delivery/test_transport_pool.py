"""The session the transport creates: requests' adapter, its last pool remembered.

``_CollectorAdapter`` is ``HTTPAdapter`` with one override: the pool found for
the last request is returned for the next one with the same URL (query aside)
and the same settings objects, while that pool is open. These tests pin what
must not change: requests sends, a closed or evicted pool is never reused,
other settings or another URL ask requests again, a user's session is left as
it is.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from snowplow_logging._delivery.transport import (
    RequestsTransport,
    Response,
    _CollectorAdapter,
)
from snowplow_logging._delivery.url import collector_url
from tests.collector import Collector


def _transport(
    url: str, method: str = "get", session: requests.Session | None = None
) -> RequestsTransport:
    return RequestsTransport(
        collector_url(url, method=method).url,
        method=method,
        session=session,
        headers=None,
        auth=None,
        timeout=5.0,
    )


def _adapter(transport: RequestsTransport, url: str) -> _CollectorAdapter:
    adapter = transport.session.get_adapter(url)
    assert isinstance(adapter, _CollectorAdapter)
    return adapter


def test_requests_sends() -> None:
    """Only the pool lookup is ours: HTTPAdapter.send and build_response are requests'."""
    assert _CollectorAdapter.send is HTTPAdapter.send
    assert _CollectorAdapter.build_response is HTTPAdapter.build_response
    session = _transport("http://127.0.0.1:1").session
    assert [type(a) for a in session.adapters.values()] == [_CollectorAdapter] * 2
    assert list(session.adapters) == list(requests.Session().adapters)


def test_one_pool_one_connection(collector: Collector) -> None:
    """Every request after the first goes to the remembered pool, keep-alive."""
    transport = _transport(collector.url)
    adapter = _adapter(transport, collector.url)

    for index in range(5):
        assert transport.send(query=f"e=pv&n={index}") == Response(200, None)
        if index == 0:
            remembered = adapter._last
        assert adapter._last is remembered

    assert remembered is not None
    assert len(collector.requests) == 5
    assert [r.query for r in collector.requests] == [
        f"e=pv&n={index}" for index in range(5)
    ]


def _memo(adapter: _CollectorAdapter) -> object:
    return adapter._last


def test_closed_adapter_forgets_its_pool(collector: Collector) -> None:
    """After session.close() (the pool manager forgets its pools), the next request
    finds a new pool and connection, as requests would."""
    transport = _transport(collector.url, method="post")
    adapter = _adapter(transport, collector.url)
    transport.send(b"{}")
    first = adapter._last
    assert first is not None

    transport.session.close()
    assert _memo(adapter) is None
    assert transport.send(b"{}") == Response(200, None)

    second = adapter._last
    assert second is not None
    assert second[4] is not first[4]
    assert len(collector.requests) == 2
    assert len({r.client_port for r in collector.requests}) == 2


def test_other_settings_or_url_ask_requests() -> None:
    """A different verify, proxies or cert object, or another URL: requests' lookup."""
    adapter = _CollectorAdapter()
    url = "http://127.0.0.1:9/i"

    def pool(
        target: str = url,
        verify: bool | str = True,
        proxies: dict[str, str] | None = None,
    ) -> object:
        request = requests.Request("GET", target).prepare()
        return adapter.get_connection_with_tls_context(
            request, verify, proxies=proxies or {}
        )

    proxies: dict[str, str] = {}
    first = pool(proxies=proxies)
    assert pool(f"{url}?e=pv", proxies=proxies) is first  # the query aside
    other = pool("http://127.0.0.2:9/i", proxies=proxies)
    assert other is not first
    assert pool(proxies={}) is first  # a new dict: requests finds the same pool
    assert pool(verify=False) is not first  # another TLS setting, another pool
    adapter.close()


def test_users_session_is_not_touched(collector: Collector) -> None:
    """A session the user passes keeps its adapters."""
    session = requests.Session()
    adapters = dict(session.adapters)
    transport = _transport(collector.url, session=session)

    transport.send(query="e=pv")

    assert transport.session is session
    assert session.adapters == adapters
    assert all(type(a) is HTTPAdapter for a in session.adapters.values())


def test_fork_gets_a_new_session_of_the_same_kind(collector: Collector) -> None:
    """after_fork replaces an owned session with one of the same adapters."""
    transport = _transport(collector.url)
    transport.send(query="e=pv")
    old = transport.session

    transport.after_fork()
    assert transport.send(query="e=pv") == Response(200, None)

    assert transport.session is not old
    assert isinstance(transport.session.get_adapter(collector.url), _CollectorAdapter)

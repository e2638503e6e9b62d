"""The official Snowplow trackers against our collector: every event they send is good.

Three real clients, each sending to a :class:`MicroCollector` on 127.0.0.1:

- the Python tracker ``snowplow-tracker`` 1.1.0 (in this process): every event
  type, new-style events and the legacy ``track_*`` methods, by POST and GET,
  with and without base64, with a tracker subject, per-event subjects and
  entities;
- the Node tracker ``@snowplow/node-tracker`` (``node`` in a subprocess,
  ``official_clients/node_client.js``): every ``build*`` event, the same matrix;
- the browser tracker ``@snowplow/browser-tracker`` in headless chromium, in its
  default configuration (POST, base64, the ``web_page`` entity) and a common
  one (GET, no base64, ``client_session`` and ``browser_context``), on a page of
  another origin: page view, page pings from activity tracking, a structured event.

Each test counts what the client says it sent (its success callbacks) against
what the collector made of it. The npm packages are pinned in
``.ci/package.json``; ``.ci/run`` installs them into ``.ci/node_modules``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from snowplow_tracker.emitters import Emitter
from snowplow_tracker.events.page_ping import PagePing
from snowplow_tracker.events.page_view import PageView
from snowplow_tracker.events.screen_view import ScreenView
from snowplow_tracker.events.self_describing import SelfDescribing
from snowplow_tracker.events.structured_event import StructuredEvent
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.subject import Subject
from snowplow_tracker.tracker import Tracker

from snowplow_logging.micro import BadEvent, MicroCollector
from tests.browser import headless_chromium, wait_until
from tests.processes import REPO

NODE_MODULES: Final = REPO / ".ci" / "node_modules"
NODE_CLIENT: Final = Path(__file__).parent / "official_clients" / "node_client.js"
BROWSER_BUNDLE: Final = (
    NODE_MODULES / "@snowplow" / "browser-tracker" / "dist" / "index.umd.min.js"
)
MATRIX: Final = [
    pytest.param(method, base64, id=f"{method}-{'base64' if base64 else 'plain'}")
    for method in ("post", "get")
    for base64 in (True, False)
]
APPLICATION = "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0"
MOBILE_APPLICATION = "iglu:com.snowplowanalytics.mobile/application/jsonschema/1-0-0"


def _reasons(bad: list[BadEvent]) -> Counter[str]:
    """The bad events' reasons, counted: what a failure message shows."""
    return Counter(reason for event in bad for reason in event.errors)


def _node_modules() -> Path:
    if not (NODE_MODULES / "@snowplow" / "node-tracker").is_dir():
        pytest.fail(
            "the official Snowplow JavaScript trackers are not installed: "
            "npm ci --prefix .ci (.ci/run does it when missing)"
        )
    return NODE_MODULES


@pytest.fixture(name="micro", scope="module")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        yield micro


@pytest.fixture(autouse=True)
def _fresh(micro: MicroCollector) -> None:
    micro.reset()


# --- the Python tracker ----------------------------------------------------------


def _entities() -> list[SelfDescribingJson]:
    return [
        SelfDescribingJson(APPLICATION, {"version": "1.1.0"}),
        SelfDescribingJson(MOBILE_APPLICATION, {"version": "1.1.0", "build": "42"}),
    ]


def _python_events(tracker: Tracker) -> int:
    """Every event type of snowplow-tracker 1.1.0; returns how many were tracked."""
    person = Subject().set_user_id("per-event-user").set_lang("fr-FR")
    tracker.track(
        PageView(
            page_url="https://py.test/page?q=1#top",
            page_title="Pÿthon",
            referrer="https://ref.test/",
            context=_entities(),
            event_subject=person,
        )
    )
    tracker.track(
        PagePing(
            page_url="https://py.test/page",
            min_x=0,
            max_x=100,
            min_y=10,
            max_y=900,
            context=_entities(),
        )
    )
    tracker.track(
        ScreenView(
            id_=str(uuid.uuid4()),
            name="checkout",
            type="form",
            previous_name="basket",
            previous_id=str(uuid.uuid4()),
            previous_type="list",
            transition_type="push",
            context=_entities(),
        )
    )
    tracker.track(
        StructuredEvent(
            category="shop",
            action="add",
            label="sku-1",
            property_="basket",
            value=19.99,
            context=_entities(),
            event_subject=person,
        )
    )
    tracker.track(StructuredEvent(category="shop", action="view"))
    tracker.track(
        SelfDescribing(
            SelfDescribingJson(
                "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
                {"targetUrl": "https://py.test/sd", "elementId": "sd"},
            ),
            context=_entities(),
            true_timestamp=1_700_000_000_000,
        )
    )
    tracked = 6
    with warnings.catch_warnings():  # the legacy methods are deprecated in 1.x
        warnings.simplefilter("ignore", DeprecationWarning)
        context = _entities()
        tracker.track_page_view("https://py.test/legacy", "Legacy", context=context)
        tracker.track_page_ping("https://py.test/legacy", None, None, 0, 1, 2, 3)
        tracker.track_link_click(
            "https://py.test/help", "help", ["nav"], "_blank", "Help", context=context
        )
        tracker.track_add_to_cart("sku-1", 2, "Mug", "kitchen", 19.99, "GBP", context)
        tracker.track_remove_from_cart("sku-1", 1, "Mug", "kitchen", 19.99, "GBP")
        tracker.track_form_change(
            "signup", "email", "INPUT", "a@b.test", "email", ["wide"], context
        )
        tracker.track_form_submit(
            "signup",
            ["main"],
            [{"name": "email", "value": "a@b.test", "nodeName": "INPUT"}],
        )
        tracker.track_site_search(["mug", "blue"], {"colour": "blue"}, 12, 10)
        tracker.track_ecommerce_transaction(
            "order-1",
            42.5,
            affiliation="web",
            tax_value=4.25,
            shipping=3.0,
            city="London",
            state="LDN",
            country="GB",
            currency="GBP",
            items=[
                {"sku": "sku-1", "price": 19.99, "quantity": 2, "name": "Mug"},
                {"sku": "sku-2", "price": 2.52, "quantity": 1, "category": "misc"},
            ],
            context=context,
        )  # a transaction and one event per item
        tracker.track_screen_view("legacy-screen", "screen-1", context)
        tracker.track_mobile_screen_view("mobile", str(uuid.uuid4()), "feed")
        tracker.track_struct_event("legacy", "click", "label", "prop", 3)
        tracker.track_self_describing_event(
            SelfDescribingJson(
                "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
                {"targetUrl": "https://py.test/legacy-sd"},
            ),
            context,
        )
        tracked += 15  # the transaction is three events
    return tracked


class TestPythonTracker:
    """snowplow-tracker 1.1.0: every event type, POST and GET, base64 or not."""

    @pytest.mark.parametrize(("method", "base64"), MATRIX)
    def test_every_event_good(
        self, micro: MicroCollector, method: str, base64: bool
    ) -> None:
        """Every event the tracker sends is good at our collector."""
        sent: list[int] = []
        failed: list[int] = []
        emitter = Emitter(
            micro.endpoint,
            method=method,  # type: ignore[arg-type]
            batch_size=5,
            on_success=lambda events: sent.append(len(events)),
            on_failure=lambda count, events: failed.append(len(events)),
        )
        subject = (
            Subject()
            .set_platform("srv")
            .set_user_id("python-user")
            .set_screen_resolution(1920, 1080)
            .set_viewport(1280, 720)
            .set_color_depth(24)
            .set_timezone("Europe/London")
            .set_lang("en-GB")
            .set_domain_user_id(str(uuid.uuid4()))
            .set_domain_session_id(str(uuid.uuid4()))
            .set_domain_session_index(3)
            .set_ip_address("203.0.113.7")
            .set_useragent("Mozilla/5.0 (python-client test)")
            .set_network_user_id(str(uuid.uuid4()))
        )
        tracker = Tracker(
            f"py-{method}",
            emitter,
            subject=subject,
            app_id="python-app",
            encode_base64=base64,
        )

        tracked = _python_events(tracker)
        tracker.flush()
        summary = micro.wait_for(tracked, timeout=20)

        assert (sum(sent), sum(failed)) == (tracked, 0)
        assert _reasons(micro.bad()) == Counter()
        assert summary == {"total": tracked, "good": tracked, "bad": 0}
        assert {e.payload["tna"] for e in micro.good()} == {f"py-{method}"}
        encoded = {"cx" in e.payload for e in micro.good() if e.entities}
        assert encoded == {base64}


# --- the Node tracker ------------------------------------------------------------


class TestNodeTracker:
    """@snowplow/node-tracker: every build* event, POST and GET, base64 or not."""

    @pytest.mark.parametrize(("method", "base64"), MATRIX)
    def test_every_event_good(
        self, micro: MicroCollector, method: str, base64: bool
    ) -> None:
        """Every event the Node tracker sends is good at our collector."""
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is not on the PATH: apt-get install -y nodejs npm")
        result = subprocess.run(
            [node, str(NODE_CLIENT), micro.endpoint, method, str(base64).lower()],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NODE_PATH": str(_node_modules())},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        counts = json.loads(result.stdout)
        summary = micro.wait_for(counts["tracked"], timeout=20)

        assert counts["sent"] == counts["tracked"]
        assert counts["failed"] == 0
        assert _reasons(micro.bad()) == Counter()
        assert summary == {
            "total": counts["tracked"],
            "good": counts["tracked"],
            "bad": 0,
        }
        encoded = {"cx" in e.payload for e in micro.good() if e.entities}
        assert encoded == {base64}


# --- the browser tracker ---------------------------------------------------------

_PAGE: Final = """<!doctype html>
<html><head><meta charset="utf-8"><title>Browser tracker test</title>
<script src="/sp.js"></script></head>
<body style="height: 3000px"><h1>A page with the official browser tracker</h1>
<script>
  const sp = window.snowplowBrowserTracking;
  window.sent = {};
  window.failed = {};
  function callbacks(name) {
    window.sent[name] = 0;
    window.failed[name] = 0;
    return {
      onRequestSuccess: (batch) => { window.sent[name] += batch.length; },
      onRequestFailure: (failure) => { window.failed[name] += failure.events.length; },
    };
  }
  // The default configuration: POST, base64, the web_page entity.
  sp.newTracker("default", "COLLECTOR", { appId: "browser-default", ...callbacks("default") });
  // A common one: GET, plain JSON, session and browser entities too.
  sp.newTracker("common", "COLLECTOR", {
    appId: "browser-common", eventMethod: "get", encodeBase64: false,
    contexts: { webPage: true, session: true, browser: true }, ...callbacks("common"),
  });
  sp.enableActivityTracking({ minimumVisitLength: 1, heartbeatDelay: 1 });
  sp.trackPageView();
  sp.trackStructEvent({ category: "ui", action: "load", label: "hero", value: 1 });
</script></body></html>
"""


class _PageServer(ThreadingHTTPServer):
    """Serves the test page and the tracker bundle, on its own origin."""

    daemon_threads = True
    page = b""
    bundle = b""


class _PageHandler(BaseHTTPRequestHandler):
    server: _PageServer

    def do_GET(self) -> None:
        if self.path == "/sp.js":
            body, kind = self.server.bundle, "text/javascript"
        else:
            body, kind = self.server.page, "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


@pytest.fixture(name="page_url")
def _page_url(micro: MicroCollector) -> Iterator[str]:
    server = _PageServer(("127.0.0.1", 0), _PageHandler)
    if not BROWSER_BUNDLE.is_file():
        _node_modules()
        pytest.fail(f"{BROWSER_BUNDLE} is missing: npm ci --prefix .ci")
    server.bundle = BROWSER_BUNDLE.read_bytes()
    server.page = _PAGE.replace("COLLECTOR", micro.endpoint).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # localhost, not 127.0.0.1: the page is another origin than the collector.
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class TestBrowserTracker:
    """@snowplow/browser-tracker in headless chromium, default configuration."""

    def test_every_event_good(self, micro: MicroCollector, page_url: str) -> None:
        """Page view, structured event and activity pings, both trackers: all good."""
        apps = ("browser-default", "browser-common")
        with headless_chromium() as driver:
            driver.get(page_url)

            def pinged(_: object) -> bool:
                # Real mouse input keeps the page active until each tracker pinged.
                ActionChains(driver).move_by_offset(3, 3).move_by_offset(
                    -3, -3
                ).perform()
                kinds: set[tuple[str | None, str | None]] = set()
                kinds |= {(e.app_id, e.event_type) for e in micro.good()}
                kinds |= {(e.app_id, e.event_type) for e in micro.bad()}
                return all((app, "page_ping") in kinds for app in apps)

            wait_until(driver, pinged, timeout=30, message="no page pings arrived")
            driver.execute_script(
                "window.snowplowBrowserTracking.disableActivityTracking()"
            )
            settled = wait_until(
                driver,
                lambda d: _settled(d, micro),
                message="the browser's counts never matched the collector's",
            )
            assert settled is not None
            counts = settled

        good = micro.good()
        kinds = Counter((e.app_id, e.event_type) for e in good)
        entities = {e.app_id: set(e.contexts) for e in good}
        assert _reasons(micro.bad()) == Counter()
        assert counts["failed"] == {"default": 0, "common": 0}
        assert sum(counts["sent"].values()) == len(good)
        for app in apps:
            assert kinds[app, "page_view"] == 1
            assert kinds[app, "struct"] == 1
            assert kinds[app, "page_ping"] >= 1
        assert any("/web_page/" in uri for uri in entities["browser-default"])
        assert {uri.split("/")[1] for uri in entities["browser-common"]} >= {
            "web_page",
            "client_session",
            "browser_context",
        }


def _settled(driver: Any, micro: MicroCollector) -> dict[str, Any] | None:
    """The browser's sent/failed counts once they add up to what the collector has."""
    counts: dict[str, Any] = driver.execute_script(
        "return {sent: window.sent, failed: window.failed}"
    )
    total = sum(counts["sent"].values()) + sum(counts["failed"].values())
    return counts if total == micro.summary()["total"] and total > 0 else None

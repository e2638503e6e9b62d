"""The web UI at /micro/ui in a real headless chromium, fed by our own tracker.

One collector on 127.0.0.1, events sent through the public API (POST and GET
emitters), the page opened in Debian's chromium: the events appear, filters
narrow them, the detail view shows the self-describing event, the entities and
a bad event's reasons, events sent later appear without a reload, and values
holding markup are shown as text and never run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from snowplow_logging import (
    Emitter,
    PageView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Subject,
    Tracker,
)
from snowplow_logging.micro import MicroCollector
from snowplow_logging.micro.ui import ui_asset
from tests.browser import headless_chromium, wait_until

LINK_CLICK = "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"
APPLICATION = "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0"
MISSING = "iglu:com.example/missing/jsonschema/1-0-0"
SCRIPT_LABEL = "<script>window.__xss = 1</script>"
IMG_USER = '<img src="/x" onerror="window.__xss = 2">'
SENT = 5


def _send(endpoint: str) -> None:
    """Five events from our tracker: four good (POST and GET), one bad."""
    shop = Tracker(
        emitters=Emitter(endpoint, flush_interval=0.05),
        app_id="shop",
        subject=Subject(user_id="alice"),
    )
    blog = Tracker(
        emitters=Emitter(endpoint, method="get", flush_interval=0.05), app_id="blog"
    )
    broken = Tracker(emitters=Emitter(endpoint, flush_interval=0.05), app_id="broken")
    shop.track(PageView(page_url="https://shop.test/", page_title="Shop"))
    shop.track(
        StructuredEvent(
            category="basket",
            action="add",
            label=SCRIPT_LABEL,
            event_subject=Subject(user_id=IMG_USER),
        )
    )
    shop.track(StructuredEvent(category="basket", action="remove"))
    blog.track(
        SelfDescribing(
            event_json=SelfDescribingJson(
                schema=LINK_CLICK, data={"targetUrl": "https://blog.test/post"}
            ),
            context=[SelfDescribingJson(schema=APPLICATION, data={"version": "1.2"})],
        )
    )
    broken.track(
        SelfDescribing(event_json=SelfDescribingJson(schema=MISSING, data={"a": 1}))
    )
    for tracker in (shop, blog, broken):
        assert tracker.close(timeout=10)


@pytest.fixture(name="micro", scope="module")
def _micro() -> Iterator[MicroCollector]:
    with MicroCollector() as micro:
        _send(micro.endpoint)
        micro.wait_for(SENT, timeout=10)
        yield micro


@pytest.fixture(name="page", scope="module")
def _page(micro: MicroCollector) -> Iterator[webdriver.Chrome]:
    with headless_chromium() as driver:
        driver.get(f"{micro.endpoint}/micro/ui")
        yield driver


def _rows(driver: webdriver.Chrome) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")


def _cells(row: WebElement) -> list[str]:
    return [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]


def _table(driver: webdriver.Chrome, count: int) -> list[list[str]]:
    """The cells of each row, once the table shows exactly ``count`` rows.

    Read in one go inside the wait: a re-render mid-read is retried.
    """

    def read(d: webdriver.Chrome) -> list[list[str]] | None:
        rows = _rows(d)
        return [_cells(row) for row in rows] if len(rows) == count else None

    table = wait_until(driver, read, message=f"the table never showed {count} rows")
    assert table is not None
    return table


def _filter(driver: webdriver.Chrome, **chosen: str) -> None:
    """Set every filter: the named ones to their value, the others to 'any'."""
    for name in ("status", "type", "schema", "app"):
        Select(driver.find_element(By.ID, f"filter-{name}")).select_by_value(
            chosen.get(name, "")
        )


def _open(
    driver: webdriver.Chrome, pick: Callable[[list[str]], bool] = lambda _: True
) -> None:
    """Click the first row whose cells ``pick`` accepts; wait for its detail."""

    def click(d: webdriver.Chrome) -> bool:
        for row in _rows(d):
            if pick(_cells(row)):
                row.click()
                return "selected" in (row.get_attribute("class") or "")
        return False

    wait_until(driver, click, message="no row to open")
    wait_until(
        driver,
        lambda d: d.find_element(By.ID, "detail").is_displayed(),
        message="the detail view never showed",
    )


def _texts(driver: webdriver.Chrome, selector: str) -> list[str]:
    """The text of every element matching ``selector``, read in one go."""
    return wait_until(
        driver,
        lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, selector)] or [""],
    )


def _text(driver: webdriver.Chrome, selector: str) -> str:
    """The text of the element matching ``selector``."""
    return _texts(driver, selector)[0]


class TestEventTable:
    """The live table: every event, its columns, filters, new events without reload."""

    def test_events_sent_appear(
        self, micro: MicroCollector, page: webdriver.Chrome
    ) -> None:
        """The five events show, with status, type, schema, app and user columns."""
        table = sorted(tuple(cells[1:]) for cells in _table(page, SENT))

        assert micro.summary() == {"total": 5, "good": 4, "bad": 1}
        assert table == sorted(
            [
                (
                    "good",
                    "page_view",
                    "iglu:com.snowplowanalytics.snowplow/page_view/jsonschema/1-0-0",
                    "shop",
                    "alice",
                ),
                ("good", "struct", _struct_schema(micro), "shop", IMG_USER),
                ("good", "struct", _struct_schema(micro), "shop", "alice"),
                ("good", "unstruct", LINK_CLICK, "blog", "-"),
                ("bad", "unstruct", MISSING, "broken", "-"),
            ]
        )
        assert _text(page, "#counts") == "5 events: 4 good, 1 bad"

    def test_filters_narrow(self, page: webdriver.Chrome) -> None:
        """Each filter keeps only the matching events; clearing them shows all."""
        _table(page, SENT)
        counts = {}
        for name, chosen in {
            "app blog": {"app": "blog"},
            "type struct": {"type": "struct"},
            "status bad": {"status": "bad"},
            "status good": {"status": "good"},
            "schema link_click": {"schema": LINK_CLICK},
            "app shop, type struct": {"app": "shop", "type": "struct"},
            "app blog, status bad": {"app": "blog", "status": "bad"},
        }.items():
            _filter(page, **chosen)
            counts[name] = len(_rows(page))
        _filter(page, app="blog")
        schema_cell = _table(page, 1)[0][3]
        _filter(page)

        assert counts == {
            "app blog": 1,
            "type struct": 2,
            "status bad": 1,
            "status good": 4,
            "schema link_click": 1,
            "app shop, type struct": 2,
            "app blog, status bad": 0,
        }
        assert schema_cell == LINK_CLICK
        assert len(_table(page, SENT)) == SENT
        assert _text(page, "#shown") == "showing 5 of 5"

    def test_new_events_appear_live(
        self, micro: MicroCollector, page: webdriver.Chrome
    ) -> None:
        """An event sent while the page is open shows without a reload."""
        _filter(page)
        _table(page, SENT)
        late = Tracker(emitters=Emitter(micro.endpoint), app_id="late")
        late.track(PageView(page_url="https://late.test/"))
        assert late.close(timeout=10)

        rows = _table(page, SENT + 1)
        _filter(page, app="late")
        late_rows = _table(page, 1)

        assert len(rows) == SENT + 1
        assert late_rows[0][1:3] == ["good", "page_view"]
        assert "late" in [
            option.text
            for option in Select(page.find_element(By.ID, "filter-app")).options
        ]
        _filter(page)
        micro.reset()
        _send(micro.endpoint)  # back to the five events for the other tests
        micro.wait_for(SENT, timeout=10)
        _table(page, SENT)


class TestDetail:
    """Clicking a row shows the event decoded: its reasons, data and entities."""

    def test_bad_event_shows_its_reason(self, page: webdriver.Chrome) -> None:
        """The bad event's detail lists why it is bad, naming the missing schema."""
        _filter(page, status="bad")
        _table(page, 1)
        _open(page)
        reasons = _texts(page, "#reasons li")
        title = _text(page, "#detail-title")
        event = _text(page, "#self-describing")
        _filter(page)

        assert any("com.example/missing" in reason for reason in reasons)
        assert title == "bad unstruct"
        assert '"a": 1' in event

    def test_self_describing_event_and_entities(self, page: webdriver.Chrome) -> None:
        """A good event's detail: the decoded event's schema and data, each entity."""
        _filter(page, schema=LINK_CLICK)
        _table(page, 1)
        _open(page)
        event = _text(page, "#self-describing")
        entities = _text(page, "#entities")
        reasons = page.find_elements(By.CSS_SELECTOR, "#reasons")
        _filter(page)

        assert LINK_CLICK in event
        assert '"targetUrl": "https://blog.test/post"' in event
        assert APPLICATION in entities
        assert '"version": "1.2"' in entities
        assert reasons == []


class TestEscaping:
    """Markup in event fields is shown as text and never runs."""

    def test_markup_renders_as_text(self, page: webdriver.Chrome) -> None:
        """A <script> label and an <img onerror> user id: shown verbatim, never run."""
        _filter(page, type="struct")
        users = [cells[5] for cells in _table(page, 2)]
        _open(page, lambda cells: cells[5] == IMG_USER)  # the markup, as characters
        raw = _text(page, "#raw")
        user = _text(page, "#detail dl")
        injected = page.execute_script(
            "return {xss: window.__xss === undefined ? null : window.__xss,"
            " scripts: document.scripts.length,"
            " images: document.images.length}"
        )
        _filter(page)

        assert IMG_USER in users
        assert SCRIPT_LABEL in raw
        assert IMG_USER in user
        assert injected == {"xss": None, "scripts": 1, "images": 0}

    def test_nothing_loaded_from_elsewhere(
        self, micro: MicroCollector, page: webdriver.Chrome
    ) -> None:
        """The page loads its script and style from the collector only (no CDN)."""
        resources = page.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )

        assert {"/micro/ui/app.js", "/micro/ui/style.css"} <= {
            name.removeprefix(micro.endpoint) for name in resources
        }
        assert all(name.startswith(micro.endpoint + "/") for name in resources)


def _struct_schema(micro: MicroCollector) -> str:
    """The schema the collector gives structured events (Micro's, once reshaped)."""
    return micro.good(event_type="struct")[0].schema


class TestAssets:
    """ui_asset serves the three files and nothing else."""

    @pytest.mark.parametrize(
        ("name", "kind"),
        [
            ("ui", "text/html; charset=utf-8"),
            ("ui/", "text/html; charset=utf-8"),
            ("ui/index.html", "text/html; charset=utf-8"),
            ("ui/app.js", "text/javascript; charset=utf-8"),
            ("ui/style.css", "text/css; charset=utf-8"),
        ],
    )
    def test_served(self, name: str, kind: str) -> None:
        """The page and its assets, with their content types."""
        asset = ui_asset(name)

        assert asset is not None
        assert asset[1] == kind
        assert asset[0]

    @pytest.mark.parametrize(
        "name", ["uix", "ui/x.js", "ui/../all", "ui/ui.py", "good", "ui//app.js", ""]
    )
    def test_not_served(self, name: str) -> None:
        """Any other name is not the UI's (the REST API answers 404)."""
        assert ui_asset(name) is None

    def test_no_markup_from_data_and_nothing_remote(self) -> None:
        """The script never writes markup, and no file names another host."""
        files = {
            name: ui_asset(f"ui/{name}")
            for name in ("index.html", "app.js", "style.css")
        }
        script = files["app.js"]
        assert script is not None
        code = script[0].decode()

        for sink in (
            "innerHTML =",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ):
            assert sink not in code
        for asset in files.values():
            assert asset is not None
            assert b"http://" not in asset[0]
            assert b"https://" not in asset[0]

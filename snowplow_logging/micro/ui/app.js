// The web UI of `snowplow-logging micro` (/micro/ui): it reads the collector's
// REST API (/micro/all, /micro/good, /micro/bad) about once a second and shows
// the events in a table, with filters and a detail view.
//
// Every value shown comes from outside (trackers, pages, anyone who can reach
// the collector), so it is only ever written with textContent, attributes set
// through the DOM and new Option(): never innerHTML, never as markup.
"use strict";

(function () {
  const LIMIT = 1000; // events of each kind asked for, the most recent
  const POLL_MS = 1000;
  const EVENT_NAMES = {
    pv: "page_view", pp: "page_ping", se: "struct", ue: "unstruct",
    tr: "transaction", ti: "transaction_item",
  };
  const FILTERS = ["status", "type", "schema", "app"];

  let events = []; // normalised, newest first
  let selected = null; // the key of the event shown in the detail view
  let lastSummary = null;
  let lastData = null;
  let ticks = 0;

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function pretty(value) {
    try {
      return JSON.stringify(value, null, 2);
    } catch (error) {
      return String(value);
    }
  }

  function parseJson(text) {
    if (typeof text !== "string") return undefined;
    try {
      return JSON.parse(text);
    } catch (error) {
      return undefined;
    }
  }

  function base64Json(text) {
    // Tracker base64 is URL-safe and often unpadded.
    if (typeof text !== "string") return undefined;
    try {
      let b64 = text.replace(/-/g, "+").replace(/_/g, "/");
      while (b64.length % 4) b64 += "=";
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      return parseJson(new TextDecoder("utf-8").decode(bytes));
    } catch (error) {
      return undefined;
    }
  }

  function selfDescribing(value) {
    return value !== null && typeof value === "object" && typeof value.schema === "string";
  }

  // Name-value pairs as an object: [{name, value}] or ["name=value"].
  function pairs(list) {
    const params = {};
    for (const item of list) {
      if (item && typeof item === "object" && typeof item.name === "string") {
        params[item.name] = item.value;
      } else if (typeof item === "string") {
        const at = item.indexOf("=");
        if (at > 0) params[item.slice(0, at)] = item.slice(at + 1);
      }
    }
    return params;
  }

  // The parameters of a bad event: its rawEvent's, else the collector payload's
  // query string, in any of the shapes Micro has used.
  function badParameters(record) {
    const raw = record.rawEvent && record.rawEvent.parameters;
    if (Array.isArray(raw)) return pairs(raw);
    if (raw && typeof raw === "object") return raw;
    const query = record.collectorPayload && record.collectorPayload.querystring;
    return Array.isArray(query) ? pairs(query) : {};
  }

  function text(value) {
    return typeof value === "string" ? value : null;
  }

  // One message of a bad row, readable: a validation report, a schema not
  // found, a tracker protocol violation; anything else as JSON.
  function describe(message) {
    if (!message || typeof message !== "object") return [String(message)];
    const key = typeof message.schemaKey === "string" ? `${message.schemaKey}: ` : "";
    const error = message.error && typeof message.error === "object" ? message.error : {};
    if (Array.isArray(error.dataReports) && error.dataReports.length) {
      return error.dataReports.map((report) => {
        const where = report && report.path ? ` (at ${report.path})` : "";
        return `${key}${report && report.message}${where}`;
      });
    }
    if (error.error === "ResolutionError") return [`${key}schema not found`];
    if (typeof message.field === "string") {
      const got = message.value === null || message.value === undefined ? "" : ` (got ${message.value})`;
      return [`${message.field}: ${message.expectation}${got}`];
    }
    if (typeof message.message === "string") return [key + message.message];
    return [pretty(message)];
  }

  // Every reason of a bad event: each string of `errors`, a bad row given as
  // JSON (Micro's second item) replaced by its messages.
  function reasons(record) {
    const list = [];
    for (const error of Array.isArray(record.errors) ? record.errors : []) {
      const row = typeof error === "string" ? parseJson(error) : error;
      const failure = row && row.data && row.data.failure;
      if (failure && Array.isArray(failure.messages)) {
        for (const message of failure.messages) list.push(...describe(message));
      } else {
        list.push(typeof error === "string" ? error : pretty(error));
      }
    }
    return list;
  }

  function fromGood(record, index) {
    const event = record.event || {};
    const unstruct = event.unstruct_event;
    let inner = null;
    if (unstruct && selfDescribing(unstruct.data)) inner = unstruct.data;
    else if (selfDescribing(unstruct)) inner = unstruct;
    const entities = [];
    for (const column of ["contexts", "derived_contexts"]) {
      const value = event[column];
      if (value && Array.isArray(value.data)) entities.push(...value.data);
    }
    let schema = text(record.schema);
    if (!schema && event.event_vendor) {
      schema = `iglu:${event.event_vendor}/${event.event_name}/${event.event_format}/${event.event_version}`;
    }
    return {
      status: "good",
      time: text(event.collector_tstamp),
      type: text(record.eventType) || text(event.event),
      schema,
      app: text(event.app_id),
      user: text(event.user_id),
      eventId: text(event.event_id),
      inner,
      entities,
      reasons: [],
      record,
      index,
    };
  }

  function fromBad(record, index) {
    const params = badParameters(record);
    const code = text(params.e);
    const unstruct = parseJson(params.ue_pr) || base64Json(params.ue_px);
    const inner = unstruct && selfDescribing(unstruct.data) ? unstruct.data : null;
    const contexts = parseJson(params.co) || base64Json(params.cx);
    const context =
      (record.collectorPayload && record.collectorPayload.context) ||
      (record.rawEvent && record.rawEvent.context) || {};
    return {
      status: "bad",
      time: text(context.timestamp),
      type: code === null ? null : EVENT_NAMES[code] || code,
      schema: inner ? text(inner.schema) : null,
      app: text(params.aid),
      user: text(params.uid),
      eventId: text(params.eid),
      inner,
      entities: contexts && Array.isArray(contexts.data) ? contexts.data : [],
      reasons: reasons(record),
      record,
      index,
    };
  }

  function key(item) {
    return item.key;
  }

  // Keys that survive a refresh: the same event keeps its key when newer ones
  // arrive (counted from the oldest, for events sharing an id and a time).
  function assignKeys(items) {
    const seen = new Map();
    for (let i = items.length - 1; i >= 0; i -= 1) {
      const item = items[i];
      const base = `${item.status}:${item.eventId || ""}:${item.time || ""}`;
      const count = seen.get(base) || 0;
      seen.set(base, count + 1);
      item.key = `${base}:${count}`;
    }
  }

  function clock(iso) {
    const moment = iso ? new Date(iso) : null;
    if (!moment || Number.isNaN(moment.getTime())) return iso || "-";
    const pad = (n, width) => String(n).padStart(width, "0");
    return `${pad(moment.getHours(), 2)}:${pad(moment.getMinutes(), 2)}:` +
      `${pad(moment.getSeconds(), 2)}.${pad(moment.getMilliseconds(), 3)}`;
  }

  function chosen() {
    const values = {};
    for (const name of FILTERS) values[name] = document.getElementById(`filter-${name}`).value;
    return values;
  }

  function keeps(item, where) {
    return (!where.status || item.status === where.status) &&
      (!where.type || item.type === where.type) &&
      (!where.schema || item.schema === where.schema) &&
      (!where.app || item.app === where.app);
  }

  function fillSelect(name, values) {
    const select = document.getElementById(`filter-${name}`);
    const current = select.value;
    const wanted = [...new Set(values.filter((v) => v !== null))].sort();
    if (current && !wanted.includes(current)) wanted.push(current);
    const have = [...select.options].slice(1).map((o) => o.value);
    if (have.length === wanted.length && have.every((v, i) => v === wanted[i])) return;
    while (select.options.length > 1) select.remove(1);
    for (const value of wanted) select.add(new Option(value, value));
    select.value = current;
  }

  function renderTable() {
    const where = chosen();
    const body = document.querySelector("#events tbody");
    const rows = [];
    for (const item of events) {
      if (!keeps(item, where)) continue;
      const row = document.createElement("tr");
      row.tabIndex = 0;
      row.dataset.key = key(item);
      row.dataset.status = item.status;
      if (row.dataset.key === selected) row.classList.add("selected");
      row.append(
        element("td", clock(item.time)),
        element("td", item.status, item.status),
        element("td", item.type || "-"),
        element("td", item.schema || "-"),
        element("td", item.app || "-"),
        element("td", item.user || "-"),
      );
      row.cells[0].title = item.time || "";
      row.cells[3].title = item.schema || "";
      rows.push(row);
    }
    body.replaceChildren(...rows);
    document.getElementById("empty").hidden = events.length > 0;
    document.getElementById("shown").textContent =
      `showing ${rows.length} of ${events.length}`;
  }

  function section(parent, title, content) {
    parent.append(element("h2", title));
    parent.append(content);
  }

  function renderDetail() {
    const panel = document.getElementById("detail");
    const item = events.find((candidate) => key(candidate) === selected);
    if (!item) {
      panel.hidden = true;
      panel.replaceChildren();
      return;
    }
    panel.hidden = false;
    const parts = [];
    const heading = element("h2", `${item.status} ${item.type || "event"}`, item.status);
    heading.id = "detail-title";
    parts.push(heading);
    const facts = document.createElement("dl");
    for (const [name, value] of [
      ["time", item.time], ["event id", item.eventId], ["schema", item.schema],
      ["app id", item.app], ["user id", item.user],
    ]) {
      facts.append(element("dt", name), element("dd", value || "-"));
    }
    parts.push(facts);
    const holder = document.createElement("div");
    if (item.status === "bad") {
      const list = element("ul", null, "reasons");
      list.id = "reasons";
      for (const reason of item.reasons) list.append(element("li", reason));
      section(holder, `Why it is bad (${item.reasons.length})`, list);
    }
    if (item.inner) {
      const block = document.createElement("div");
      block.id = "self-describing";
      block.append(element("h3", item.inner.schema), element("pre", pretty(item.inner.data)));
      section(holder, "Self-describing event", block);
    }
    const entities = document.createElement("div");
    entities.id = "entities";
    for (const entity of item.entities) {
      const schema = entity && typeof entity === "object" ? entity.schema : null;
      entities.append(element("h3", typeof schema === "string" ? schema : "(no schema)"));
      entities.append(element("pre", pretty(entity && entity.data !== undefined ? entity.data : entity)));
    }
    if (!item.entities.length) entities.append(element("p", "none"));
    section(holder, `Entities (${item.entities.length})`, entities);
    const raw = element("pre", pretty(item.record));
    raw.id = "raw";
    section(holder, item.status === "good" ? "As /micro/good serves it" : "As /micro/bad serves it", raw);
    parts.push(...holder.childNodes);
    panel.replaceChildren(...parts);
  }

  function render() {
    fillSelect("type", events.map((item) => item.type));
    fillSelect("schema", events.map((item) => item.schema));
    fillSelect("app", events.map((item) => item.app));
    renderTable();
    renderDetail();
  }

  function setStatus(message, isError) {
    const node = document.getElementById("status");
    node.textContent = message;
    node.classList.toggle("error", Boolean(isError));
  }

  async function ask(path, filters) {
    const options = filters === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(filters),
    };
    const response = await fetch(path, { cache: "no-store", ...options });
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return response.json();
  }

  async function refresh() {
    const summary = await ask("/micro/all");
    const seen = JSON.stringify(summary);
    ticks += 1;
    if (seen === lastSummary && ticks % 10 !== 0) return;
    const [good, bad] = await Promise.all([
      ask("/micro/good", { limit: LIMIT }),
      ask("/micro/bad", { limit: LIMIT }),
    ]);
    lastSummary = seen;
    document.getElementById("counts").textContent =
      `${summary.total} events: ${summary.good} good, ${summary.bad} bad`;
    const data = JSON.stringify([good, bad]);
    if (data === lastData) return; // nothing new: leave the page as the user has it
    lastData = data;
    const items = [
      ...(Array.isArray(good) ? good : []).map(fromGood),
      ...(Array.isArray(bad) ? bad : []).map(fromBad),
    ];
    // Newest first, whatever order the lists come in.
    items.sort((a, b) => (b.time || "").localeCompare(a.time || "") || b.index - a.index);
    assignKeys(items);
    events = items;
    render();
  }

  async function loop() {
    try {
      await refresh();
      setStatus("live", false);
    } catch (error) {
      setStatus(`cannot read the collector: ${error.message}`, true);
    }
    window.setTimeout(loop, POLL_MS);
  }

  function pick(row) {
    if (!row || !row.dataset.key) return;
    selected = row.dataset.key;
    for (const other of document.querySelectorAll("#events tbody tr.selected")) {
      other.classList.remove("selected");
    }
    row.classList.add("selected");
    renderDetail();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const body = document.querySelector("#events tbody");
    body.addEventListener("click", (event) => pick(event.target.closest("tr")));
    body.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        pick(event.target.closest("tr"));
      }
    });
    document.getElementById("filters").addEventListener("change", renderTable);
    document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
    loop();
  });
})();

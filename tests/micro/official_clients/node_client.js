// Every event type of the official Snowplow Node tracker (npm @snowplow/node-tracker),
// sent to a collector: node node_client.js <endpoint> <post|get> <base64: true|false>.
// Prints one JSON line: {"tracked": n, "sent": n, "failed": n}. Run by
// tests/micro/test_official_clients.py with NODE_PATH at .ci/node_modules.
"use strict";

const sp = require("@snowplow/node-tracker");

const [endpoint, method, base64] = process.argv.slice(2);
const url = new URL(endpoint);
let sent = 0;
let failed = 0;

const tracker = sp.newTracker(
  { namespace: `node-${method}-${base64}`, appId: "node-app", encodeBase64: base64 === "true" },
  {
    endpoint: url.hostname,
    protocol: url.protocol.replace(":", ""),
    port: Number(url.port),
    eventMethod: method,
    bufferSize: method === "post" ? 5 : 1,
    retryFailedRequests: false,
    onRequestSuccess: (batch) => { sent += batch.length; },
    onRequestFailure: (failure) => { failed += failure.events.length; },
  },
);

// The subject: every field the tracker can set.
tracker.setPlatform("srv");
tracker.setUserId("node-user-1");
tracker.setScreenResolution("1920", "1080");
tracker.setViewport("1280", "720");
tracker.setColorDepth("24");
tracker.setTimezone("Europe/London");
tracker.setLang("en-GB");
tracker.setIpAddress("203.0.113.7");
tracker.setUseragent("Mozilla/5.0 (node-client test)");
tracker.setDomainUserId("2a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a");
tracker.setNetworkUserId("3b1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a");
tracker.setSessionId("4c1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a");
tracker.setSessionIndex(3);

const entities = [
  {
    schema: "iglu:com.snowplowanalytics.snowplow/application/jsonschema/1-0-0",
    data: { version: "4.2.0" },
  },
  {
    schema: "iglu:com.snowplowanalytics.mobile/application/jsonschema/1-0-0",
    data: { version: "4.2.0", build: "node-42" },
  },
  {
    schema: "iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-1",
    data: {
      userId: "2a1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a",
      sessionId: "4c1e2f6c-0c5f-4b8e-9d5a-3c1f1e2d3b4a",
      sessionIndex: 3,
      previousSessionId: null,
      storageMechanism: "SQLITE",
    },
  },
];
let tracked = 0;

function track(builder, context) {
  tracker.track(builder, context === undefined ? entities : context);
  tracked += 1;
}

track(sp.buildPageView({ pageUrl: "https://node.test/page?q=1#top", pageTitle: "Node ünïcødé", referrer: "https://ref.test/" }));
track(sp.buildPageView({ pageUrl: "https://node.test/bare" }), []);
track(sp.buildPagePing({ pageUrl: "https://node.test/page", pageTitle: "Node", minXOffset: 0, maxXOffset: 100, minYOffset: 10, maxYOffset: 900 }));
track(sp.buildStructEvent({ category: "shop", action: "add", label: "sku-1", property: "basket", value: 19.99 }));
track(sp.buildStructEvent({ category: "shop", action: "view" }), []);
track(sp.buildEcommerceTransaction({ orderId: "order-1", total: 42.5, affiliation: "web", tax: 4.25, shipping: 3, city: "London", state: "LDN", country: "GB", currency: "GBP" }));
track(sp.buildEcommerceTransactionItem({ orderId: "order-1", sku: "sku-1", price: 19.99, name: "Mug", category: "kitchen", quantity: 2, currency: "GBP" }));
track(sp.buildEcommerceTransactionItem({ orderId: "order-1", sku: "sku-2", price: 2.52 }), []);
track(sp.buildScreenView({ name: "checkout", id: "screen-1" }));
track(sp.buildLinkClick({ targetUrl: "https://node.test/help", elementId: "help", elementClasses: ["nav", "small"], elementTarget: "_blank", elementContent: "Help" }));
track(sp.buildAdImpression({ impressionId: "imp-1", costModel: "cpm", cost: 0.5, targetUrl: "https://ads.test/", bannerId: "b-1", zoneId: "z-1", advertiserId: "a-1", campaignId: "c-1" }));
track(sp.buildAdClick({ targetUrl: "https://ads.test/click", clickId: "click-1", costModel: "cpc", cost: 0.25, bannerId: "b-1", zoneId: "z-1", impressionId: "imp-1", advertiserId: "a-1", campaignId: "c-1" }));
track(sp.buildAdConversion({ conversionId: "conv-1", costModel: "cpa", cost: 10, category: "signup", action: "complete", property: "plan", initialValue: 99, advertiserId: "a-1", campaignId: "c-1" }));
track(sp.buildSocialInteraction({ action: "like", network: "mastodon", target: "post-9" }));
track(sp.buildAddToCart({ sku: "sku-1", quantity: 2, name: "Mug", category: "kitchen", unitPrice: 19.99, currency: "GBP" }));
track(sp.buildRemoveFromCart({ sku: "sku-1", quantity: 1, name: "Mug", category: "kitchen", unitPrice: 19.99, currency: "GBP" }));
track(sp.buildFormFocusOrChange({ schema: "change_form", formId: "signup", elementId: "email", nodeName: "INPUT", value: "a@b.test", type: "email", elementClasses: ["wide"] }));
track(sp.buildFormFocusOrChange({ schema: "focus_form", formId: "signup", elementId: "bio", nodeName: "TEXTAREA", value: null }));
track(sp.buildFormSubmission({ formId: "signup", formClasses: ["main"], elements: [{ name: "email", value: "a@b.test", nodeName: "INPUT", type: "email" }, { name: "bio", value: null, nodeName: "TEXTAREA" }] }));
track(sp.buildSiteSearch({ terms: ["mug", "blue"], filters: { colour: "blue", inStock: true }, totalResults: 12, pageResults: 10 }));
track(sp.buildSelfDescribingEvent({ event: { schema: "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1", data: { targetUrl: "https://node.test/sd" } } }));
const granted = sp.buildConsentGranted({ id: "consent-1", version: "1.0", name: "Cookies", description: "All of them", expiry: "2030-01-01T00:00:00Z" });
track(granted.event, [...granted.context, ...entities]);
const withdrawn = sp.buildConsentWithdrawn({ all: true, id: "consent-1", version: "1.0", name: "Cookies", description: "All of them" });
track(withdrawn.event, withdrawn.context);

// flush() resolves once the requests are made; their callbacks may come later.
const deadline = Date.now() + 20000;
function report() {
  if (sent + failed < tracked && Date.now() < deadline) {
    setTimeout(report, 10);
    return;
  }
  process.stdout.write(JSON.stringify({ tracked, sent, failed }) + "\n");
}
tracker.flush().then(report);

/**
 * The MCP 2026-07-28 session in single-server mode, on the fake runtime: the era from the client's
 * first message, probes passed through, processes opened in the client's era, listens kept across
 * restarts with their ids substituted in `_meta`.
 */
import assert from "node:assert/strict";
import type { ServerOptions } from "../src/config.ts";
import { basicServer, type FakeChild, fakeServer, type Msg, startRouter } from "./_fake_runtime.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import { PARKED_TIMEOUT_MS } from "../src/mrtr.ts";

const MODERN = "2026-07-28";
const SUB = "io.modelcontextprotocol/subscriptionId";
const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": MODERN,
  "io.modelcontextprotocol/clientCapabilities": { elicitation: { form: {} } },
  "io.modelcontextprotocol/clientInfo": { name: "spec-client", version: "2.0.0" },
};

/**
 * A dual-era server as the v2 SDK serves one: `server/discover`, enveloped requests, listens
 * acknowledged by a notification tagged with the listen's id; `initialize` too.
 */
function modernServer(
  tools: string[] = ["a"],
  extra?: (child: FakeChild, msg: Msg) => boolean,
): (child: FakeChild, msg: Msg) => void {
  const legacy = basicServer(tools);
  return (child, msg) => {
    if (extra?.(child, msg)) return;
    if (msg.method === "initialize") return legacy(child, msg);
    if (msg.id === undefined || msg.method === undefined) return;
    const enveloped = msg.params?._meta?.["io.modelcontextprotocol/protocolVersion"] === MODERN;
    if (!enveloped && child.received.every((m) => m.method !== "initialize")) {
      return child.send({
        jsonrpc: "2.0",
        id: msg.id,
        error: { code: -32602, message: "Request is missing the required _meta envelope" },
      });
    }
    switch (msg.method) {
      case "server/discover":
        return child.reply(msg, {
          resultType: "complete",
          supportedVersions: [MODERN],
          capabilities: { tools: {}, resources: {} },
          _meta: { "io.modelcontextprotocol/serverInfo": { name: "fake", version: "2" } },
        });
      case "subscriptions/listen":
        return child.send({
          jsonrpc: "2.0",
          method: "notifications/subscriptions/acknowledged",
          params: { notifications: msg.params.notifications, _meta: { [SUB]: msg.id } },
        });
      case "tools/call":
        return child.reply(msg, {
          resultType: "complete",
          content: [{ type: "text", text: `${msg.params.name}@${child.pid}` }],
        });
      case "tools/list":
        return child.reply(msg, {
          resultType: "complete",
          tools: tools.map((name) => ({ name, inputSchema: { type: "object" } })),
          ttlMs: 0,
          cacheScope: "private",
        });
      default:
        return legacy(child, msg);
    }
  };
}

function start(
  handles: ((c: FakeChild, m: Msg) => void)[],
  overrides: Partial<ServerOptions> = {},
) {
  return startRouter(handles, [fakeServer("fake", overrides)]);
}

const request = (id: unknown, method: string, params: Msg = {}) => ({
  jsonrpc: "2.0",
  id,
  method,
  params: { ...params, _meta: { ...ENVELOPE, ...params._meta } },
});
const byId = (id: unknown) => (m: Msg) => m.id === id && ("result" in m || "error" in m);
const tagged = (method: string, id: unknown) => (m: Msg) =>
  m.method === method && m.params?._meta?.[SUB] === id;

Deno.test("a probe before the era goes to the server as it is; the client's initialize then opens a legacy session on the same process", async () => {
  const s = start([modernServer()]);
  s.h.clientSend(request("probe", "server/discover"));
  const discovered = await s.h.clientWaitFor(byId("probe"));
  assert.deepEqual(discovered.result.supportedVersions, [MODERN]);
  assert.equal(discovered.result.capabilities.tools.listChanged, true, "list changes advertised");
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "init",
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c" } },
  });
  const init = await s.h.clientWaitFor(byId("init"));
  assert.equal(init.result.protocolVersion, "2025-11-25");
  assert.equal(s.h.children.length, 1, "the same process");
  assert.deepEqual(s.h.children[0].received.slice(0, 2).map((m) => m.method), [
    "server/discover",
    "initialize",
  ]);
  await s.close();
});

Deno.test("the first enveloped request opens the process with server/discover carrying the client's envelope, never initialize; mcpmon's own requests carry it too", async () => {
  const s = start([modernServer()]);
  s.h.clientSend(request(1, "tools/list"));
  const listed = await s.h.clientWaitFor(byId(1));
  assert.deepEqual(listed.result.tools.map((t: Msg) => t.name), ["a", "restart_server"]);
  assert.equal(listed.result.resultType, "complete");
  const child = s.h.children[0];
  assert.equal(child.received[0].method, "server/discover");
  assert.deepEqual(child.received[0].params._meta, ENVELOPE);
  assert.ok(!child.received.some((m) => m.method === "initialize"));
  for (const m of child.received.filter((m) => m.id !== undefined)) {
    assert.deepEqual(m.params?._meta, ENVELOPE, `${m.method} carries the envelope`);
  }
  await s.close();
});

Deno.test("a listen's acknowledgment and notifications reach the client tagged with its own id, string or number; the server sees mcpmon's ids", async () => {
  const s = start([modernServer()]);
  s.h.clientSend(request("listen:0", "subscriptions/listen", {
    notifications: { toolsListChanged: true },
  }));
  s.h.clientSend(request(7, "subscriptions/listen", {
    notifications: { resourcesListChanged: true },
  }));
  await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", "listen:0"));
  await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", 7));
  const child = s.h.children[0];
  const listens = child.received.filter((m) => m.method === "subscriptions/listen");
  assert.ok(listens.every((m) => typeof m.id === "number"), "mcpmon's own ids on the server");
  child.send({
    jsonrpc: "2.0",
    method: "notifications/tools/list_changed",
    params: { _meta: { [SUB]: listens[0].id } },
  });
  await s.h.clientWaitFor(tagged("notifications/tools/list_changed", "listen:0"));
  resourceUpdated(child, "x://1", listens[1].id);
  const updated = await s.h.clientWaitFor(tagged("notifications/resources/updated", 7));
  assert.equal(updated.params.uri, "x://1");
  await s.close();
});

Deno.test("on a restart each open listen is re-opened before any queued request, its acknowledgment swallowed, then list_changed goes to the listens that asked for it, tagged", async () => {
  const s = start([modernServer(["a"]), modernServer(["b"])], { restartTool: false });
  s.h.clientSend(
    request("L", "subscriptions/listen", { notifications: { toolsListChanged: true } }),
  );
  s.h.clientSend(request("R", "subscriptions/listen", {
    notifications: { resourcesListChanged: true },
  }));
  await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", "R"));
  const restarted = s.router.restart("spec");
  s.h.clientSend(request(5, "tools/list"));
  assert.equal((await restarted).ok, true);
  const listed = await s.h.clientWaitFor(byId(5));
  assert.deepEqual(listed.result.tools.map((t: Msg) => t.name), ["b"]);
  await s.h.clientWaitFor(tagged("notifications/tools/list_changed", "L"));
  await s.h.clientWaitFor(tagged("notifications/resources/list_changed", "R"));
  const second = s.h.children[1];
  assert.deepEqual(second.received.map((m) => m.method).slice(0, 4), [
    "server/discover",
    "subscriptions/listen",
    "subscriptions/listen",
    "tools/list",
  ]);
  assert.deepEqual(second.received[1].params.notifications, { toolsListChanged: true });
  const acks = s.h.clientReceived.filter((m) =>
    m.method === "notifications/subscriptions/acknowledged"
  );
  assert.equal(acks.length, 2, "only the first process's acknowledgments reach the client");
  assert.ok(
    !s.h.clientReceived.some((m) => m.method?.endsWith("list_changed") && !m.params?._meta?.[SUB]),
    "never untagged",
  );
  assert.ok(
    !s.h.clientReceived.some(tagged("notifications/tools/list_changed", "R")),
    "a listen hears only what it asked for",
  );
  // The re-opened listen is mapped: the new process's notifications reach the client's listen.
  second.send({
    jsonrpc: "2.0",
    method: "notifications/tools/list_changed",
    params: { _meta: { [SUB]: second.received[1].id } },
  });
  await s.h.clientWaitFor((m) =>
    tagged("notifications/tools/list_changed", "L")(m) &&
    s.h.clientReceived.filter(tagged("notifications/tools/list_changed", "L")).length === 2
  );
  await s.close();
});

Deno.test("an open listen never holds up a drain, and a restart never answers it", async () => {
  const s = start([modernServer(), modernServer()], { graceMs: 5_000, restartTool: false });
  s.h.clientSend(
    request("L", "subscriptions/listen", { notifications: { toolsListChanged: true } }),
  );
  await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", "L"));
  const outcome = await s.router.restart("spec");
  assert.equal(outcome.ok, true);
  assert.ok(outcome.timings.drainMs < 1_000, `drained in ${outcome.timings.drainMs} ms`);
  assert.equal(s.router.pendingClientRequests, 0);
  assert.ok(!s.h.clientReceived.some(byId("L")), "the listen is still open");
  await s.close();
});

Deno.test("at mcpmon's shutdown each open listen gets the graceful completion result with the client's id", async () => {
  const s = start([modernServer()]);
  s.h.clientSend(request("listen:0", "subscriptions/listen", {
    notifications: { toolsListChanged: true },
  }));
  await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", "listen:0"));
  await s.close();
  const closed = s.h.clientReceived.find(byId("listen:0"))!;
  assert.deepEqual(closed.result, { resultType: "complete", _meta: { [SUB]: "listen:0" } });
});

Deno.test("the client's cancel of a listen reaches the server with mcpmon's id and ends it: a restart does not re-open it", async () => {
  const s = start([modernServer(), modernServer()], { restartTool: false });
  s.h.clientSend(
    request("L", "subscriptions/listen", { notifications: { toolsListChanged: true } }),
  );
  await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", "L"));
  const first = s.h.children[0];
  const serverId = first.received.find((m) => m.method === "subscriptions/listen")!.id;
  s.h.clientSend({
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: { requestId: "L", _meta: ENVELOPE },
  });
  await first.waitFor((m) => m.method === "notifications/cancelled");
  assert.equal(
    first.received.find((m) => m.method === "notifications/cancelled")!.params.requestId,
    serverId,
  );
  assert.equal((await s.router.restart("spec")).ok, true);
  assert.ok(!s.h.children[1].received.some((m) => m.method === "subscriptions/listen"));
  await s.close();
  assert.ok(!s.h.clientReceived.some(byId("L")), "a cancelled listen is owed nothing");
});

Deno.test("a server that ends a listen itself: its result reaches the client with the client's id in id and _meta", async () => {
  const s = start([modernServer()]);
  s.h.clientSend(
    request("L", "subscriptions/listen", { notifications: { toolsListChanged: true } }),
  );
  await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", "L"));
  const child = s.h.children[0];
  const serverId = child.received.find((m) => m.method === "subscriptions/listen")!.id;
  child.send({
    jsonrpc: "2.0",
    id: serverId,
    result: { resultType: "complete", _meta: { [SUB]: serverId } },
  });
  const closed = await s.h.clientWaitFor(byId("L"));
  assert.equal(closed.result._meta[SUB], "L");
  await s.close();
});

Deno.test("an era change after an edit (the new process no longer answers server/discover) is an error that says so and to reconnect, never a hang", async () => {
  const legacyOnly = basicServer(["a"], (child, msg) => {
    if (msg.method !== "server/discover") return false;
    child.send({
      jsonrpc: "2.0",
      id: msg.id,
      error: { code: -32601, message: "Method not found" },
    });
    return true;
  });
  const s = start([modernServer(), legacyOnly], { restartTool: false });
  s.h.clientSend(request(1, "tools/list"));
  await s.h.clientWaitFor(byId(1));
  const outcome = await s.router.restart("spec");
  assert.equal(outcome.ok, false);
  assert.match(outcome.error!, /does not speak MCP 2026-07-28/);
  assert.match(outcome.error!, /reconnect the client/);
  s.h.clientSend(request(2, "tools/list"));
  const refused = await s.h.clientWaitFor(byId(2));
  assert.match(refused.error.message, /reconnect the client/);
  await s.close();
});

Deno.test("a legacy client whose server refuses its version at initialize gets the server's own -32022, as it would directly", async () => {
  const modernOnly = basicServer(["a"], (child, msg) => {
    if (msg.method !== "initialize") return false;
    child.send({
      jsonrpc: "2.0",
      id: msg.id,
      error: {
        code: -32022,
        message: "Unsupported protocol version: 2025-11-25",
        data: { supported: [MODERN], requested: "2025-11-25" },
      },
    });
    return true;
  });
  const s = start([modernOnly]);
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "init",
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c" } },
  });
  const refused = await s.h.clientWaitFor(byId("init"));
  assert.equal(refused.error.code, -32022);
  assert.deepEqual(refused.error.data.supported, [MODERN]);
  await s.close();
});

Deno.test("mcpmon's own results in a modern session say resultType complete (restart_server)", async () => {
  const s = start([modernServer(), modernServer()]);
  s.h.clientSend(request(1, "tools/list"));
  await s.h.clientWaitFor(byId(1));
  s.h.clientSend(request(2, "tools/call", { name: "restart_server", arguments: {} }));
  const result = await s.h.clientWaitFor(byId(2));
  assert.equal(result.result.resultType, "complete");
  assert.match(result.result.content[0].text, /restarted/i);
  await s.close();
});

Deno.test("a request before the era that is neither initialize, an enveloped request nor a probe is refused with what to send", async () => {
  const s = start([modernServer()]);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/list" });
  const refused = await s.h.clientWaitFor(byId(1));
  assert.equal(refused.error.code, -32600);
  assert.match(refused.error.message, /initialize first.*_meta envelope/);
  await s.close();
});

// ── gateway ────────────────────────────────────────────────────────────────

function startGateway(handles: Record<string, (c: FakeChild, m: Msg) => void>) {
  return startRouter(
    handles,
    Object.keys(handles).map((name) => fakeServer(name, { restartTool: false })),
    { gateway: { separator: "__", nameBudget: 64 } },
  );
}

/** A server that speaks only 2026-07-28: `initialize` gets -32022. */
function modernOnlyServer(tools: string[]) {
  return modernServer(tools, (child, msg) => {
    if (msg.method !== "initialize") return false;
    child.send({
      jsonrpc: "2.0",
      id: msg.id,
      error: { code: -32022, message: "Unsupported protocol version: 2025-11-25" },
    });
    return true;
  });
}

/** A server that speaks only the 2025 era: `server/discover` is an unknown method. */
function legacyOnlyServer(tools: string[]) {
  return basicServer(tools, (child, msg) => {
    if (msg.method !== "server/discover") return false;
    child.send({
      jsonrpc: "2.0",
      id: msg.id,
      error: { code: -32601, message: "Method not found" },
    });
    return true;
  });
}

Deno.test("gateway: answers server/discover itself with the version it serves, merged capabilities and its identity", async () => {
  const s = startGateway({ alpha: legacyOnlyServer(["a"]) });
  s.h.clientSend(request("d", "server/discover"));
  const discovered = await s.h.clientWaitFor(byId("d"));
  assert.deepEqual(discovered.result.supportedVersions, [MODERN]);
  assert.equal(discovered.result.capabilities.tools.listChanged, true);
  assert.equal(discovered.result._meta["io.modelcontextprotocol/serverInfo"].name, "mcpmon");
  assert.equal(discovered.result.resultType, "complete");
  await s.close();
});

Deno.test("gateway: a modern client's requests reach a legacy backend (opened with initialize made from the envelope, then initialized) and its results gain resultType", async () => {
  const s = startGateway({ alpha: legacyOnlyServer(["a"]) });
  s.h.clientSend(request(1, "tools/list"));
  const listed = await s.h.clientWaitFor(byId(1));
  assert.ok(listed.result.tools.some((t: Msg) => t.name === "alpha__a"));
  assert.equal(listed.result.ttlMs, 0);
  assert.equal(listed.result.cacheScope, "private");
  s.h.clientSend(request(2, "tools/call", { name: "alpha__a" }));
  const called = await s.h.clientWaitFor(byId(2));
  assert.equal(called.result.resultType, "complete");
  const child = s.h.children[0];
  assert.deepEqual(child.received.slice(0, 3).map((m) => m.method), [
    "server/discover",
    "initialize",
    "notifications/initialized",
  ]);
  assert.deepEqual(
    child.received[1].params.capabilities,
    ENVELOPE["io.modelcontextprotocol/clientCapabilities"],
  );
  assert.deepEqual(
    child.received[1].params.clientInfo,
    ENVELOPE["io.modelcontextprotocol/clientInfo"],
  );
  await s.close();
});

Deno.test("gateway: a legacy client's requests reach a modern-only backend (opened with server/discover after -32022) with an envelope made from its initialize params", async () => {
  const s = startGateway({ beta: modernOnlyServer(["b"]) });
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "init",
    method: "initialize",
    params: {
      protocolVersion: "2025-11-25",
      capabilities: { roots: {} },
      clientInfo: { name: "v1" },
    },
  });
  await s.h.clientWaitFor(byId("init"));
  s.h.clientSend({ jsonrpc: "2.0", method: "notifications/initialized" });
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "beta__b" } });
  const called = await s.h.clientWaitFor(byId(1));
  assert.match(called.result.content[0].text, /^b@/);
  assert.equal(called.result.resultType, undefined, "no 2026-07-28 field reaches a 2025 client");
  const child = s.h.children[0];
  assert.deepEqual(child.received.slice(0, 2).map((m) => m.method), [
    "initialize",
    "server/discover",
  ]);
  const call = child.received.find((m) => m.method === "tools/call")!;
  assert.equal(call.params._meta["io.modelcontextprotocol/protocolVersion"], MODERN);
  assert.deepEqual(call.params._meta["io.modelcontextprotocol/clientCapabilities"], { roots: {} });
  assert.ok(!child.received.some((m) => m.method === "notifications/initialized"));
  await s.close();
});

Deno.test("gateway: a modern client's listen is held and acknowledged by mcpmon; a modern backend's list change (on mcpmon's own listen) reaches it tagged, a legacy one's too", async () => {
  let lists = 0;
  const beta = modernOnlyServer(["b"]);
  const s = startGateway({
    alpha: legacyOnlyServer(["a"]),
    beta: (child, msg) => {
      if (msg.method === "tools/list") {
        lists++;
        return child.reply(msg, {
          resultType: "complete",
          tools: (lists > 1 ? ["b", "b2"] : ["b"]).map((name) => ({ name, inputSchema: {} })),
        });
      }
      beta(child, msg);
    },
  });
  s.h.clientSend(
    request("L", "subscriptions/listen", { notifications: { toolsListChanged: true } }),
  );
  const ack = await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", "L"));
  assert.deepEqual(ack.params.notifications, { toolsListChanged: true });
  s.h.clientSend(request(1, "tools/list"));
  await s.h.clientWaitFor(byId(1));
  const betaChild = s.h.children.find((c) => c.options.command === "beta")!;
  const own = await betaChild.waitFor((m) => m.method === "subscriptions/listen");
  betaChild.send({
    jsonrpc: "2.0",
    method: "notifications/tools/list_changed",
    params: { _meta: { [SUB]: own.id } },
  });
  await s.h.clientWaitFor(tagged("notifications/tools/list_changed", "L"));
  s.h.clientSend(request(2, "tools/list"));
  const listed = await s.h.clientWaitFor(byId(2));
  assert.ok(listed.result.tools.some((t: Msg) => t.name === "beta__b2"));
  assert.equal(
    s.h.clientReceived.filter((m) => m.method === "notifications/subscriptions/acknowledged")
      .length,
    1,
    "the backend's acknowledgment of mcpmon's listen is mcpmon's",
  );
  await s.close();
  assert.deepEqual(s.h.clientReceived.find(byId("L"))!.result._meta, { [SUB]: "L" });
});

/** A 2025-only backend with one subscribable resource, `<name>://doc`. */
function legacyResourceServer(name: string) {
  return basicServer(["a"], (child, msg) => {
    switch (msg.method) {
      case "server/discover":
        child.send({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "Not found" } });
        return true;
      case "initialize":
        child.reply(msg, {
          protocolVersion: msg.params.protocolVersion,
          capabilities: { tools: {}, resources: { subscribe: true } },
          serverInfo: { name, version: "1" },
        });
        return true;
      case "resources/list":
        child.reply(msg, { resources: [{ uri: `${name}://doc`, name: "doc" }] });
        return true;
      case "resources/templates/list":
        child.reply(msg, { resourceTemplates: [] });
        return true;
    }
    return false;
  });
}

/** A 2026-07-28-only backend with one subscribable resource, `<name>://doc`. */
function modernResourceServer(name: string) {
  return modernServer(["b"], (child, msg) => {
    switch (msg.method) {
      case "initialize":
        child.send({
          jsonrpc: "2.0",
          id: msg.id,
          error: { code: -32022, message: "Unsupported protocol version: 2025-11-25" },
        });
        return true;
      case "server/discover":
        child.reply(msg, {
          resultType: "complete",
          supportedVersions: [MODERN],
          capabilities: { tools: {}, resources: { subscribe: true } },
          _meta: { "io.modelcontextprotocol/serverInfo": { name, version: "2" } },
        });
        return true;
      case "resources/list":
        child.reply(msg, {
          resultType: "complete",
          resources: [{ uri: `${name}://doc`, name: "doc" }],
        });
        return true;
      case "resources/templates/list":
        child.reply(msg, { resultType: "complete", resourceTemplates: [] });
        return true;
    }
    return false;
  });
}

/** A backend's `notifications/resources/updated` for `uri`, tagged with mcpmon's listen `listenId` (untagged without: 2025). */
function resourceUpdated(child: FakeChild, uri: string, listenId?: unknown): void {
  child.send({
    jsonrpc: "2.0",
    method: "notifications/resources/updated",
    params: listenId === undefined ? { uri } : { uri, _meta: { [SUB]: listenId } },
  });
}

/** The resource listen mcpmon holds on a modern backend's process (the last one opened). */
async function resourceListen(child: FakeChild): Promise<Msg> {
  await child.waitFor((m) =>
    m.method === "subscriptions/listen" && m.params.notifications.resourceSubscriptions
  );
  return child.received.filter((m) =>
    m.method === "subscriptions/listen" && m.params.notifications.resourceSubscriptions
  ).at(-1)!;
}

Deno.test("gateway: a modern client's listen for resources is honored on both eras' backends: subscribed there, updates tagged with its id, given up when it is cancelled", async () => {
  const s = startGateway({
    alpha: legacyResourceServer("alpha"),
    beta: modernResourceServer("beta"),
  });
  s.h.clientSend(request("L", "subscriptions/listen", {
    notifications: {
      toolsListChanged: true,
      resourceSubscriptions: ["alpha://doc", "beta://doc", "nowhere://x"],
    },
  }));
  const ack = await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", "L"));
  assert.deepEqual(ack.params.notifications, {
    toolsListChanged: true,
    resourceSubscriptions: ["alpha://doc", "beta://doc"],
  }, "a URI no backend offers is not acknowledged");
  const alpha = s.h.children.find((c) => c.options.command === "alpha")!;
  const beta = s.h.children.find((c) => c.options.command === "beta")!;
  await alpha.waitFor((m) => m.method === "resources/subscribe" && m.params.uri === "alpha://doc");
  const listen = await resourceListen(beta);
  assert.deepEqual(listen.params.notifications, { resourceSubscriptions: ["beta://doc"] });
  assert.equal(listen.params._meta["io.modelcontextprotocol/protocolVersion"], MODERN);

  resourceUpdated(alpha, "alpha://doc");
  const fromAlpha = await s.h.clientWaitFor((m) =>
    tagged("notifications/resources/updated", "L")(m) && m.params.uri === "alpha://doc"
  );
  assert.deepEqual(fromAlpha.params._meta, { [SUB]: "L" });
  resourceUpdated(beta, "beta://doc", listen.id);
  const fromBeta = await s.h.clientWaitFor((m) =>
    tagged("notifications/resources/updated", "L")(m) && m.params.uri === "beta://doc"
  );
  assert.deepEqual(fromBeta.params._meta, { [SUB]: "L" }, "tagged with the client's listen only");

  s.h.clientSend({
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: { requestId: "L" },
  });
  await alpha.waitFor((m) =>
    m.method === "resources/unsubscribe" && m.params.uri === "alpha://doc"
  );
  await beta.waitFor((m) =>
    m.method === "notifications/cancelled" && m.params.requestId === listen.id
  );
  await s.close();
});

Deno.test("gateway: a modern client's resource subscriptions are made again on a restarted backend of either era", async () => {
  const s = startGateway({
    alpha: legacyResourceServer("alpha"),
    beta: modernResourceServer("beta"),
  });
  s.h.clientSend(request("L", "subscriptions/listen", {
    notifications: { resourceSubscriptions: ["alpha://doc", "beta://doc"] },
  }));
  await s.h.clientWaitFor(tagged("notifications/subscriptions/acknowledged", "L"));
  await s.router.restart("spec", "alpha");
  await s.router.restart("spec", "beta");
  const alpha2 = s.h.children.filter((c) => c.options.command === "alpha")[1];
  const beta2 = s.h.children.filter((c) => c.options.command === "beta")[1];
  await alpha2.waitFor((m) => m.method === "resources/subscribe" && m.params.uri === "alpha://doc");
  const listen = await resourceListen(beta2);
  assert.deepEqual(listen.params.notifications.resourceSubscriptions, ["beta://doc"]);
  resourceUpdated(beta2, "beta://doc", listen.id);
  await s.h.clientWaitFor((m) =>
    tagged("notifications/resources/updated", "L")(m) && m.params.uri === "beta://doc"
  );
  await s.close();
});

Deno.test("gateway: a legacy client's resources/subscribe to a modern backend becomes mcpmon's listen there; updates reach it untagged, also after a restart", async () => {
  const s = startGateway({ beta: modernResourceServer("beta") });
  await legacyClient(s, {});
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "resources/list" });
  await s.h.clientWaitFor(byId(1));
  s.h.clientSend({
    jsonrpc: "2.0",
    id: 2,
    method: "resources/subscribe",
    params: { uri: "beta://doc" },
  });
  assert.deepEqual((await s.h.clientWaitFor(byId(2))).result, {});
  const beta = s.h.children[0];
  assert.ok(!beta.received.some((m) => m.method === "resources/subscribe"));
  const listen = await resourceListen(beta);
  assert.deepEqual(listen.params.notifications.resourceSubscriptions, ["beta://doc"]);
  resourceUpdated(beta, "beta://doc", listen.id);
  const updated = await s.h.clientWaitFor((m) => m.method === "notifications/resources/updated");
  assert.deepEqual(
    updated.params,
    { uri: "beta://doc" },
    "no 2026-07-28 tag reaches a 2025 client",
  );

  await s.router.restart("spec", "beta");
  const beta2 = s.h.children[1];
  const again = await resourceListen(beta2);
  assert.deepEqual(again.params.notifications.resourceSubscriptions, ["beta://doc"]);
  s.h.clientSend({
    jsonrpc: "2.0",
    id: 3,
    method: "resources/unsubscribe",
    params: { uri: "beta://doc" },
  });
  assert.deepEqual((await s.h.clientWaitFor(byId(3))).result, {});
  await beta2.waitFor((m) =>
    m.method === "notifications/cancelled" && m.params.requestId === again.id
  );
  await s.close();
});

Deno.test("gateway: a legacy client's resources/subscribe while its modern backend restarts is taken as that era's too: answered, and on the new process's listen", async () => {
  const s = startGateway({ beta: modernResourceServer("beta") });
  await legacyClient(s, {});
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "resources/list" });
  await s.h.clientWaitFor(byId(1));
  const restarted = s.router.restart("spec", "beta");
  await s.h.spawned(2);
  s.h.clientSend({
    jsonrpc: "2.0",
    id: 2,
    method: "resources/subscribe",
    params: { uri: "beta://doc" },
  });
  assert.deepEqual((await s.h.clientWaitFor(byId(2))).result, {});
  await restarted;
  const beta2 = s.h.children[1];
  const listen = await resourceListen(beta2);
  assert.deepEqual(listen.params.notifications.resourceSubscriptions, ["beta://doc"]);
  assert.ok(!beta2.received.some((m) => m.method === "resources/subscribe"));
  await s.close();
});

/** A modern-only backend whose `ask` tool needs the client to confirm (multi round-trip). */
function askingServer() {
  return modernServer(["ask"], (child, msg) => {
    if (msg.method === "initialize") {
      child.send({
        jsonrpc: "2.0",
        id: msg.id,
        error: { code: -32022, message: "Unsupported protocol version: 2025-11-25" },
      });
      return true;
    }
    if (msg.method !== "tools/call" || msg.params.name !== "ask") return false;
    const answer = msg.params.inputResponses?.confirm;
    if (answer === undefined) {
      child.reply(msg, {
        resultType: "input_required",
        inputRequests: {
          confirm: {
            method: "elicitation/create",
            params: { message: "Sure?", requestedSchema: { type: "object", properties: {} } },
          },
        },
        requestState: "state-1",
      });
      return true;
    }
    child.reply(msg, {
      resultType: "complete",
      content: [{ type: "text", text: `${answer.action} (${msg.params.requestState})` }],
    });
    return true;
  });
}

/** A legacy client of a gateway, initialized with `capabilities`. */
async function legacyClient(s: ReturnType<typeof startGateway>, capabilities: Msg) {
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "init",
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities, clientInfo: { name: "v1" } },
  });
  await s.h.clientWaitFor(byId("init"));
  s.h.clientSend({ jsonrpc: "2.0", method: "notifications/initialized" });
}

Deno.test("gateway: a modern backend's input_required result reaches a 2025 client as a request of mcpmon's; the call is retried with its answer and the requestState, and answered once", async () => {
  const s = startGateway({ beta: askingServer() });
  await legacyClient(s, { elicitation: {} });
  s.h.clientSend({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "beta__ask" } });
  const asked = await s.h.clientWaitFor((m) => m.method === "elicitation/create");
  assert.equal(asked.params.message, "Sure?");
  s.h.clientSend({ jsonrpc: "2.0", id: asked.id, result: { action: "accept", content: {} } });
  const answer = await s.h.clientWaitFor(byId(7));
  assert.deepEqual(answer.result, { content: [{ type: "text", text: "accept (state-1)" }] });
  const calls = s.h.children[0].received.filter((m) => m.method === "tools/call");
  assert.equal(calls.length, 2);
  assert.notEqual(calls[0].id, calls[1].id, "the retry is a new request");
  assert.deepEqual(calls[1].params.inputResponses, { confirm: { action: "accept", content: {} } });
  assert.equal(calls[1].params.requestState, "state-1");
  assert.equal(calls[1].params.name, "ask");
  assert.equal(calls[1].params._meta["io.modelcontextprotocol/protocolVersion"], MODERN);
  assert.equal(s.h.clientReceived.filter(byId(7)).length, 1);
  await s.close();
});

Deno.test("gateway: input a 2025 client cannot give (no such capability) ends the call with a tool error naming it; a cancel while the client is asked sends nothing more", async () => {
  {
    const s = startGateway({ beta: askingServer() });
    await legacyClient(s, {});
    s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "beta__ask" } });
    const answer = await s.h.clientWaitFor(byId(1));
    assert.equal(answer.result.isError, true);
    assert.match(answer.result.content[0].text, /elicitation capability/);
    assert.ok(!s.h.clientReceived.some((m) => m.method === "elicitation/create"));
    await s.close();
  }
  {
    const s = startGateway({ beta: askingServer() });
    await legacyClient(s, { elicitation: {} });
    s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "beta__ask" } });
    const asked = await s.h.clientWaitFor((m) => m.method === "elicitation/create");
    s.h.clientSend({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 2 } });
    await s.h.clientWaitFor((m) =>
      m.method === "notifications/cancelled" && m.params.requestId === asked.id
    );
    s.h.clientSend({ jsonrpc: "2.0", id: asked.id, result: { action: "accept" } });
    s.h.clientSend({ jsonrpc: "2.0", id: 3, method: "ping" });
    await s.h.clientWaitFor(byId(3));
    assert.equal(
      s.h.clientReceived.filter(byId(2)).length,
      0,
      "a cancelled request is owed nothing",
    );
    assert.equal(
      s.h.children[0].received.filter((m) => m.method === "tools/call").length,
      1,
      "no retry",
    );
    await s.close();
  }
});

/** A 2025-only backend whose `ask` tool asks the client `rounds` times before it answers. */
function elicitingServer(rounds = 1) {
  let asked = 0;
  return basicServer(["ask"], (child, msg) => {
    if (msg.method === "server/discover") {
      child.send({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "Not found" } });
      return true;
    }
    if (msg.method !== "tools/call" || msg.params.name !== "ask") return false;
    const answers: string[] = [];
    const askOnce = (n: number) => {
      const id = `e${++asked}`;
      child.send({
        jsonrpc: "2.0",
        id,
        method: "elicitation/create",
        params: { message: `question ${n}`, requestedSchema: { type: "object" } },
      });
      child.waitFor((m) => m.id === id && m.method === undefined).then((reply) => {
        answers.push(reply.result?.action ?? `error ${reply.error?.message}`);
        if (n < rounds) return askOnce(n + 1);
        child.reply(msg, { content: [{ type: "text", text: answers.join(",") }] });
      });
    };
    askOnce(1);
    return true;
  });
}

Deno.test("gateway: a 2025 backend's elicitation during a modern client's call becomes input_required; the client's retry with mcpmon's requestState answers it, round after round, and gets the call's answer", async () => {
  const s = startGateway({ alpha: elicitingServer(2) });
  s.h.clientSend(request(1, "tools/call", { name: "alpha__ask" }));
  const first = await s.h.clientWaitFor(byId(1));
  assert.equal(first.result.resultType, "input_required");
  const [key1, asked1] = Object.entries(first.result.inputRequests)[0] as [string, Msg];
  assert.equal(asked1.method, "elicitation/create");
  assert.equal(asked1.params.message, "question 1");
  const state = first.result.requestState;
  assert.equal(typeof state, "string");

  s.h.clientSend(request(2, "tools/call", {
    name: "alpha__ask",
    inputResponses: { [key1]: { action: "accept", content: {} } },
    requestState: state,
  }));
  const second = await s.h.clientWaitFor(byId(2));
  assert.equal(second.result.resultType, "input_required", "the server asked again");
  const [key2, asked2] = Object.entries(second.result.inputRequests)[0] as [string, Msg];
  assert.equal(asked2.params.message, "question 2");

  s.h.clientSend(request(3, "tools/call", {
    name: "alpha__ask",
    inputResponses: { [key2]: { action: "decline" } },
    requestState: second.result.requestState,
  }));
  const done = await s.h.clientWaitFor(byId(3));
  assert.equal(done.result.resultType, "complete");
  assert.equal(done.result.content[0].text, "accept,decline");
  const alpha = s.h.children[0];
  assert.equal(alpha.received.filter((m) => m.method === "tools/call").length, 1, "one call");

  s.h.clientSend(request(4, "tools/call", {
    name: "alpha__ask",
    inputResponses: {},
    requestState: state,
  }));
  const stale = await s.h.clientWaitFor(byId(4));
  assert.equal(stale.error.code, -32602, "a spent requestState of mcpmon's is refused");
  await s.close();
});

Deno.test("gateway: a 2025 backend's request to a modern client with no call of the client's open there is answered with an error saying why, never left waiting", async () => {
  let asked: Promise<Msg> | undefined;
  const s = startGateway({
    alpha: basicServer(["a"], (child, msg) => {
      if (msg.method === "server/discover") {
        child.send({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "Not found" } });
        return true;
      }
      if (msg.method === "notifications/initialized") {
        child.send({ jsonrpc: "2.0", id: "r1", method: "roots/list" });
        asked = child.waitFor((m) => m.id === "r1" && m.method === undefined);
      }
      return false;
    }),
  });
  s.h.clientSend(request(1, "tools/list"));
  await s.h.clientWaitFor(byId(1));
  const reply = await asked!;
  assert.match(reply.error.message, /2026-07-28.*no call of its is open/);
  assert.ok(!s.h.clientReceived.some((m) => m.method === "roots/list"));
  await s.close();
});

Deno.test("gateway: a parked call whose client never comes back with the input is given up after PARKED_TIMEOUT_MS: the server's request gets an error and its call is cancelled", async () => {
  const clock = new ManualClock();
  const s = startRouter(
    { alpha: elicitingServer(1) },
    [fakeServer("alpha", { restartTool: false })],
    { gateway: { separator: "__", nameBudget: 64 }, clock },
  );
  s.h.clientSend(request(1, "tools/call", { name: "alpha__ask" }));
  const first = await s.h.clientWaitFor(byId(1));
  assert.equal(first.result.resultType, "input_required");
  const alpha = s.h.children[0];
  const call = alpha.received.find((m) => m.method === "tools/call")!;
  await clock.advance(PARKED_TIMEOUT_MS - 1);
  assert.ok(!alpha.received.some((m) => m.id === "e1" && m.method === undefined));
  await clock.advance(1);
  const reply = await alpha.waitFor((m) => m.id === "e1" && m.method === undefined);
  assert.match(reply.error.message, /did not come back/);
  await alpha.waitFor((m) =>
    m.method === "notifications/cancelled" && m.params.requestId === call.id
  );
  s.h.clientSend(request(2, "tools/call", {
    name: "alpha__ask",
    inputResponses: {},
    requestState: first.result.requestState,
  }));
  assert.equal((await s.h.clientWaitFor(byId(2))).error.code, -32602);
  await s.close();
});

Deno.test("gateway: a 2025 backend's request while another of the client's calls is parked there is answered with an error (which call asks is unknown on stdio); the parked call goes on", async () => {
  const s = startGateway({ alpha: elicitingServer(1) });
  s.h.clientSend(request(1, "tools/call", { name: "alpha__ask" }));
  const first = await s.h.clientWaitFor(byId(1));
  assert.equal(first.result.resultType, "input_required");
  s.h.clientSend(request(2, "tools/call", { name: "alpha__ask" }));
  const two = await s.h.clientWaitFor(byId(2));
  assert.match(two.result.content[0].text, /error .*2 of its calls are open/);
  const [key] = Object.keys(first.result.inputRequests);
  s.h.clientSend(request(3, "tools/call", {
    name: "alpha__ask",
    inputResponses: { [key]: { action: "accept" } },
    requestState: first.result.requestState,
  }));
  assert.equal((await s.h.clientWaitFor(byId(3))).result.content[0].text, "accept");
  await s.close();
});

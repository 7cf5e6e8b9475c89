import assert from "node:assert/strict";
import type { ServerOptions } from "../src/config.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import {
  basicServer,
  type FakeChild,
  type FakeHarness,
  fakeServer,
  type Msg,
  startRouter,
} from "./_fake_runtime.ts";

const server = (name: string, overrides: Partial<ServerOptions> = {}) =>
  fakeServer(name, { graceMs: 100, ...overrides });

type Handler = (child: FakeChild, msg: Msg) => void;

/** A server offering `tools` plus one prompt and resource named after it. */
function rich(
  name: string,
  tools: string[],
  extra?: (child: FakeChild, msg: Msg) => boolean,
): Handler {
  return basicServer(tools, (child, msg) => {
    if (extra?.(child, msg)) return true;
    switch (msg.method) {
      case "initialize":
        child.reply(msg, {
          protocolVersion: msg.params.protocolVersion,
          capabilities: { tools: {}, prompts: {}, resources: { subscribe: true } },
          serverInfo: { name, version: "1" },
        });
        return true;
      case "prompts/list":
        child.reply(msg, { prompts: [{ name: "greet" }] });
        return true;
      case "prompts/get":
        child.reply(msg, {
          messages: [{
            role: "user",
            content: { type: "text", text: `${name}:${msg.params.name}` },
          }],
        });
        return true;
      case "resources/list":
        child.reply(msg, {
          resources: [{ uri: `${name}://doc`, name: "doc" }, { uri: "shared://x", name: "x" }],
        });
        return true;
      case "resources/templates/list":
        child.reply(msg, { resourceTemplates: [] });
        return true;
      case "resources/read":
        child.reply(msg, {
          contents: [{ uri: msg.params.uri, text: `${name} read ${msg.params.uri}` }],
        });
        return true;
    }
    return false;
  });
}

/** A gateway over fake servers, in virtual time (`clock`: the spec's own, when it needs it). */
function startGateway(
  handles: Record<string, Handler>,
  servers: ServerOptions[],
  nameBudget = 64,
  callThrough = false,
  clock = new ManualClock(),
) {
  const gateway = { separator: "__", nameBudget, callThrough };
  return { ...startRouter(handles, servers, { gateway, clock }), clock };
}

const byId = (id: unknown) => (m: Msg) => m.id === id && ("result" in m || "error" in m);
let nextId = 1;
async function call(h: FakeHarness, method: string, params?: unknown): Promise<Msg> {
  const id = `q${nextId++}`;
  h.clientSend({ jsonrpc: "2.0", id, method, params });
  return await h.clientWaitFor(byId(id));
}

async function initialize(h: FakeHarness): Promise<Msg> {
  const init = await call(h, "initialize", {
    protocolVersion: "2025-06-18",
    capabilities: { sampling: {} },
    clientInfo: { name: "gw", version: "1" },
  });
  h.clientSend({ jsonrpc: "2.0", method: "notifications/initialized" });
  return init;
}

/** Waits until `tools/list` shows every name in `names`. */
async function waitForTools(h: FakeHarness, names: string[]): Promise<string[]> {
  for (;;) {
    const tools = (await call(h, "tools/list")).result.tools.map((t: Msg) => t.name);
    if (names.every((n) => tools.includes(n))) return tools;
    await h.clientWaitFor((m) =>
      m.method === "notifications/tools/list_changed" && !m.seen && (m.seen = true)
    );
  }
}

Deno.test("the gateway answers initialize itself, with every list capability and listChanged", async () => {
  const g = startGateway({ a: rich("a", ["x"]), b: rich("b", ["y"]) }, [server("a"), server("b")]);
  const init = await initialize(g.h);
  assert.equal(init.result.serverInfo.name, "mcpmon");
  assert.deepEqual(init.result.capabilities.tools, { listChanged: true });
  assert.deepEqual(init.result.capabilities.resources, { listChanged: true, subscribe: true });
  assert.match(init.result.instructions, /a, b/);
  await g.close();
});

Deno.test("tools and prompts are listed with server prefixes and calls are routed to their owner", async () => {
  const g = startGateway({ a: rich("a", ["search"]), b: rich("b", ["search", "other"]) }, [
    server("a"),
    server("b"),
  ]);
  await initialize(g.h);
  const tools = await waitForTools(g.h, ["a__search", "b__search", "b__other"]);
  assert.deepEqual(tools, [
    "a__search",
    "b__search",
    "b__other",
    "restart_server",
    "server_status",
  ]);
  const [a, b] = [await g.h.spawned(1), await g.h.spawned(2)];
  const ra = await call(g.h, "tools/call", { name: "a__search", arguments: {} });
  const rb = await call(g.h, "tools/call", { name: "b__search", arguments: {} });
  assert.equal(ra.result.content[0].text, `search@${a.pid}`);
  assert.equal(rb.result.content[0].text, `search@${b.pid}`);
  const prompts = (await call(g.h, "prompts/list")).result.prompts.map((p: Msg) => p.name);
  assert.deepEqual(prompts, ["a__greet", "b__greet"]);
  const pb = await call(g.h, "prompts/get", { name: "b__greet" });
  assert.equal(pb.result.messages[0].content.text, "b:greet");
  const unknown = await call(g.h, "tools/call", { name: "c__search", arguments: {} });
  assert.equal(unknown.error.code, -32602);
  await g.close();
});

Deno.test("resource URIs stay unchanged where unique, a duplicate is renamed, and reads are routed", async () => {
  const g = startGateway({ a: rich("a", ["t"]), b: rich("b", ["u"]) }, [server("a"), server("b")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__t", "b__u"]);
  const uris = (await call(g.h, "resources/list")).result.resources.map((r: Msg) => r.uri);
  assert.ok(uris.includes("a://doc") && uris.includes("b://doc") && uris.includes("shared://x"));
  const renamed = uris.find((u: string) => u.startsWith("mcpmon://b/"));
  assert.ok(renamed, `b's copy of shared://x is renamed: ${uris}`);
  assert.match(
    (await call(g.h, "resources/read", { uri: "b://doc" })).result.contents[0].text,
    /^b read b:\/\/doc/,
  );
  const viaRename = await call(g.h, "resources/read", { uri: renamed });
  assert.equal(viaRename.result.contents[0].text, "b read shared://x");
  assert.equal(viaRename.result.contents[0].uri, renamed, "the client sees the URI it asked for");
  assert.match(g.h.stderr(), /resource URI collision: "shared:\/\/x" is offered by a and b/);
  await g.close();
});

Deno.test("restarting one backend leaves the other's process alone", async () => {
  const g = startGateway({ a: rich("a", ["x"]), b: rich("b", ["y"]) }, [server("a"), server("b")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x", "b__y"]);
  const b1 = g.h.children.find((c) => c.options.command === "b")!;
  const outcome = await g.router.restart("spec", "a");
  assert.equal(outcome.ok, true);
  assert.equal(g.h.children.filter((c) => c.options.command === "a").length, 2);
  assert.equal(g.h.children.filter((c) => c.options.command === "b").length, 1);
  assert.equal(b1.alive, true);
  assert.deepEqual(b1.signals, []);
  await g.close();
});

Deno.test("the client hears list_changed only when a merged list actually changed", async () => {
  let version = 1;
  const changing = (): Handler =>
    rich("a", [], (child, msg) => {
      if (msg.method === "tools/list") {
        child.reply(msg, { tools: [{ name: `t${version}`, inputSchema: { type: "object" } }] });
        return true;
      }
      return false;
    });
  const g = startGateway({ a: changing(), b: rich("b", ["y"]) }, [server("a"), server("b")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__t1", "b__y"]);
  const count = () =>
    g.h.clientReceived.filter((m) => m.method === "notifications/tools/list_changed").length;
  const before = count();
  await g.router.restart("same tools", "a");
  await call(g.h, "ping"); // let the list read settle
  await g.clock.tickAsync(50);
  assert.equal(count(), before, "same tools after the restart: no list_changed");
  version = 2;
  await g.router.restart("new tools", "a");
  await g.h.clientWaitFor(() => count() > before);
  assert.deepEqual(await waitForTools(g.h, ["a__t2"]), [
    "a__t2",
    "b__y",
    "restart_server",
    "server_status",
  ]);
  await g.close();
});

Deno.test("a broken backend is isolated: the other serves, and its errors name it", async () => {
  const broken: Handler = (child, msg) => {
    if (msg.method === "initialize") {
      child.writeStderr("ModuleNotFoundError: no module named 'b'\n");
      child.exit({ code: 1, signal: null });
    }
  };
  const g = startGateway({ a: rich("a", ["x"]), b: broken }, [server("a"), server("b")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x"]);
  const ok = await call(g.h, "tools/call", { name: "a__x", arguments: {} });
  assert.match(ok.result.content[0].text, /^x@/);
  const status = await call(g.h, "tools/call", { name: "server_status", arguments: {} });
  assert.match(status.result.content[0].text, /^a: ready, pid \d+/m);
  assert.match(status.result.content[0].text, /^b: failed/m);
  assert.match(status.result.content[0].text, /ModuleNotFoundError/);
  await g.close();
});

Deno.test("restart_server takes a server argument and reports that server's tool changes", async () => {
  let tools = ["x"];
  const a = rich("a", [], (child, msg) => {
    if (msg.method === "tools/list") {
      child.reply(msg, { tools: tools.map((name) => ({ name, inputSchema: { type: "object" } })) });
      return true;
    }
    return false;
  });
  const g = startGateway({ a, b: rich("b", ["y"]) }, [server("a"), server("b")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x", "b__y"]);
  tools = ["x", "z"];
  // The client does not re-read the tools: the answer comes when the wait for it ends.
  const r = await g.clock.runUntil(call(g.h, "tools/call", {
    name: "restart_server",
    arguments: { server: "a", reason: "new z" },
  }));
  assert.match(r.result.content[0].text, /^Restarted "a" \(restart #1\)/);
  assert.match(r.result.content[0].text, /Tools added: a__z/);
  const missing = await call(g.h, "tools/call", { name: "restart_server", arguments: {} });
  assert.equal(missing.result.isError, true);
  assert.match(missing.result.content[0].text, /Say which server to restart: a, b/);
  await g.close();
});

Deno.test("long names are shortened deterministically within the budget", async () => {
  const long = "a_really_long_tool_name_that_goes_on_and_on";
  const g = startGateway({ svc: rich("svc", [long]) }, [server("svc")], 32);
  await initialize(g.h);
  let tools: string[] = [];
  for (;;) {
    tools = (await call(g.h, "tools/list")).result.tools.map((t: Msg) => t.name);
    if (tools.length > 2) break;
    await g.clock.tickAsync(10);
  }
  const exposed = tools[0];
  assert.equal(exposed.length, 32);
  assert.match(exposed, /^svc__a_really_long_tool__[0-9a-z]{7}$/);
  const r = await call(g.h, "tools/call", { name: exposed, arguments: {} });
  assert.equal(r.result.content[0].text.split("@")[0], long, "routed to the full original name");
  await g.router.restart("again", "svc");
  const again = (await call(g.h, "tools/list")).result.tools.map((t: Msg) => t.name);
  assert.equal(again[0], exposed, "the same name after a restart");
  await g.close();
});

Deno.test("a sampling request from a backend is answered by the client and goes back to that backend", async () => {
  const asking = rich("b", ["ask"], (child, msg) => {
    if (msg.method === "tools/call" && msg.params.name === "ask") {
      child.send({
        jsonrpc: "2.0",
        id: 7,
        method: "sampling/createMessage",
        params: { from: "b" },
      });
      child.reply(msg, { content: [] });
      return true;
    }
    return false;
  });
  const g = startGateway({ a: rich("a", ["x"]), b: asking }, [server("a"), server("b")]);
  await initialize(g.h);
  await waitForTools(g.h, ["b__ask"]);
  await call(g.h, "tools/call", { name: "b__ask", arguments: {} });
  const ask = await g.h.clientWaitFor((m) => m.method === "sampling/createMessage");
  g.h.clientSend({ jsonrpc: "2.0", id: ask.id, result: { answer: 42 } });
  const b = g.h.children.find((c) => c.options.command === "b")!;
  const reply = await b.waitFor((m) => m.result?.answer === 42);
  assert.equal(reply.id, 7);
  const a = g.h.children.find((c) => c.options.command === "a")!;
  assert.equal(a.received.some((m) => m.result?.answer === 42), false);
  await g.close();
});

Deno.test("pagination: large merged lists come in pages with opaque cursors", async () => {
  const many = Array.from({ length: 130 }, (_, i) => `t${i}`);
  const g = startGateway({ a: rich("a", many) }, [server("a")]);
  await initialize(g.h);
  let first: Msg;
  for (;;) {
    first = (await call(g.h, "tools/list")).result;
    if (first.tools.length > 2) break;
    await g.clock.tickAsync(10);
  }
  assert.equal(first.tools.length, 100);
  assert.equal(typeof first.nextCursor, "string");
  const second = (await call(g.h, "tools/list", { cursor: first.nextCursor })).result;
  assert.equal(second.tools.length, 32, "the rest, with the two injected tools");
  assert.equal(second.nextCursor, undefined);
  const bad = await call(g.h, "tools/list", { cursor: "not-a-cursor" });
  assert.equal(bad.error.code, -32602);
  await g.close();
});

Deno.test("servers are added and removed while running; removal takes their tools away", async () => {
  const g = startGateway({ a: rich("a", ["x"]), b: rich("b", ["y"]) }, [server("a")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x"]);
  g.router.addServer(server("b"));
  await waitForTools(g.h, ["a__x", "b__y"]);
  const mark = g.h.clientReceived.length;
  await g.router.removeServer("a");
  await g.h.clientWaitFor((m) =>
    m.method === "notifications/tools/list_changed" && g.h.clientReceived.indexOf(m) >= mark
  );
  const tools = (await call(g.h, "tools/list")).result.tools.map((t: Msg) => t.name);
  assert.deepEqual(tools, ["b__y", "restart_server", "server_status"]);
  assert.equal(g.h.children.find((c) => c.options.command === "a")!.alive, false);
  await g.close();
});

Deno.test("a changed definition restarts the server in place: its tools stay listed and requests wait", async () => {
  const g = startGateway({ a: rich("a", ["x"]), a2: rich("a", ["x"]) }, [server("a")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x"]);
  const listChanged = () =>
    g.h.clientReceived.filter((m) => m.method === "notifications/tools/list_changed").length;
  const before = listChanged();
  const replaced = g.router.replaceServer(server("a", { command: "a2" }));
  const response = call(g.h, "tools/call", { name: "a__x", arguments: {} });
  await replaced;
  const second = await g.h.spawned(2);
  assert.equal(second.options.command, "a2");
  assert.equal(
    (await response).result.content[0].text,
    `x@${second.pid}`,
    "answered by the new definition",
  );
  await call(g.h, "ping");
  assert.equal(listChanged(), before, "the same tools: the client is not told of a change");
  await g.close();
});

Deno.test("a restarted backend is replayed only its own subscriptions, renamed URIs included", async () => {
  const g = startGateway({ a: rich("a", ["x"]), b: rich("b", ["y"]) }, [server("a"), server("b")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x", "b__y"]);
  const uris: string[] = (await call(g.h, "resources/list")).result.resources.map((r: Msg) =>
    r.uri
  );
  const renamed = uris.find((u) => u.startsWith("mcpmon://b/"))!;
  await call(g.h, "resources/subscribe", { uri: "a://doc" });
  await call(g.h, "resources/subscribe", { uri: renamed });
  await g.router.restart("spec", "b");
  const b2 = g.h.children.filter((c) => c.options.command === "b")[1];
  await b2.waitFor((m) => m.method === "tools/list");
  const subscribed = b2.received.filter((m) => m.method === "resources/subscribe").map((m) =>
    m.params.uri
  );
  assert.deepEqual(
    subscribed,
    ["shared://x"],
    "b gets its own subscription, by its own URI, and not a's",
  );
  await g.close();
});

Deno.test("a read of a renamed resource queued during a restart still answers with the URI asked for", async () => {
  const g = startGateway({ a: rich("a", ["x"]), b: rich("b", ["y"]) }, [server("a"), server("b")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x", "b__y"]);
  const uris: string[] = (await call(g.h, "resources/list")).result.resources.map((r: Msg) =>
    r.uri
  );
  const renamed = uris.find((u) => u.startsWith("mcpmon://b/"))!;
  const restarted = g.router.restart("spec", "b");
  const read = await call(g.h, "resources/read", { uri: renamed }); // queued until b is back
  await restarted;
  assert.equal(read.result.contents[0].text, "b read shared://x");
  assert.equal(read.result.contents[0].uri, renamed);
  assert.equal(
    g.h.children.filter((c) => c.options.command === "b").length,
    2,
    "it waited for the new b",
  );
  await g.close();
});

/** A handler that answers `initialize` only after `ms` on `clock` (a slow-starting server). */
function slow(clock: ManualClock, ms: number, inner: Handler): Handler {
  return (child, msg) => {
    if (msg.method === "initialize") clock.setTimeout(() => inner(child, msg), ms);
    else inner(child, msg);
  };
}

Deno.test("the gateway's first lists wait until every backend is ready: complete at connect", async () => {
  const clock = new ManualClock();
  const g = startGateway(
    { a: rich("a", ["x"]), b: slow(clock, 150, rich("b", ["y"])) },
    [server("a"), server("b")],
    64,
    false,
    clock,
  );
  await initialize(g.h);
  // The first list the client reads already holds both backends (no list_changed needed).
  const [tools, prompts, resources, templates] = await clock.runUntil(Promise.all([
    call(g.h, "tools/list"),
    call(g.h, "prompts/list"),
    call(g.h, "resources/list"),
    call(g.h, "resources/templates/list"),
  ]));
  assert.deepEqual(tools.result.tools.map((t: Msg) => t.name), [
    "a__x",
    "b__y",
    "restart_server",
    "server_status",
  ]);
  assert.deepEqual(prompts.result.prompts.map((p: Msg) => p.name), ["a__greet", "b__greet"]);
  assert.ok(resources.result.resources.some((r: Msg) => r.uri === "b://doc"));
  assert.deepEqual(templates.result.resourceTemplates, []);
  await g.close();
});

Deno.test("a backend that misses its init timeout is reported, not waited for, by the first lists", async () => {
  const clock = new ManualClock();
  const g = startGateway(
    { a: rich("a", ["x"]), b: slow(clock, 60_000, rich("b", ["y"])) },
    [server("a"), server("b", { initTimeoutMs: 200 })],
    64,
    false,
    clock,
  );
  await initialize(g.h);
  const tools = await clock.runUntil(call(g.h, "tools/list")); // b's init timeout passes
  assert.deepEqual(tools.result.tools.map((t: Msg) => t.name), [
    "a__x",
    "restart_server",
    "server_status",
  ]);
  assert.match(g.h.stderr(), /b\] (warning: )?.*init timeout|did not answer initialize/);
  await g.close();
});

Deno.test("a failed backend does not hold the first lists", async () => {
  const broken: Handler = (child, msg) => {
    if (msg.method === "initialize") child.exit({ code: 3, signal: null });
  };
  const g = startGateway({ a: rich("a", ["x"]), b: broken }, [server("a"), server("b")]);
  await initialize(g.h);
  const tools = await call(g.h, "tools/list");
  assert.deepEqual(tools.result.tools.map((t: Msg) => t.name).slice(0, 1), ["a__x"]);
  await g.close();
});

Deno.test("a call naming a backend that is still starting waits for it instead of 'Unknown tool'", async () => {
  const clock = new ManualClock();
  const g = startGateway(
    { a: rich("a", ["x"]), b: slow(clock, 150, rich("b", ["y"])) },
    [server("a"), server("b")],
    64,
    false,
    clock,
  );
  await initialize(g.h);
  const r = await clock.runUntil(call(g.h, "tools/call", { name: "b__y", arguments: {} }));
  const b = g.h.children.find((c) => c.options.command === "b")!;
  assert.equal(r.result.content[0].text, `y@${b.pid}`);
  const p = await call(g.h, "prompts/get", { name: "b__greet" });
  assert.equal(p.result.messages[0].content.text, "b:greet");
  const unknown = await call(g.h, "tools/call", { name: "b__nope", arguments: {} });
  assert.equal(unknown.error.code, -32602, "a name the started backend lacks is unknown");
  await g.close();
});

Deno.test("a call waiting for a starting backend fails only with that backend's own start error", async () => {
  const clock = new ManualClock();
  const broken: Handler = (child, msg) => {
    if (msg.method === "initialize") {
      clock.setTimeout(() => {
        child.writeStderr("SyntaxError: b is broken\n");
        child.exit({ code: 1, signal: null });
      }, 100);
    }
  };
  const g = startGateway(
    { a: rich("a", ["x"]), b: broken },
    [server("a"), server("b")],
    64,
    false,
    clock,
  );
  await initialize(g.h);
  const r = await clock.runUntil(call(g.h, "tools/call", { name: "b__y", arguments: {} }));
  assert.equal(r.error.code, -32000);
  assert.match(r.error.message, /server "b" exited with code 1/);
  assert.match(r.error.message, /SyntaxError: b is broken/);
  await g.close();
});

Deno.test("a call for a tool a restart adds waits for the restart, then reaches the new tool", async () => {
  let tools = ["x"];
  const a = rich("a", [], (child, msg) => {
    if (msg.method === "tools/list") {
      child.reply(msg, { tools: tools.map((name) => ({ name, inputSchema: { type: "object" } })) });
      return true;
    }
    return false;
  });
  const g = startGateway({ a }, [server("a")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x"]);
  tools = ["x", "z"];
  const restarted = g.router.restart("spec", "a");
  const r = await call(g.h, "tools/call", { name: "a__z", arguments: {} });
  await restarted;
  assert.match(r.result.content[0].text, /^z@/);
  await g.close();
});

for (const method of ["toString", "constructor", "valueOf", "hasOwnProperty", "isPrototypeOf"]) {
  Deno.test(`a request whose method is ${method} gets "Method not found" and the gateway goes on`, async () => {
    const g = startGateway({ a: rich("a", ["x"]) }, [server("a")]);
    await initialize(g.h);
    const r = await call(g.h, method);
    assert.equal(r.error.code, -32601);
    const ok = await call(g.h, "tools/call", { name: "a__x", arguments: {} });
    assert.match(ok.result.content[0].text, /^x@/);
    await g.close();
  });
}

Deno.test("template matching is linear: a long URI against a multi-part template answers at once", async () => {
  const templated = rich("a", ["x"], (child, msg) => {
    if (msg.method === "resources/templates/list") {
      child.reply(msg, {
        resourceTemplates: [{ uriTemplate: "docs://{project}/{version}/{page}.md", name: "d" }],
      });
      return true;
    }
    return false;
  });
  const g = startGateway({ a: templated, b: rich("b", ["y"]) }, [server("a"), server("b")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x", "b__y"]);
  const t0 = performance.now();
  // The only backend with templates gets what no template matches; the match itself must not hang
  // (a backtracking regex took 46 s on this input).
  const long = await call(g.h, "resources/read", { uri: "docs://" + "/".repeat(5000) + "x" });
  const ms = performance.now() - t0;
  assert.ok(long.result, "answered");
  assert.ok(ms < 2000, `took ${ms} ms`);
  const hit = await call(g.h, "resources/read", { uri: "docs://p/v1/intro.md" });
  assert.equal(hit.result.contents[0].text, "a read docs://p/v1/intro.md");
  const huge = await call(g.h, "resources/read", { uri: "docs://" + "a".repeat(9000) + ".md" });
  assert.equal(huge.error.code, -32602);
  assert.match(huge.error.message, /longer than the 8192/);
  await g.close();
});

Deno.test("gateway call-through: mcpmon_call_tool resolves across backends at call time, a starting one included", async () => {
  const clock = new ManualClock();
  const g = startGateway(
    { a: rich("a", ["x"]), b: slow(clock, 150, rich("b", ["y"])) },
    [server("a"), server("b")],
    64,
    true,
    clock,
  );
  await initialize(g.h);
  const early = await clock.runUntil(call(g.h, "tools/call", {
    name: "mcpmon_call_tool",
    arguments: { name: "b__y", arguments: {} },
  }));
  const b = g.h.children.find((c) => c.options.command === "b")!;
  assert.equal(early.result.content[0].text, `y@${b.pid}`, "it waited for b");
  const listed = await call(g.h, "tools/call", { name: "mcpmon_list_tools", arguments: {} });
  const tools = JSON.parse(listed.result.content[0].text).tools;
  assert.deepEqual(tools.map((t: Msg) => t.name), ["a__x", "b__y"]);
  const names = (await call(g.h, "tools/list")).result.tools.map((t: Msg) => t.name);
  assert.ok(names.includes("mcpmon_list_tools") && names.includes("mcpmon_call_tool"));
  await g.close();
});

Deno.test("gateway restart_server answers after the client re-read the tools it was told changed", async () => {
  let tools = ["x"];
  const a = rich("a", [], (child, msg) => {
    if (msg.method === "tools/list") {
      child.reply(msg, { tools: tools.map((name) => ({ name, inputSchema: { type: "object" } })) });
      return true;
    }
    return false;
  });
  const g = startGateway({ a }, [server("a")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x"]);
  tools = ["x", "z"];
  const result = call(g.h, "tools/call", { name: "restart_server", arguments: { server: "a" } });
  await g.h.clientWaitFor((m) => m.method === "notifications/tools/list_changed");
  await g.clock.tickAsync(30); // the client re-lists 30 ms later
  const relist = await call(g.h, "tools/list");
  const answered = await result;
  assert.match(answered.result.content[0].text, /Tools added: a__z/);
  assert.ok(
    g.h.clientReceived.indexOf(relist) < g.h.clientReceived.indexOf(answered),
    "the re-list was answered first",
  );
  await g.close();
});

Deno.test("an exception while handling one client message answers it with -32603 and the session goes on", async () => {
  const g = startGateway({ a: rich("a", ["x"]) }, [server("a")]);
  await initialize(g.h);
  await waitForTools(g.h, ["a__x"]);
  const observe = g.router.session.observe;
  g.router.session.observe = () => {
    throw new Error("boom in observe");
  };
  const failed = await call(g.h, "logging/setLevel", { level: "debug" });
  assert.equal(failed.error.code, -32603);
  assert.match(failed.error.message, /internal error: boom in observe/);
  g.router.session.observe = observe;
  const ok = await call(g.h, "tools/call", { name: "a__x", arguments: {} });
  assert.match(ok.result.content[0].text, /^x@/);
  assert.match(
    g.h.stderr(),
    /internal error while handling the client's logging\/setLevel request/,
  );
  await g.close();
});

Deno.test("a held first list or a waiting call that the client cancels is owed nothing and holds nothing up", async () => {
  const clock = new ManualClock();
  const g = startGateway(
    { a: rich("a", ["x"]), b: slow(clock, 150, rich("b", ["y"])) },
    [server("a"), server("b")],
    64,
    false,
    clock,
  );
  await initialize(g.h);
  g.h.clientSend({ jsonrpc: "2.0", id: "held", method: "tools/list" });
  g.h.clientSend({ jsonrpc: "2.0", id: "wait", method: "tools/call", params: { name: "b__y" } });
  for (const requestId of ["held", "wait"]) {
    g.h.clientSend({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId } });
  }
  const listed = await clock.runUntil(call(g.h, "tools/list")); // b's start passes
  assert.equal(listed.result.tools.length, 4, "b is listed by now");
  await call(g.h, "ping");
  assert.equal(g.h.clientReceived.some((m) => m.id === "held" || m.id === "wait"), false);
  assert.equal(g.router.pendingClientRequests, 0);
  await g.close();
});

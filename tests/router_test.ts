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

/** A router over one fake server, in virtual time (`clock`: the specs' own, when they need it). */
function start(
  handles: ((c: FakeChild, m: Msg) => void)[],
  overrides: Partial<ServerOptions> = {},
  clock = new ManualClock(),
) {
  return { ...startRouter(handles, [fakeServer("fake", overrides)], { clock }), clock };
}

const INIT_PARAMS = {
  protocolVersion: "2025-06-18",
  capabilities: { sampling: {} },
  clientInfo: { name: "spec-client", version: "1.0.0" },
};

async function initialize(h: FakeHarness): Promise<Msg> {
  h.clientSend({ jsonrpc: "2.0", id: "init", method: "initialize", params: INIT_PARAMS });
  const result = await h.clientWaitFor((m) => m.id === "init");
  h.clientSend({ jsonrpc: "2.0", method: "notifications/initialized" });
  return result;
}

const byId = (id: unknown) => (m: Msg) => m.id === id && ("result" in m || "error" in m);

Deno.test("the client's ids come back exactly as sent, string or number", async () => {
  const s = start([basicServer()]);
  await initialize(s.h);
  for (const id of [1, "1", 0, "abc", 2.5, -7]) {
    s.h.clientSend({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "a" } });
  }
  for (const id of [1, "1", 0, "abc", 2.5, -7]) {
    const response = await s.h.clientWaitFor(byId(id));
    assert.equal(typeof response.id, typeof id);
  }
  // The server saw ids of mcpmon's own, never the client's strings.
  const calls = s.h.children[0].received.filter((m) => m.method === "tools/call");
  assert.equal(new Set(calls.map((m) => m.id)).size, 6);
  await s.close();
});

Deno.test("the initialize result sets listChanged: true for the lists the server declares", async () => {
  const s = start([basicServer()]);
  const init = await initialize(s.h);
  assert.deepEqual(init.result.capabilities, { tools: { listChanged: true }, logging: {} });
  assert.equal(init.result.serverInfo.name, "fake");
  await s.close();
});

Deno.test("a restart replays initialize, initialized, log level and subscriptions before queued requests", async () => {
  // Without the restart tool, which reads tools/list itself on each start.
  const s = start([basicServer(["a"]), basicServer(["b"])], { restartTool: false });
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "logging/setLevel", params: { level: "debug" } });
  s.h.clientSend({
    jsonrpc: "2.0",
    id: 3,
    method: "resources/subscribe",
    params: { uri: "x://1" },
  });
  await s.h.clientWaitFor(byId(3));
  const restarted = s.router.restart("spec");
  s.h.clientSend({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "b" } });
  s.h.clientSend({ jsonrpc: "2.0", method: "notifications/roots/list_changed" });
  s.h.clientSend({ jsonrpc: "2.0", id: 5, method: "tools/list" });
  const outcome = await restarted;
  assert.equal(outcome.ok, true);
  assert.equal(outcome.restart, 1);
  const second = s.h.children[1];
  await second.waitFor((m) => m.id !== undefined && m.method === "tools/list");
  assert.deepEqual(
    second.received.map((m) => m.method),
    [
      "initialize",
      "notifications/initialized",
      "logging/setLevel",
      "resources/subscribe",
      "tools/call",
      "notifications/roots/list_changed",
      "tools/list",
    ],
  );
  assert.deepEqual(second.received[0].params, INIT_PARAMS);
  assert.deepEqual(second.received[2].params, { level: "debug" });
  assert.deepEqual(second.received[3].params, { uri: "x://1" });
  const call = await s.h.clientWaitFor(byId(4));
  assert.equal(call.result.content[0].text, `b@${second.pid}`);
  await s.h.clientWaitFor((m) => m.method === "notifications/tools/list_changed");
  // The old server was asked to stop, and only one initialize result reached the client.
  assert.deepEqual(s.h.children[0].signals[0], "SIGTERM");
  assert.equal(s.h.clientReceived.filter((m) => m.result?.serverInfo).length, 1);
  await s.close();
});

Deno.test("a request the old server answers within the grace period gets that answer", async () => {
  const clock = new ManualClock();
  const slow = basicServer(["a"], (child, msg) => {
    if (msg.method === "tools/call" && msg.params.name === "slow") {
      clock.setTimeout(
        () => child.reply(msg, { content: [{ type: "text", text: "slow done" }] }),
        50,
      );
      return true;
    }
    return false;
  });
  const s = start([slow, basicServer()], { graceMs: 2000 }, clock);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "slow" } });
  await s.h.children[0].waitFor((m) => m.params?.name === "slow");
  await s.clock.runUntil(s.router.restart("spec"));
  const response = await s.h.clientWaitFor(byId(9));
  assert.equal(response.result.content[0].text, "slow done");
  await s.close();
});

Deno.test("a request the old server never answers gets an error once the grace period ends", async () => {
  const mute = basicServer(
    ["a"],
    (_c, msg) => msg.method === "tools/call" && msg.params.name === "mute",
  );
  const s = start([mute, basicServer()], { graceMs: 50 });
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: "m", method: "tools/call", params: { name: "mute" } });
  await s.h.children[0].waitFor((m) => m.params?.name === "mute");
  await s.clock.runUntil(s.router.restart("spec")); // the grace period passes
  const response = await s.h.clientWaitFor(byId("m"));
  assert.equal(response.error.code, -32000);
  assert.match(response.error.message, /restarted/);
  await s.close();
});

Deno.test("server→client request ids never collide across generations and replies reach the asker", async () => {
  const asks = basicServer(["a"], (child, msg) => {
    if (msg.method === "tools/call" && msg.params.name === "ask") {
      child.send({
        jsonrpc: "2.0",
        id: 1,
        method: "sampling/createMessage",
        params: { n: child.pid },
      });
      child.reply(msg, { content: [] });
      return true;
    }
    return false;
  });
  const s = start([asks, asks]);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 10, method: "tools/call", params: { name: "ask" } });
  const first = await s.h.clientWaitFor((m) => m.method === "sampling/createMessage");
  s.h.clientSend({ jsonrpc: "2.0", id: first.id, result: { answer: "one" } });
  const gotReply = await s.h.children[0].waitFor((m) => m.result?.answer === "one");
  assert.equal(gotReply.id, 1, "the server gets its own id back");

  await s.router.restart("spec");
  s.h.clientSend({ jsonrpc: "2.0", id: 11, method: "tools/call", params: { name: "ask" } });
  const second = await s.h.clientWaitFor((m) =>
    m.method === "sampling/createMessage" && m.params.n === s.h.children[1].pid
  );
  assert.notEqual(second.id, first.id);
  s.h.clientSend({ jsonrpc: "2.0", id: second.id, result: { answer: "two" } });
  const reply2 = await s.h.children[1].waitFor((m) => m.result?.answer === "two");
  assert.equal(reply2.id, 1);
  await s.close();
});

Deno.test("a reply meant for a generation that is gone is dropped and logged; the client is told of the cancel", async () => {
  const asks = basicServer(["a"], (child, msg) => {
    if (msg.method === "tools/call" && msg.params.name === "ask") {
      child.send({ jsonrpc: "2.0", id: "q", method: "roots/list" });
      return true; // never answers the call itself
    }
    return false;
  });
  const s = start([asks, basicServer()], { graceMs: 20 });
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "ask" } });
  const ask = await s.h.clientWaitFor((m) => m.method === "roots/list");
  await s.clock.runUntil(s.router.restart("spec")); // the grace period passes
  const cancel = await s.h.clientWaitFor((m) => m.method === "notifications/cancelled");
  assert.equal(cancel.params.requestId, ask.id);
  s.h.clientSend({ jsonrpc: "2.0", id: ask.id, result: { roots: [] } });
  s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "ping" });
  await s.h.clientWaitFor(byId(2));
  assert.match(s.h.stderr(), /unknown or expired request/);
  assert.equal(s.h.children[1].received.some((m) => "result" in m), false);
  await s.close();
});

Deno.test("the client's cancellation reaches the server with its own id, and the request is owed nothing more", async () => {
  const mute = basicServer(["a"], (_c, msg) => msg.method === "tools/call");
  const s = start([mute]);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: "c1", method: "tools/call", params: { name: "x" } });
  const call = await s.h.children[0].waitFor((m) => m.method === "tools/call");
  s.h.clientSend({
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: { requestId: "c1", reason: "user" },
  });
  const cancel = await s.h.children[0].waitFor((m) => m.method === "notifications/cancelled");
  assert.deepEqual(cancel.params, { requestId: call.id, reason: "user" });
  // A cancelled request is owed nothing: it holds up no drain and gets no error at shutdown.
  assert.equal(s.router.pendingClientRequests, 0);
  await s.close();
  assert.equal(s.h.clientReceived.find(byId("c1")), undefined);
});

Deno.test("invalid JSON gets a parse error with id null and the session goes on", async () => {
  const s = start([basicServer()]);
  await initialize(s.h);
  s.h.clientSend("{this is not json");
  const err = await s.h.clientWaitFor((m) => m.error?.code === -32700);
  assert.equal(err.id, null);
  s.h.clientSend({ jsonrpc: "2.0", id: 5, method: "ping" });
  assert.deepEqual((await s.h.clientWaitFor(byId(5))).result, {});
  await s.close();
});

Deno.test("valid JSON that is not JSON-RPC gets an invalid-request error", async () => {
  const s = start([basicServer()]);
  await initialize(s.h);
  s.h.clientSend({ id: 8, hello: "world" });
  const err = await s.h.clientWaitFor((m) => m.error?.code === -32600);
  assert.equal(err.id, 8);
  await s.close();
});

Deno.test("a crash answers pending requests with the exit status and the stderr tail, then new ones at once", async () => {
  const clock = new ManualClock();
  const crashy = basicServer(["a"], (child, msg) => {
    if (msg.method === "tools/call" && msg.params.name === "crash") {
      child.writeStderr("Traceback (most recent call last):\nValueError: boom\n");
      clock.setTimeout(() => child.exit({ code: 1, signal: null }), 5);
      return true;
    }
    return false;
  });
  const s = start([crashy, basicServer(["b"])], {}, clock);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "crash" } });
  const err = await s.clock.runUntil(s.h.clientWaitFor(byId(1)));
  assert.equal(err.error.code, -32000);
  assert.match(err.error.message, /exited with code 1/);
  assert.match(err.error.message, /ValueError: boom/);
  assert.equal(err.error.data.exitCode, 1);
  s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "tools/list" });
  const err2 = await s.h.clientWaitFor(byId(2));
  assert.match(err2.error.message, /ValueError: boom/);
  // The next restart recovers without the client reconnecting (after the crash backoff).
  const outcome = await s.clock.runUntil(s.router.restart("fixed"));
  assert.equal(outcome.ok, true);
  s.h.clientSend({ jsonrpc: "2.0", id: 3, method: "tools/list" });
  assert.equal((await s.h.clientWaitFor(byId(3))).result.tools[0].name, "b");
  await s.close();
});

Deno.test("a server that fails to initialize still gives the client a session, recovered by the next restart", async () => {
  const broken = (child: FakeChild, msg: Msg) => {
    if (msg.method === "initialize") {
      child.writeStderr("SyntaxError: unexpected token\n");
      child.exit({ code: 1, signal: null });
    }
  };
  const s = start([broken, basicServer(["fixed"])]);
  const init = await initialize(s.h);
  assert.equal(init.result.serverInfo.name, "mcpmon (fake)");
  assert.equal(init.result.capabilities.tools.listChanged, true);
  s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "tools/list" });
  const err = await s.h.clientWaitFor(byId(2));
  assert.match(err.error.message, /SyntaxError: unexpected token/);
  await s.clock.runUntil(s.router.restart("fixed")); // after the backoff
  await s.h.clientWaitFor((m) => m.method === "notifications/tools/list_changed");
  const second = s.h.children[1];
  assert.deepEqual(second.received.map((m) => m.method).slice(0, 2), [
    "initialize",
    "notifications/initialized",
  ]);
  s.h.clientSend({ jsonrpc: "2.0", id: 3, method: "tools/list" });
  assert.equal((await s.h.clientWaitFor(byId(3))).result.tools[0].name, "fixed");
  await s.close();
});

Deno.test("lines on the server's stdout that are not JSON-RPC are logged, never forwarded", async () => {
  const noisy = basicServer(["a"], (child, msg) => {
    if (msg.method === "ping") child.send("Server says hello, not JSON");
    return false;
  });
  const s = start([noisy]);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "ping" });
  await s.h.clientWaitFor(byId(1));
  s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "ping" });
  await s.h.clientWaitFor(byId(2));
  assert.match(s.h.stderr(), /Server says hello, not JSON/);
  assert.equal(s.h.clientReceived.length, 3);
  await s.close();
});

Deno.test("on client EOF a request in flight is still answered, then the server is stopped", async () => {
  const clock = new ManualClock();
  const slow = basicServer(["a"], (child, msg) => {
    if (msg.method === "tools/call") {
      clock.setTimeout(() => child.reply(msg, { content: [{ type: "text", text: "late" }] }), 30);
      return true;
    }
    return false;
  });
  const s = start([slow], { graceMs: 2000 }, clock);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "a" } });
  await s.h.children[0].waitFor((m) => m.method === "tools/call");
  await s.close(); // runs the clock until the router has closed
  assert.equal(s.h.clientReceived.find(byId(1))?.result.content[0].text, "late");
  assert.equal(s.h.children[0].alive, false);
});

Deno.test("a server that ignores SIGTERM is SIGKILLed after the grace period", async () => {
  const s = start([basicServer(), basicServer()], { graceMs: 30 });
  await initialize(s.h);
  s.h.children[0].ignoreSigterm = true;
  const outcome = await s.clock.runUntil(s.router.restart("spec"));
  assert.equal(outcome.ok, true);
  assert.deepEqual(s.h.children[0].signals.slice(0, 2), ["SIGTERM", "SIGKILL"]);
  assert.match(s.h.stderr(), /did not exit within 30 ms/);
  await s.close();
});

Deno.test("restarts requested while one is under way fold into one more restart", async () => {
  const s = start([basicServer()]);
  await initialize(s.h);
  const a = s.router.restart("one");
  const b = s.router.restart("two");
  const c = s.router.restart("three");
  const outcomes = await Promise.all([a, b, c]);
  // The first cycle was already under way; "two" and "three" fold into a second one.
  assert.equal(s.h.children.length, 3);
  assert.equal(outcomes[2].restart, 2);
  assert.equal(s.router.backend.restarts, 2);
  await s.close();
});

Deno.test("a server that crashes mid-session is restarted on its own, with backoff", async () => {
  const crashy = basicServer(["a"], (child, msg) => {
    if (msg.method === "tools/call" && msg.params.name === "crash") {
      child.exit({ code: 7, signal: null });
      return true;
    }
    return false;
  });
  const s = start([crashy]);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "crash" } });
  assert.match((await s.h.clientWaitFor(byId(1))).error.message, /exited with code 7/);
  // No file change, no restart request: it comes back by itself (after the backoff) and the client
  // is told.
  const second = await s.clock.runUntil(s.h.spawned(2));
  await s.h.clientWaitFor((m) => m.method === "notifications/tools/list_changed");
  s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "a" } });
  assert.equal((await s.h.clientWaitFor(byId(2))).result.content[0].text, `a@${second.pid}`);
  assert.match(s.h.stderr(), /Restarting in 250 ms \(crash 1 of at most 5/);
  await s.close();
});

Deno.test("after too many crashes in the window mcpmon stops restarting on its own, until asked", async () => {
  const crashy = basicServer(["a"], (child, msg) => {
    if (msg.method === "tools/call" && msg.params.name === "crash") {
      child.exit({ code: 2, signal: null });
      return true;
    }
    return false;
  });
  const s = start([crashy], {
    crashBackoff: { windowMs: 60_000, maxCrashes: 2, baseDelayMs: 5, maxDelayMs: 20 },
  });
  await initialize(s.h);
  for (let i = 1; i <= 3; i++) {
    await s.h.spawned(i);
    s.h.clientSend({
      jsonrpc: "2.0",
      id: `crash${i}`,
      method: "tools/call",
      params: { name: "crash" },
    });
    await s.h.clientWaitFor(byId(`crash${i}`));
    if (i < 3) {
      await s.clock.runUntil(
        s.h.clientWaitFor((m) =>
          m.method === "notifications/tools/list_changed" && s.h.children.length > i
        ),
      );
    }
  }
  // Third crash: more than 2 in the window. No fourth process, and requests get the cause at once.
  s.h.clientSend({ jsonrpc: "2.0", id: "after", method: "tools/list" });
  assert.match((await s.h.clientWaitFor(byId("after"))).error.message, /exited with code 2/);
  assert.match(s.h.stderr(), /crashed 3 times in 60 s; not restarting it on its own/);
  assert.equal(s.h.children.length, 3);
  // A restart request (or a file change) still brings it back (after the backoff).
  assert.equal((await s.clock.runUntil(s.router.restart("asked"))).ok, true);
  assert.equal(s.h.children.length, 4);
  await s.close();
});

Deno.test("restart_server is listed with the server's tools and answers with what changed", async () => {
  const s = start([basicServer(["a", "b"]), basicServer(["b", "c"])]);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/list" });
  const list = await s.h.clientWaitFor(byId(1));
  assert.deepEqual(list.result.tools.map((t: Msg) => t.name), ["a", "b", "restart_server"]);
  s.h.clientSend({
    jsonrpc: "2.0",
    id: 2,
    method: "tools/call",
    params: { name: "restart_server", arguments: { reason: "new tools" } },
  });
  // The client does not re-read the tools: the answer comes when the wait for it ends.
  const result = await s.clock.runUntil(s.h.clientWaitFor(byId(2)));
  const text: string = result.result.content[0].text;
  assert.match(text, /^Restarted "fake" \(restart #1\) in \d+ ms; new pid \d+\./);
  assert.match(text, /Tools added: c/);
  assert.match(text, /Tools removed: a/);
  assert.match(text, /Tools changed: none/);
  assert.equal(result.result.isError, undefined);
  assert.equal(s.h.children.length, 2);
  assert.match(s.h.stderr(), /restart_server called: new tools/);
  await s.close();
});

Deno.test("restart_server reports a failed restart with the server's stderr, as a tool error", async () => {
  const broken = (child: FakeChild, msg: Msg) => {
    if (msg.method === "initialize") {
      child.writeStderr("ImportError: no module named foo\n");
      child.exit({ code: 1, signal: null });
    }
  };
  const s = start([basicServer(), broken]);
  await initialize(s.h);
  s.h.clientSend({
    jsonrpc: "2.0",
    id: 2,
    method: "tools/call",
    params: { name: "restart_server" },
  });
  const result = await s.h.clientWaitFor(byId(2));
  assert.equal(result.result.isError, true);
  assert.match(result.result.content[0].text, /failed: .*exited with code 1/s);
  assert.match(result.result.content[0].text, /ImportError: no module named foo/);
  await s.close();
});

Deno.test("a server's own restart_server tool wins; mcpmon's takes another name", async () => {
  const s = start([basicServer(["restart_server"])]);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/list" });
  const list = await s.h.clientWaitFor(byId(1));
  assert.deepEqual(list.result.tools.map((t: Msg) => t.name), [
    "restart_server",
    "mcpmon_restart_server",
  ]);
  s.h.clientSend({
    jsonrpc: "2.0",
    id: 2,
    method: "tools/call",
    params: { name: "restart_server" },
  });
  const own = await s.h.clientWaitFor(byId(2));
  assert.equal(
    own.result.content[0].text,
    `restart_server@${s.h.children[0].pid}`,
    "the server's tool answered",
  );
  assert.match(s.h.stderr(), /has its own "restart_server" tool/);
  await s.close();
});

Deno.test("--no-restart-tool leaves the tool list as the server made it", async () => {
  const s = start([basicServer(["a"])], { restartTool: false });
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/list" });
  assert.deepEqual((await s.h.clientWaitFor(byId(1))).result.tools.map((t: Msg) => t.name), ["a"]);
  await s.close();
});

Deno.test("restarts are spaced by the minimum interval, but the first after launch is not held back", async () => {
  const s = start([basicServer()], { minRestartIntervalMs: 400 });
  await initialize(s.h);
  const waits = () =>
    s.h.stderr().match(/Waiting \d+ ms before starting \(restart throttle\)/g)?.length ?? 0;
  await s.router.restart("first"); // with no clock run: it waited for no timer
  assert.equal(waits(), 0, "the first restart after launch is not held back");
  const t0 = s.clock.now();
  await s.clock.runUntil(s.router.restart("second"));
  assert.equal(waits(), 1, "the second waits out the interval");
  assert.ok(s.clock.now() - t0 >= 350);
  await s.close();
});

Deno.test("before initialize, a ping is answered and any other request gets an error at once", async () => {
  const s = start([basicServer()]);
  s.h.clientSend({ jsonrpc: "2.0", id: "early-ping", method: "ping" });
  s.h.clientSend({ jsonrpc: "2.0", id: "early-list", method: "tools/list" });
  assert.deepEqual((await s.h.clientWaitFor(byId("early-ping"))).result, {});
  const early = await s.h.clientWaitFor(byId("early-list"));
  assert.equal(early.error.code, -32600);
  assert.match(early.error.message, /send initialize first/);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/list" });
  assert.ok((await s.h.clientWaitFor(byId(1))).result.tools);
  await s.close();
});

/** Re-reads the tools `delayMs` (on `clock`) after each tools list_changed, as Claude Code does. */
function relistOnChange(h: FakeHarness, clock: ManualClock, delayMs: number) {
  let n = 0;
  const watch = async () => {
    for (;;) {
      const seen = n;
      await h.clientWaitFor(
        (m) =>
          m.method === "notifications/tools/list_changed" &&
          h.clientReceived.filter((x) => x.method === "notifications/tools/list_changed").length >
            seen,
        Infinity, // for as long as the spec runs
      );
      n++;
      await new Promise<void>((r) => clock.setTimeout(r, delayMs));
      h.clientSend({ jsonrpc: "2.0", id: `relist${n}`, method: "tools/list" });
    }
  };
  watch();
}

Deno.test("restart_server answers only after the client has re-read the tools following list_changed", async () => {
  const s = start([basicServer(["a"]), basicServer(["a", "b"])]);
  await initialize(s.h);
  relistOnChange(s.h, s.clock, 40);
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "r",
    method: "tools/call",
    params: { name: "restart_server", arguments: {} },
  });
  const result = await s.clock.runUntil(s.h.clientWaitFor(byId("r")));
  assert.match(result.result.content[0].text, /Tools added: b/);
  const relist = s.h.clientReceived.findIndex(byId("relist1"));
  assert.ok(relist !== -1, "the client re-listed before the result came");
  assert.ok(relist < s.h.clientReceived.indexOf(result), "the re-list was answered first");
  await s.close();
});

Deno.test("restart_server answers anyway when the client does not re-read the tools in time", async () => {
  const s = start([basicServer(["a"]), basicServer(["a", "b"])]);
  await initialize(s.h);
  const t0 = s.clock.now();
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "r",
    method: "tools/call",
    params: { name: "restart_server", arguments: {} },
  });
  const result = await s.clock.runUntil(s.h.clientWaitFor(byId("r")));
  assert.match(result.result.content[0].text, /Tools added: b/);
  assert.ok(s.clock.now() - t0 >= 900, "it waited for a re-list, bounded");
  await s.close();
});

Deno.test("single mode: the server's own tools list_changed refreshes mcpmon's copy, so the next restart diffs against it", async () => {
  let tools = ["a"];
  const server = basicServer([], (child, msg) => {
    if (msg.method === "tools/list") {
      child.reply(msg, { tools: tools.map((name) => ({ name, inputSchema: { type: "object" } })) });
      return true;
    }
    if (msg.method === "tools/call" && msg.params.name === "grow") {
      tools = ["a", "b"];
      child.send({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
      child.reply(msg, { content: [] });
      return true;
    }
    return false;
  });
  const s = start([server]);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: "g", method: "tools/call", params: { name: "grow" } });
  await s.h.clientWaitFor(byId("g"));
  await s.h.clientWaitFor((m) => m.method === "notifications/tools/list_changed");
  await s.h.children[0].waitFor((m) =>
    m.method === "tools/list" && m.id !== undefined &&
    s.h.children[0].received.filter((x) => x.method === "tools/list").length >= 2
  );
  s.h.clientSend({ jsonrpc: "2.0", id: "l", method: "tools/list" }); // the client re-lists
  await s.h.clientWaitFor(byId("l"));
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "r",
    method: "tools/call",
    params: { name: "restart_server", arguments: {} },
  });
  const result = await s.clock.runUntil(s.h.clientWaitFor(byId("r"))); // no re-list: the wait ends
  assert.match(result.result.content[0].text, /Tools added: none/);
  await s.close();
});

Deno.test("call-through: mcpmon_list_tools shows the live tools with schema hashes; mcpmon_call_tool calls a tool added by a restart", async () => {
  const s = start([basicServer(["a"]), basicServer(["a", "b"])], { callThrough: true });
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: "l0", method: "tools/list" });
  const names = (await s.h.clientWaitFor(byId("l0"))).result.tools.map((t: Msg) => t.name);
  assert.deepEqual(names, ["a", "restart_server", "mcpmon_list_tools", "mcpmon_call_tool"]);
  await s.router.restart("edit");
  // A client that never re-reads its list still reaches the new tool.
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "lt",
    method: "tools/call",
    params: { name: "mcpmon_list_tools", arguments: {} },
  });
  const listed = JSON.parse((await s.h.clientWaitFor(byId("lt"))).result.content[0].text);
  assert.deepEqual(listed.tools.map((t: Msg) => t.name), ["a", "b"]);
  const hash = listed.tools[1].schemaHash;
  assert.match(hash, /^[0-9a-z]{14}$/);
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "c",
    method: "tools/call",
    params: { name: "mcpmon_call_tool", arguments: { name: "b", arguments: {}, schemaHash: hash } },
  });
  const called = await s.h.clientWaitFor(byId("c"));
  assert.equal(called.result.content[0].text, `b@${s.h.children[1].pid}`);
  const unknown = await (async () => {
    s.h.clientSend({
      jsonrpc: "2.0",
      id: "u",
      method: "tools/call",
      params: { name: "mcpmon_call_tool", arguments: { name: "zzz" } },
    });
    return await s.h.clientWaitFor(byId("u"));
  })();
  assert.equal(unknown.result.isError, true);
  assert.match(unknown.result.content[0].text, /No tool named "zzz" now. Tools: a, b/);
  await s.close();
});

Deno.test("call-through: a stale schemaHash is refused with the current schema", async () => {
  let schema: Msg = { type: "object", properties: { x: { type: "string" } } };
  const server = basicServer([], (child, msg) => {
    if (msg.method === "tools/list") {
      child.reply(msg, { tools: [{ name: "t", inputSchema: schema }] });
      return true;
    }
    return false;
  });
  const s = start([server], { callThrough: true });
  await initialize(s.h);
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "lt",
    method: "tools/call",
    params: { name: "mcpmon_list_tools" },
  });
  const old = JSON.parse((await s.h.clientWaitFor(byId("lt"))).result.content[0].text).tools[0];
  schema = { type: "object", properties: { y: { type: "number" } }, required: ["y"] };
  await s.router.restart("schema edit");
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "c",
    method: "tools/call",
    params: {
      name: "mcpmon_call_tool",
      arguments: { name: "t", arguments: { x: "1" }, schemaHash: old.schemaHash },
    },
  });
  const refused = await s.h.clientWaitFor(byId("c"));
  assert.equal(refused.result.isError, true);
  assert.match(refused.result.content[0].text, /has changed since schemaHash/);
  assert.match(refused.result.content[0].text, /"required": \[\s*"y"\s*\]/);
  assert.equal(
    s.h.children[1].received.some((m) => m.method === "tools/call"),
    false,
    "never called",
  );
  await s.close();
});

Deno.test("without --call-through the call-through tools are neither listed nor answered", async () => {
  const s = start([basicServer(["a"])]);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: "l", method: "tools/list" });
  const names = (await s.h.clientWaitFor(byId("l"))).result.tools.map((t: Msg) => t.name);
  assert.deepEqual(names, ["a", "restart_server"]);
  await s.close();
});

Deno.test("in a 2025 session mcpmon's own tools/list reaches the server only after the client's notifications/initialized", async () => {
  const s = start([basicServer(["a"])]);
  s.h.clientSend({ jsonrpc: "2.0", id: "init", method: "initialize", params: INIT_PARAMS });
  await s.h.clientWaitFor(byId("init"));
  const child = s.h.children[0];
  // The client has not sent notifications/initialized yet: nothing of mcpmon's own goes out.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(child.received.map((m) => m.method), ["initialize"]);
  s.h.clientSend({ jsonrpc: "2.0", method: "notifications/initialized" });
  await child.waitFor((m) => m.method === "tools/list");
  assert.deepEqual(child.received.map((m) => m.method), [
    "initialize",
    "notifications/initialized",
    "tools/list",
  ]);
  await s.close();
});

Deno.test("a plain request reaches the server as the client's own bytes, only the id replaced", async () => {
  const s = start([basicServer(["a"])]);
  await initialize(s.h);
  // Spacing and key order no encoder of mcpmon's would produce: kept byte for byte.
  const line = '{ "method" : "tools/call", "id" : 41 ,"params":{"name":"a","x":"é"}, ' +
    '"jsonrpc":"2.0" }';
  s.h.clientSend(line);
  const answer = await s.h.clientWaitFor(byId(41));
  assert.ok(answer.result);
  const child = s.h.children[0];
  const sent = child.receivedLines[child.received.findIndex((m) => m.method === "tools/call")];
  const own = child.received.find((m) => m.method === "tools/call")!.id;
  assert.equal(sent, line.replace(": 41 ,", `: ${own} ,`));
  // What is not a plain request still goes the parsed way: invalid params, mcpmon's own tools.
  s.h.clientSend('{"jsonrpc":"2.0","id":42,"method":"tools/call","params":5}');
  assert.equal((await s.h.clientWaitFor(byId(42))).error.code, -32600);
  s.h.clientSend('{"jsonrpc":"2.0","id":43,"method":"tools/call","params":{"name":"a"},"id":44}');
  await s.h.clientWaitFor((m) => m.id === 44 || m.id === 43);
  await s.close();
});

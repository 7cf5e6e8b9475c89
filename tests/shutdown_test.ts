/**
 * Shutdown wins every race: once mcpmon is stopping, nothing new is started,
 * and whatever a restart started meanwhile is stopped.
 */
import assert from "node:assert/strict";
import type { ServerOptions } from "../src/config.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import {
  basicServer,
  type FakeChild,
  type FakeHarness,
  fakeServer,
  initializeClient,
  type Msg,
  startRouter,
} from "./_fake_runtime.ts";

/** A router over one fake server, in virtual time (`clock`: the spec's own, when it needs it). */
function start(
  handles: ((c: FakeChild, m: Msg) => void)[],
  overrides: Partial<ServerOptions>,
  clock = new ManualClock(),
) {
  const server = fakeServer("fake", { restartTool: false, ...overrides });
  return { ...startRouter(handles, [server], { clock }), clock };
}

const initialize = (h: FakeHarness) => initializeClient(h);

/** A server whose tool `slow` is never answered (so a restart's drain waits). */
const slowServer = basicServer(["slow"], (_child, msg) => msg.params?.name === "slow");

Deno.test("a shutdown while a restart drains starts no new server", async () => {
  const s = start([slowServer], { graceMs: 300 });
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "slow" } });
  await s.h.children[0].waitFor((m) => m.method === "tools/call");
  const restarting = s.router.restart("file change");
  await s.router.close({ drain: false }); // SIGTERM during the drain
  const outcome = await restarting;
  assert.equal(outcome.ok, false);
  assert.equal(s.h.children.length, 1, "no server was started after shutdown began");
  assert.ok(s.h.children.every((c) => !c.alive));
  await s.h.clientWaitFor((m) => m.id === 1 && m.error !== undefined);
});

Deno.test("a shutdown while a restart waits on the throttle starts no new server", async () => {
  const s = start([basicServer()], { minRestartIntervalMs: 5_000 });
  await initialize(s.h);
  await s.router.restart("first"); // the first restart is never held back
  const held = s.router.restart("second"); // waits ~5 s for the throttle
  await s.router.close({ drain: false });
  assert.equal((await held).ok, false);
  assert.equal(s.h.children.length, 2);
  assert.ok(s.h.children.every((c) => !c.alive));
});

Deno.test("a server started just before shutdown began is stopped too", async () => {
  // The second server is slow to answer initialize: shutdown arrives while it starts.
  let initializing: (() => void) | undefined;
  const clock = new ManualClock();
  const slowInit = basicServer(["a"], (child, msg) => {
    if (msg.method !== "initialize") return false;
    initializing?.();
    clock.setTimeout(() => basicServer()(child, msg), 200);
    return true;
  });
  const s = start([basicServer(), slowInit], {}, clock);
  await initialize(s.h);
  const started = new Promise<void>((resolve) => initializing = resolve);
  const restarting = s.router.restart("file change");
  await started;
  await s.router.close({ drain: false });
  await restarting;
  assert.equal(s.h.children.length, 2);
  assert.ok(s.h.children.every((c) => !c.alive), "every server that was started is stopped");
});

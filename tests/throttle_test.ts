import assert from "node:assert/strict";
import { Throttle } from "../src/throttle.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import {
  basicServer,
  fakeServer,
  initializeClient,
  type Msg,
  startRouter,
} from "./_fake_runtime.ts";

const BACKOFF = { windowMs: 60_000, maxCrashes: 5, baseDelayMs: 250, maxDelayMs: 8000 };

Deno.test("restarts are spaced by the minimum interval; the first is never held back", () => {
  const clock = new ManualClock(5_000);
  const throttle = new Throttle({ minIntervalMs: 300, crashBackoff: BACKOFF }, clock);
  assert.equal(throttle.wait(), 0);
  throttle.restarted();
  assert.equal(throttle.wait(), 300);
  clock.advance(120);
  assert.equal(throttle.wait(), 180);
  clock.advance(500);
  assert.equal(throttle.wait(), 0);
});

Deno.test("failures back off exponentially from the last one, up to the maximum", () => {
  const clock = new ManualClock();
  const throttle = new Throttle({ minIntervalMs: 0, crashBackoff: BACKOFF }, clock);
  const waits: number[] = [];
  for (let i = 0; i < 7; i++) {
    throttle.failed();
    waits.push(throttle.wait());
  }
  assert.deepEqual(waits, [250, 500, 1000, 2000, 4000, 8000, 8000]);
  clock.advance(3000);
  assert.equal(throttle.wait(), 5000, "counted from the last failure");
});

Deno.test("failures older than the window no longer count, and past the limit it gives up", () => {
  const clock = new ManualClock();
  const throttle = new Throttle({ crashBackoff: BACKOFF }, clock);
  for (let i = 0; i < 6; i++) throttle.failed();
  assert.equal(throttle.givesUp(), true);
  clock.advance(60_000);
  assert.equal(throttle.recentFailures, 0);
  assert.equal(throttle.givesUp(), false);
  assert.equal(throttle.wait(), 0);
});

Deno.test("a crashed server comes back after the backoff, in virtual time", async () => {
  const clock = new ManualClock(1_000_000);
  const crashy = basicServer(["a"], (child, msg) => {
    if (msg.method !== "tools/call" || msg.params.name !== "crash") return false;
    child.exit({ code: 7, signal: null });
    return true;
  });
  const s = startRouter([crashy], [fakeServer("fake", { crashBackoff: BACKOFF })], { clock });
  await initializeClient(s.h, false);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "crash" } });
  await s.h.clientWaitFor((m: Msg) => m.id === 1);
  for (let i = 0; i < 500 && !/Restarting in 250 ms/.test(s.h.stderr()); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1)); // the exit is being handled
  }
  clock.advance(249);
  assert.equal(s.h.children.length, 1, "not before the backoff");
  clock.advance(1);
  await s.h.spawned(2);
  await s.close();
});

/**
 * Requests that wait for a starting server are bounded: past the high-water
 * mark, mcpmon stops reading the client until the server takes them.
 */
import assert from "node:assert/strict";
import { basicServer, fakeServer, INIT_PARAMS, type Msg, startRouter } from "./_fake_runtime.ts";

Deno.test("past 16 Mi of queued requests the client's reader waits until the server takes them", async () => {
  let release: (() => void) | undefined;
  const slowStart = basicServer(["a"], (child, msg) => {
    if (msg.method !== "initialize") return false;
    release = () => basicServer(["a"])(child, msg);
    return true;
  });
  const s = startRouter([slowStart], [fakeServer("fake", { restartTool: false })]);
  s.router.handleClientLine(
    JSON.stringify({ jsonrpc: "2.0", id: "init", method: "initialize", params: INIT_PARAMS }),
  );
  const big = "x".repeat(1024 * 1024);
  const waits: (Promise<void> | undefined)[] = [];
  for (let i = 0; i < 20; i++) {
    waits.push(s.router.handleClientLine(JSON.stringify({
      jsonrpc: "2.0",
      id: i,
      method: "tools/call",
      params: { name: "a", arguments: { text: big } },
    })));
  }
  const firstWait = waits.findIndex((w) => w !== undefined);
  assert.ok(
    firstWait >= 14 && firstWait <= 16,
    `the reader is held from the 16th MiB on (${firstWait})`,
  );
  let released = false;
  const held = waits[firstWait]!.then(() => released = true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(released, false, "held while the server starts");
  while (!release) await new Promise((resolve) => setTimeout(resolve, 1));
  release();
  await held;
  for (let i = 0; i < 20; i++) await s.h.clientWaitFor((m: Msg) => m.id === i && "result" in m);
  await s.close();
});

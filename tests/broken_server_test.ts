/**
 * A server whose connection breaks while its process runs on (stdout closed,
 * a message over the limit, a reply mcpmon cannot forward) costs the client
 * an error, never a hang, and the server is restarted.
 */
import assert from "node:assert/strict";
import type { ServerOptions } from "../src/config.ts";
import { LineSplitter, peekId } from "../src/jsonrpc.ts";
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

/** A router over one fake server, in virtual time. */
function start(
  handles: ((c: FakeChild, m: Msg) => void)[],
  overrides: Partial<ServerOptions> = {},
) {
  const clock = new ManualClock();
  return { ...startRouter(handles, [fakeServer("fake", overrides)], { clock }), clock };
}

const initialize = (h: FakeHarness) => initializeClient(h);

const answered = (id: unknown) => (m: Msg) => m.id === id && ("result" in m || "error" in m);

Deno.test("a server that closes its stdout but keeps running: requests get an error, then it restarts", async () => {
  const silent = basicServer(["a"], (child, msg) => {
    if (msg.params?.name !== "hang") return false;
    child.closeStdout(); // still running, but nothing it says reaches mcpmon any more
    return true;
  });
  const s = start([silent, basicServer(["a"])], { restartTool: false });
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "hang" } });
  // Broken once it still runs a moment after its stdout ended.
  const error = await s.clock.runUntil(s.h.clientWaitFor(answered(1)));
  assert.match(error.error.message, /closed its stdout/);
  assert.ok(!s.h.children[0].alive, "the broken process is stopped");
  await s.clock.runUntil(s.h.spawned(2)); // after the crash backoff
  s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "a" } });
  const ok = await s.h.clientWaitFor(answered(2));
  assert.equal(ok.result.content[0].text, `a@${s.h.children[1].pid}`);
  await s.close();
});

Deno.test("a server message over the size limit ends that process, and the request gets an error", async () => {
  const huge = basicServer(["a"], (child, msg) => {
    if (msg.params?.name !== "huge") return false;
    child.reply(msg, { content: [{ type: "text", text: "x".repeat(10_000) }] });
    return true;
  });
  const s = start([huge, basicServer(["a"])], { restartTool: false, maxMessageBytes: 4096 });
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "huge" } });
  const error = await s.clock.runUntil(s.h.clientWaitFor(answered(1)));
  assert.match(error.error.message, /over the limit of 4096 bytes/);
  await s.clock.runUntil(s.h.spawned(2)); // after the crash backoff
  s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "a" } });
  assert.ok((await s.h.clientWaitFor(answered(2))).result);
  await s.close();
});

Deno.test("a tools/list too deep to serialize again gets an error, and the session goes on", async () => {
  let deep: Msg = { type: "string" };
  for (let i = 0; i < 20_000; i++) deep = { type: "object", properties: { x: deep } };
  const deepList = basicServer(["a"], (child, msg) => {
    if (msg.method !== "tools/list") return false;
    child.send(
      `{"jsonrpc":"2.0","id":${msg.id},"result":{"tools":[{"name":"d","inputSchema":` +
        JSON.stringify(deep).replace(/^/, "") + `}]}}`,
    );
    return true;
  });
  const s = start([deepList]);
  await initialize(s.h);
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/list" });
  const answer = await s.h.clientWaitFor(answered(1));
  assert.ok(answer.error, "an error, not a hang");
  s.h.clientSend({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "a" } });
  assert.ok((await s.h.clientWaitFor(answered(2))).result, "the session goes on");
  await s.close();
});

Deno.test("an oversized line is dropped up to its newline, reported with its start, and reading goes on", () => {
  const reports: [number, string][] = [];
  const splitter = new LineSplitter({
    maxLineBytes: 10,
    onOversized: (n, head) => reports.push([n, head]),
  });
  const enc = new TextEncoder();
  assert.deepEqual(splitter.push(enc.encode('{"id":1}\n{"id":2,"x":"')), ['{"id":1}']);
  assert.deepEqual(splitter.push(enc.encode("aaaaaaaaaaaaaaaaaaaa")), []);
  assert.deepEqual(splitter.push(enc.encode('aa"}\n{"id":3}\n')), ['{"id":3}']);
  assert.deepEqual(reports.map(([n]) => n), [37]);
  assert.equal(peekId(reports[0][1]), 2);
  // A whole oversized line inside one chunk.
  assert.deepEqual(splitter.push(enc.encode('{"id":"big","x":"aaaaaaaaaa"}\nok\n')), ["ok"]);
  assert.equal(peekId(reports[1][1]), "big");
});

Deno.test("an initialize timeout names the server, --init-timeout and the stderr tail", async () => {
  const mute = basicServer(["a"], (child, msg) => {
    if (msg.method !== "initialize") return false;
    child.writeStderr("loading model weights...\n");
    return true; // never answered
  });
  const s = start([mute], { initTimeoutMs: 100, restartTool: false });
  await s.clock.runUntil(initializeClient(s.h, false)); // answered when the timeout passes
  s.h.clientSend({ jsonrpc: "2.0", id: 1, method: "tools/list" });
  const error = await s.clock.runUntil(s.h.clientWaitFor(answered(1))); // the timeout passes
  assert.match(error.error.message, /server "fake" did not answer initialize within 100 ms/);
  assert.match(error.error.message, /--init-timeout/);
  assert.match(error.error.message, /loading model weights/);
  // The log shows the stderr line once (as it came), not again inside the error.
  assert.equal(s.h.stderr().match(/loading model weights/g)?.length, 1, s.h.stderr());
  await s.close();
});

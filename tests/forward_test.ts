/**
 * The response fast path (`Pending.forward` in src/generation.ts, used by the router's delivery):
 * a server's response that mcpmon passes on untouched goes to the client as the server's own
 * bytes with only the top-level id swapped, never parsed and serialized again; anything it
 * cannot read exactly takes the parsed way, as before.
 */
import assert from "node:assert/strict";
import { readLines } from "../src/jsonrpc.ts";
import { Logger } from "../src/log.ts";
import { Router } from "../src/router.ts";
import type { Runtime } from "../src/runtime/mod.ts";
import { basicServer, type FakeChild, fakeRuntime, fakeServer, type Msg } from "./_fake_runtime.ts";

/** A router on the fake runtime whose stdout lines are also kept as raw text. */
function start(handle: (child: FakeChild, msg: Msg) => void) {
  const h = fakeRuntime([handle]);
  const raw: string[] = [];
  const decoder = new TextDecoder();
  const writer = h.runtime.stdout.getWriter();
  const stdout = new WritableStream<Uint8Array>({
    write(chunk) {
      raw.push(...decoder.decode(chunk).split("\n").filter((l) => l !== ""));
      return writer.write(chunk);
    },
    close: () => writer.close(),
  });
  const runtime: Runtime = Object.create(h.runtime, { stdout: { value: stdout } });
  const log = new Logger(runtime, { level: "debug", timestamps: false });
  const router = new Router(runtime, log, [fakeServer("fake")]);
  router.start();
  const loop = readLines(runtime.stdin, (line) => router.handleClientLine(line));
  return {
    h,
    raw,
    async close() {
      h.clientClose();
      await loop;
      await router.close({ drain: true });
    },
  };
}

async function initialize(s: ReturnType<typeof start>) {
  s.h.clientSend({
    jsonrpc: "2.0",
    id: "init",
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "t", version: "1" },
    },
  });
  await s.h.clientWaitFor((m) => m.id === "init");
  s.h.clientSend({ jsonrpc: "2.0", method: "notifications/initialized" });
}

/** A server that answers `tools/call` with `text(id)`, its own raw line. */
function rawAnswers(text: (id: number, msg: Msg) => string) {
  return basicServer(["a"], (child, msg) => {
    if (msg.method !== "tools/call") return false;
    child.send(text(msg.id, msg));
    return true;
  });
}

Deno.test("a server's response reaches the client as the server's own bytes, only the top-level id swapped", async () => {
  // The id in the middle, odd whitespace, an escaped quote, a nested "id": no encoder's layout.
  const s = start(
    rawAnswers((id) =>
      `{ "result" : {"id":5, "text":"a\\"b é", "content":[]} ,  "id" : ${id} ,"jsonrpc":"2.0" }`
    ),
  );
  await initialize(s);
  s.h.clientSend({ jsonrpc: "2.0", id: "client-7", method: "tools/call", params: { name: "a" } });
  await s.h.clientWaitFor((m) => m.id === "client-7");
  assert.ok(
    s.raw.includes(
      `{ "result" : {"id":5, "text":"a\\"b é", "content":[]} ,  "id" : "client-7" ,"jsonrpc":"2.0" }`,
    ),
    s.raw.join("\n"),
  );
  await s.close();
});

Deno.test("a response the scanner will not vouch for (a duplicated id) still reaches the client, the parsed way", async () => {
  const s = start(rawAnswers((id) => `{"jsonrpc":"2.0","id":"junk","id":${id},"result":{"n":1}}`));
  await initialize(s);
  s.h.clientSend({ jsonrpc: "2.0", id: 41, method: "tools/call", params: { name: "a" } });
  const response = await s.h.clientWaitFor((m) => m.id === 41);
  assert.deepEqual(response.result, { n: 1 });
  await s.close();
});

Deno.test("a malformed response line from the server is logged, not forwarded", async () => {
  const s = start(
    rawAnswers((id, msg) =>
      msg.params.name === "cut"
        ? `{"jsonrpc":"2.0","id":${id},"result":{"text":"cut`
        : `{"jsonrpc":"2.0","id":${id},"result":{}}`
    ),
  );
  await initialize(s);
  s.h.clientSend({ jsonrpc: "2.0", id: "x", method: "tools/call", params: { name: "cut" } });
  s.h.clientSend({ jsonrpc: "2.0", id: "y", method: "tools/call", params: { name: "a" } });
  await s.h.clientWaitFor((m) => m.id === "y");
  assert.ok(!s.raw.some((l) => l.includes("cut")), s.raw.join("\n"));
  assert.match(s.h.stderr(), /not JSON-RPC, not forwarded/);
  await s.close();
});

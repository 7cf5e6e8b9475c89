import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../src/run.ts";
import { liveTracePath, Tracer, type TraceRecord } from "../src/trace.ts";
import { formatRecord } from "../src/trace_command.ts";
import { liveTrace } from "../src/registry.ts";
import { basicServer, fakeRuntime, fakeServer } from "./_fake_runtime.ts";

const INIT = {
  jsonrpc: "2.0",
  id: 0,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "t", version: "1" },
  },
};

function capture() {
  const files = new Map<string, string>();
  return {
    files,
    appendFile: (path: string, text: string) =>
      void files.set(path, (files.get(path) ?? "") + text),
    records: (path: string): TraceRecord[] =>
      (files.get(path) ?? "").split("\n").filter(Boolean).map((l) => JSON.parse(l)),
  };
}

Deno.test("a trace record has time, direction, server, pid, method, id, size and the message", () => {
  const sink = capture();
  const tracer = new Tracer(sink, { file: "/t.jsonl", pid: 1, now: () => Date.UTC(2026, 0, 1) });
  tracer.record("server→mcpmon", '{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage"}', {
    server: "srv",
    pid: 42,
  });
  tracer.record("server→mcpmon", "not json: é", { server: "srv", pid: 42 });
  tracer.close();
  const [a, b] = sink.records("/t.jsonl");
  assert.deepEqual(a, {
    time: "2026-01-01T00:00:00.000Z",
    dir: "server→mcpmon",
    server: "srv",
    pid: 42,
    method: "sampling/createMessage",
    id: 7,
    bytes: 58,
    message: { jsonrpc: "2.0", id: 7, method: "sampling/createMessage" },
  });
  assert.equal(b.message, "not json: é");
  assert.equal(b.bytes, 12, "size in UTF-8 bytes");
});

Deno.test("--trace records every message in both directions, mcpmon's own requests included", async () => {
  const h = fakeRuntime([basicServer()]);
  const sink = capture();
  h.runtime.appendFile = sink.appendFile;
  const server = fakeServer("fake", { command: Deno.execPath() });
  const done = run(h.runtime, server, { level: "error", timestamps: false, trace: "/trace.jsonl" });
  h.clientSend(INIT);
  await h.clientWaitFor((m) => m.id === 0);
  h.clientSend({ jsonrpc: "2.0", method: "notifications/initialized" });
  h.clientSend({ jsonrpc: "2.0", id: "list-1", method: "tools/list" });
  await h.clientWaitFor((m) => m.id === "list-1");
  h.clientClose();
  assert.equal(await done, 0);
  const records = sink.records("/trace.jsonl");
  const seen = records.map((r) => `${r.dir} ${r.method ?? ""} ${JSON.stringify(r.id ?? null)}`);
  const pid = h.children[0].pid;
  assert.ok(seen.includes(`client→mcpmon initialize 0`), seen.join("\n"));
  assert.ok(seen.includes(`mcpmon→server initialize 1`), seen.join("\n"));
  assert.ok(seen.includes(`server→mcpmon  1`), seen.join("\n"));
  assert.ok(seen.includes(`mcpmon→client  0`), seen.join("\n"));
  // mcpmon reads the tools itself once the client's session is under way (after its
  // notifications/initialized), and the client's own tools/list goes through: both are traced.
  const initialized = records.findIndex((r) =>
    r.dir === "mcpmon→server" && r.method === "notifications/initialized"
  );
  const toServer = records.filter((r) => r.dir === "mcpmon→server" && r.method === "tools/list");
  assert.equal(toServer.length, 2, "mcpmon's own tools/list and the client's");
  assert.ok(records.indexOf(toServer[0]) > initialized, "after notifications/initialized");
  assert.deepEqual(
    records.filter((r) => r.id === "list-1").map((r) => r.dir),
    ["client→mcpmon", "mcpmon→client"],
  );
  const serverSide = records.filter((r) => r.dir === "mcpmon→server" || r.dir === "server→mcpmon");
  assert.ok(serverSide.every((r) => r.server === "fake" && r.pid === pid), "server name and pid");
  for (const request of toServer) {
    assert.ok(records.some((r) => r.dir === "server→mcpmon" && r.id === request.id));
  }
});

Deno.test("an instance nobody traces writes nothing", async () => {
  const h = fakeRuntime([basicServer()]);
  const sink = capture();
  h.runtime.appendFile = sink.appendFile;
  const done = run(h.runtime, fakeServer("fake", { command: Deno.execPath() }), {
    level: "error",
    timestamps: false,
  });
  h.clientSend(INIT);
  await h.clientWaitFor((m) => m.id === 0);
  h.clientClose();
  await done;
  assert.equal(sink.files.size, 0);
});

Deno.test("live tracing runs while a live follower's request file exists, then removes its file", () => {
  const dir = Deno.makeTempDirSync({ prefix: "mcpmon-trace-" });
  try {
    let now = 0;
    const written: string[] = [];
    const tracer = new Tracer({
      appendFile: (path, text) => {
        written.push(path);
        writeFileSync(path, text, { flag: "a" });
      },
    }, { live: liveTrace(dir), pid: 4242, now: () => now });
    tracer.record("client→mcpmon", '{"jsonrpc":"2.0","method":"x"}', {});
    tracer.flush();
    assert.deepEqual(written, [], "not followed: nothing written");

    const request = join(dir, `4242.trace.${Deno.pid}.json`);
    writeFileSync(request, "{}");
    assert.equal(tracer.poll(), 1, "one new follower");
    assert.equal(tracer.poll(), 0, "the same follower is not new");
    tracer.record("client→mcpmon", '{"jsonrpc":"2.0","method":"y"}', {});
    tracer.flush();
    const live = liveTracePath(dir, 4242);
    assert.match(readFileSync(live, "utf8"), /"method":"y"/);

    Deno.removeSync(request);
    now += 500;
    tracer.record("client→mcpmon", '{"jsonrpc":"2.0","method":"z"}', {});
    tracer.flush();
    assert.match(readFileSync(live, "utf8"), /"method":"z"/, "checked at most once a second");
    now += 1000;
    tracer.record("client→mcpmon", '{"jsonrpc":"2.0","method":"after"}', {});
    tracer.flush();
    assert.equal(existsSync(live), false, "follower gone: the live file is removed");

    writeFileSync(join(dir, "4242.trace.999999999.json"), "{}");
    assert.equal(tracer.poll(), 0, "a dead follower does not count");
    assert.equal(
      existsSync(join(dir, "4242.trace.999999999.json")),
      false,
      "and its file is removed",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("formatRecord shows time, direction, server:pid, method, id, size and a cut message", () => {
  const line = JSON.stringify({
    time: "2026-01-01T10:00:00.123Z",
    dir: "mcpmon→server",
    server: "srv",
    pid: 9,
    method: "tools/call",
    id: 3,
    bytes: 300,
    message: { text: "x".repeat(300) },
  });
  const text = formatRecord(line, false);
  assert.match(text, /^10:00:00\.123 mcpmon→server srv:9 tools\/call id=3 300 B \{"text":"x+…\n$/);
  assert.ok(formatRecord(line, true).length > 300);
});

Deno.test("a trace file that cannot be written is reported once, and tracing goes on without it", () => {
  const errors: string[] = [];
  let calls = 0;
  const tracer = new Tracer({
    appendFile: () => {
      calls++;
      throw new Error("EACCES: permission denied");
    },
  }, { file: "/ro/t.jsonl", pid: 1, onError: (path, err) => errors.push(`${path}: ${err}`) });
  for (let i = 0; i < 3; i++) {
    tracer.record("client→mcpmon", '{"jsonrpc":"2.0","method":"x"}', {});
    tracer.flush();
  }
  assert.deepEqual(errors, ["/ro/t.jsonl: Error: EACCES: permission denied"]);
  assert.equal(calls, 1, "not tried again");
});

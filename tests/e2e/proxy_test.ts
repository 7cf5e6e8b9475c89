/**
 * The core promise, end to end: the real CLI as a process, the SDK client on
 * its stdio, real fixture servers behind it.
 */
import assert from "node:assert/strict";
import {
  callText,
  DEFAULT_TIMEOUT_MS,
  defaultLauncher,
  makeFixtureDir,
  processAlive,
  SDK_SERVER,
  startMcpmon,
  waitUntil,
  WELL_BEHAVED,
} from "./_harness.ts";

const FAST = ["--debounce", "30"];

Deno.test("an edit restarts the server: list_changed, then the new tool answers from a new pid", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST],
    server: ["node", fx.serverPath],
  });
  const before = (await mon.client.listTools()).tools.map((t: { name: string }) => t.name);
  assert.ok(before.includes("hello"));
  assert.ok(!before.includes("goodbye"));
  const pid1 = await callText(mon.client, "pid");

  const mark = mon.notificationCount();
  await fx.writeTools([{ name: "hello", text: "hello v2" }, { name: "goodbye", text: "bye" }]);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });

  const after = (await mon.client.listTools()).tools.map((t: { name: string }) => t.name);
  assert.ok(after.includes("goodbye"));
  assert.equal(await callText(mon.client, "hello"), "hello v2");
  assert.equal(await callText(mon.client, "goodbye"), "bye");
  const pid2 = await callText(mon.client, "pid");
  assert.notEqual(pid2, pid1);
  assert.equal(processAlive(Number(pid1)), false, "the old server is gone");
  await mon.waitForStderr(/Restart #1 complete/);
});

Deno.test("the client sees listChanged: true for each list the server declares", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED] });
  const caps = mon.client.getServerCapabilities();
  assert.deepEqual(caps?.tools, { listChanged: true });
  assert.deepEqual(caps?.prompts, { listChanged: true });
  assert.deepEqual(caps?.resources, { subscribe: true, listChanged: true });
  assert.deepEqual(caps?.logging, {});
  assert.equal(mon.client.getServerVersion()?.name, "well-behaved");
});

Deno.test("a new server receives the client's session: clientInfo, initialized, log level, subscriptions", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST],
    server: ["node", fx.serverPath],
    clientInfo: { name: "session-spec", version: "9.9.9" },
  });
  await mon.client.setLoggingLevel("warning");
  await mon.client.subscribeResource({ uri: "fixture://pid" });
  await mon.client.subscribeResource({ uri: "fixture://other" });
  await mon.client.unsubscribeResource({ uri: "fixture://other" });
  const first = JSON.parse(await callText(mon.client, "session"));

  const mark = mon.notificationCount();
  await fx.writeTools([{ name: "hello", text: "again" }]);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  const second = JSON.parse(await callText(mon.client, "session"));

  assert.notEqual(second.pid, first.pid);
  assert.deepEqual(second.clientInfo, { name: "session-spec", version: "9.9.9" });
  assert.equal(second.protocolVersion, first.protocolVersion);
  assert.deepEqual(second.clientCapabilities, first.clientCapabilities);
  assert.equal(second.initializeCount, 1);
  assert.equal(second.initialized, true);
  assert.equal(second.logLevel, "warning");
  assert.deepEqual(second.subscriptions, ["fixture://pid"]);
});

Deno.test("100 calls in flight and 100 sent during a reload are all answered correctly", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST, "--grace", "5000"],
    server: ["node", fx.serverPath],
  });
  const call = (i: number, ms: number) =>
    mon.client.callTool({ name: "delay", arguments: { ms, text: `r${i}` } }, undefined, {
      timeout: DEFAULT_TIMEOUT_MS * 2,
    });
  const inFlight = Array.from({ length: 100 }, (_, i) => call(i, 200 + (i % 10) * 20));
  const mark = mon.notificationCount();
  await fx.writeTools([{ name: "hello", text: "reloaded" }]);
  await mon.waitForStderr(/Restarting/);
  const during = Array.from({ length: 100 }, (_, i) => call(100 + i, 0));
  const results = await Promise.all([...inFlight, ...during]);
  results.forEach((r: { isError?: unknown; content?: unknown }, i: number) => {
    assert.equal(r.isError, undefined, `call ${i} failed: ${JSON.stringify(r)}`);
    assert.equal((r.content as { text: string }[])[0].text, `r${i}`);
  });
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  assert.equal(await callText(mon.client, "hello"), "reloaded");
});

Deno.test("a sampling request from the server reaches the client and its answer gets back", async () => {
  await using mon = await startMcpmon({
    server: ["node", WELL_BEHAVED],
    onSample: (prompt) => `answer to ${prompt}`,
  });
  assert.equal(await callText(mon.client, "sample", { prompt: "2+2" }), "answer to 2+2");
  assert.equal(await callText(mon.client, "sample", { prompt: "again" }), "answer to again");
  assert.equal(mon.serverRequests.filter((r) => r.method === "sampling/createMessage").length, 2);
});

Deno.test("server notifications (logging, progress) reach the client", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED] });
  const mark = mon.notificationCount();
  await callText(mon.client, "log", { level: "error", data: "bad thing" });
  const message = await mon.waitForNotification("notifications/message", { after: mark });
  assert.deepEqual(message.params, { level: "error", logger: "fixture", data: "bad thing" });
  const progress: number[] = [];
  // Spaced out: the SDK client drops progress that arrives in the same read as the result.
  await mon.client.callTool(
    { name: "progress", arguments: { steps: 3, intervalMs: 20 } },
    undefined,
    {
      onprogress: (p: { progress: number }) => progress.push(p.progress),
    },
  );
  assert.deepEqual(progress, [1, 2, 3]);
});

Deno.test("multi-megabyte results full of multibyte characters pass intact", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED] });
  const bytes = 8 * 1024 * 1024;
  const text = await callText(mon.client, "big", { bytes });
  assert.equal(new TextEncoder().encode(text).length, bytes);
  assert.equal(text, "é漢🙂a".repeat(bytes / 10 | 0) + "a".repeat(bytes % 10));
  const echoed = await callText(mon.client, "echo", { text: text.slice(0, 1_000_000) });
  assert.equal(echoed, text.slice(0, 1_000_000));
});

Deno.test("a server written with the SDK's McpServer works through mcpmon", async () => {
  await using mon = await startMcpmon({ server: [Deno.execPath(), "run", "-A", SDK_SERVER] });
  assert.equal(await callText(mon.client, "add", { a: 2, b: 40 }), "42");
  assert.ok(mon.client.getServerCapabilities()?.tools?.listChanged);
});

Deno.test("client EOF stops the server's process group and mcpmon exits 0", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED, "--fork"] });
  const pid = Number(await callText(mon.client, "pid"));
  const [grandchild] = JSON.parse(await callText(mon.client, "children")) as number[];
  assert.ok(processAlive(grandchild));
  mon.endStdin();
  assert.deepEqual(await mon.waitForExit(), { code: 0, signal: null });
  await waitUntil(
    () => !processAlive(pid) && !processAlive(grandchild),
    5000,
    "server and grandchild exit",
  );
});

Deno.test("SIGTERM to mcpmon stops the server and exits 0", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED] });
  const pid = Number(await callText(mon.client, "pid"));
  Deno.kill(mon.pid!, "SIGTERM");
  assert.deepEqual(await mon.waitForExit(), { code: 0, signal: null });
  await waitUntil(() => !processAlive(pid), 5000, "server exits");
});

/** Runs the CLI to completion with `args`, stdin closed at once. */
async function runCli(args: string[]) {
  const [command, ...launcher] = defaultLauncher();
  const out = await new Deno.Command(command, {
    args: [...launcher, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("an unknown flag prints what is wrong plus usage and exits 2", async () => {
  const r = await runCli(["--frobnicate", "--", "node", "x.js"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--frobnicate/);
  assert.match(r.stderr, /mcpmon \[options\] -- <command>/);
  assert.equal(r.stdout, "", "nothing but JSON-RPC ever goes to stdout");
});

Deno.test("a missing server command is a usage error (exit 2)", async () => {
  const r = await runCli(["--watch", "."]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /missing server command/);
});

Deno.test("--help prints usage and exits 0; --version prints the version", async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout + help.stderr, /--watch/);
  const version = await runCli(["--version"]);
  assert.equal(version.code, 0);
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.match(
    version.stdout + version.stderr,
    new RegExp(denoJson.version.replaceAll(".", "\\.")),
  );
});

/**
 * Surviving everything a server under development does: crashes, hangs,
 * junk on stdout, children of its own, bad input, huge messages, pressure.
 */
import assert from "node:assert/strict";
import {
  callText,
  makeFixtureDir,
  processAlive,
  processTree,
  startMcpmon,
  waitUntil,
  WELL_BEHAVED,
  WRAPPER,
} from "./_harness.ts";
import { RawMcpmon, rssBytes } from "./_raw.ts";

const FAST = ["--debounce", "30"];

Deno.test("a crash at start answers requests with the exit code and stderr, and the next good edit recovers", async () => {
  await using fx = await makeFixtureDir();
  const good = await Deno.readTextFile(fx.serverPath);
  await Deno.writeTextFile(fx.serverPath, good + "\nfunction broken( {\n");
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST],
    server: ["node", fx.serverPath],
  });
  // The client still gets a session (mcpmon answered initialize for the broken server).
  const t0 = performance.now();
  const err = await mon.client.listTools().then(() => null, (e: Error) => e);
  assert.ok(err, "tools/list must fail while the server is broken");
  assert.ok(performance.now() - t0 < 5000, "the error comes promptly, not after a timeout");
  assert.match(err.message, /exited with code 1/);
  assert.match(err.message, /SyntaxError/);

  const mark = mon.notificationCount();
  await Deno.writeTextFile(fx.serverPath, good);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  assert.equal(await callText(mon.client, "hello"), "hello v1");
});

Deno.test("a crash during initialize names the exit code and the stderr tail", async () => {
  await using mon = await startMcpmon({
    server: ["node", WELL_BEHAVED, "--crash-on-init", "--stderr-lines=3"],
  });
  const err = await mon.client.callTool({ name: "pid", arguments: {} }).then(
    () => null,
    (e: Error) => e,
  );
  assert.match(String(err?.message), /exited with code 3/);
  assert.match(String(err?.message), /stderr line 3/);
});

Deno.test("a crash mid-session errors the pending request, then the server comes back on its own", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED, "--crash-on-tool=echo"] });
  const pid1 = await callText(mon.client, "pid");
  const mark = mon.notificationCount();
  const err = await mon.client.callTool({ name: "echo", arguments: { text: "x" } }).then(
    () => null,
    (e: Error) => e,
  );
  assert.match(String(err?.message), /exited with code 1/);
  assert.match(String(err?.message), /crashing on echo/);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  const pid2 = await callText(mon.client, "pid");
  assert.notEqual(pid2, pid1);
  await mon.waitForStderr(/Restarting in \d+ ms \(crash 1 of at most/);
});

Deno.test("a slow initialize keeps requests queued until it answers", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED, "--init-delay=800"] });
  assert.match(await callText(mon.client, "pid"), /^\d+$/);
});

Deno.test("a server that never answers initialize is stopped after --init-timeout and requests get an error", async () => {
  await using mon = await startMcpmon({
    mcpmonArgs: ["--init-timeout", "500"],
    server: ["node", WELL_BEHAVED, "--never-answer=initialize"],
  });
  const err = await mon.client.listTools().then(() => null, (e: Error) => e);
  assert.match(String(err?.message), /did not answer initialize within 500 ms/);
  // The server, and its watchdog with it, are gone (a SIGKILLed process takes a moment to go).
  await waitUntil(
    () => processTree(mon.pid!).length === 1,
    5_000,
    `the unresponsive server was stopped: ${processTree(mon.pid!)}`,
  );
});

Deno.test("a server that ignores SIGTERM is SIGKILLed after the grace period on restart", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST, "--grace", "300"],
    server: ["node", fx.serverPath, "--ignore-sigterm", "--ignore-eof"],
  });
  const pid1 = Number(await callText(mon.client, "pid"));
  const mark = mon.notificationCount();
  await fx.writeTools([{ name: "hello", text: "v2" }]);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  assert.equal(processAlive(pid1), false);
  await mon.waitForStderr(/did not exit within 300 ms of SIGTERM; sending SIGKILL/);
  assert.equal(await callText(mon.client, "hello"), "v2");
});

Deno.test("a request the server never answers gets an error when the server is replaced", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST, "--grace", "300"],
    server: ["node", fx.serverPath, "--never-answer=prompts/list"],
  });
  const hanging = mon.client.listPrompts().then(() => null, (e: Error) => e);
  await callText(mon.client, "pid"); // the prompts/list request is surely in flight now
  await fx.writeTools([{ name: "hello", text: "v2" }]);
  const err = await hanging;
  assert.match(String(err?.message), /restarted/);
});

Deno.test("the client's cancellation reaches the server", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED] });
  const controller = new AbortController();
  const call = mon.client.callTool({ name: "delay", arguments: { ms: 30_000 } }, undefined, {
    signal: controller.signal,
  }).catch((e: Error) => e);
  await callText(mon.client, "pid");
  controller.abort("user cancelled");
  await call;
  await waitUntil(
    async () => JSON.parse(await callText(mon.client, "session")).cancelled.length === 1,
    5000,
    "cancel seen",
  );
});

Deno.test("a server started through a wrapper, with a grandchild of its own, leaves no process behind", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST],
    server: ["sh", WRAPPER, "--fork"],
  });
  const pid1 = Number(await callText(mon.client, "pid"));
  const [grandchild1] = JSON.parse(await callText(mon.client, "children")) as number[];
  const before = processTree(mon.pid!);
  assert.ok(before.includes(pid1) && before.includes(grandchild1));
  assert.ok(before.length >= 4, `mcpmon, sh, node, grandchild: ${before}`);

  // Restart: the whole old tree goes.
  const mark = mon.notificationCount();
  await fx.writeTools([{ name: "hello", text: "v2" }]);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  await waitUntil(
    () => before.filter((p) => p !== mon.pid).every((p) => !processAlive(p)),
    5000,
    "old tree gone",
  );

  // Exit: the new tree goes too.
  const [grandchild2] = JSON.parse(await callText(mon.client, "children")) as number[];
  const during = processTree(mon.pid!).filter((p) => p !== mon.pid);
  assert.ok(during.includes(grandchild2));
  mon.endStdin();
  assert.equal((await mon.waitForExit()).code, 0);
  await waitUntil(() => during.every((p) => !processAlive(p)), 5000, "new tree gone");
});

Deno.test("junk on the server's stdout is logged, never forwarded", async () => {
  await using raw = new RawMcpmon([], ["node", WELL_BEHAVED, "--noisy"]);
  await raw.initialize();
  const r = await raw.call("tools/call", { name: "echo", arguments: { text: "clean" } });
  assert.equal(r.result.content[0].text, "clean");
  await raw.call("ping");
  assert.deepEqual(raw.junk, [], "only JSON-RPC on mcpmon's stdout");
  assert.match(raw.stderr(), /Server starting\.\.\./);
  assert.match(raw.stderr(), /debug: handled tools\/call/);
});

Deno.test("invalid JSON gets -32700 with id null, non-JSON-RPC gets -32600, and the session goes on", async () => {
  await using raw = new RawMcpmon([], ["node", WELL_BEHAVED]);
  await raw.initialize();
  await raw.send("{not json");
  const parse = await raw.waitFor((m) => m.error?.code === -32700);
  assert.equal(parse.id, null);
  await raw.send({ id: 41, hello: "no jsonrpc field" });
  const invalid = await raw.waitFor((m) => m.error?.code === -32600);
  assert.equal(invalid.id, 41);
  await raw.send('"a string"');
  await raw.waitFor((m) => m.error?.code === -32600 && m.id === null);
  const ok = await raw.call("tools/call", { name: "echo", arguments: { text: "still here" } });
  assert.equal(ok.result.content[0].text, "still here");
  // String and number ids come back exactly as sent.
  const sid = await raw.request("ping", undefined, "7");
  const nid = await raw.request("ping", undefined, 7);
  await raw.waitFor((m) => m.id === sid && "result" in m);
  await raw.waitFor((m) => m.id === nid && "result" in m);
  assert.equal((await raw.close()).code, 0);
});

Deno.test("64 MB messages pass intact in both directions", async () => {
  await using raw = new RawMcpmon([], ["node", WELL_BEHAVED]);
  await raw.initialize();
  const bytes = 64 * 1024 * 1024;
  const big = await raw.call("tools/call", { name: "big", arguments: { bytes } }, 60_000);
  const text: string = big.result.content[0].text;
  assert.equal(new TextEncoder().encode(text).length, bytes);
  const echoed = await raw.call("tools/call", { name: "echo", arguments: { text } }, 60_000);
  assert.equal(echoed.result.content[0].text === text, true);
});

Deno.test("memory stays bounded when the client does not read (backpressure)", async () => {
  await using raw = new RawMcpmon([], ["node", WELL_BEHAVED]);
  await raw.initialize();
  await raw.call("tools/call", { name: "big", arguments: { bytes: 4 * 1024 * 1024 } });
  const baseline = rssBytes(raw.pid);
  // Ask for 256 MB of results while reading none of them.
  raw.pauseReading();
  const ids: (string | number)[] = [];
  for (let i = 0; i < 256; i++) {
    ids.push(await raw.request("tools/call", { name: "big", arguments: { bytes: 1 << 20 } }));
  }
  // Give mcpmon every chance to buffer: wait until it has grown a lot, or 3 s.
  const limit = 64 * 1024 * 1024;
  await waitUntil(() => rssBytes(raw.pid) - baseline > limit, 3000).catch(() => {});
  const grown = rssBytes(raw.pid) - baseline;
  assert.ok(grown < limit, `mcpmon grew by ${(grown / 1048576).toFixed(1)} MB without a reader`);
  // Once the client reads again, everything arrives, exactly once.
  raw.resumeReading();
  await raw.waitFor((m) => m.id === ids.at(-1) && "result" in m, 60_000, "the last big result");
  for (const id of ids) assert.equal(raw.responses.get(JSON.stringify(id))?.length, 1);
});
